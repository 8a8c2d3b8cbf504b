"""An exclusive lock on a folder (a workdir, an index), held for a run.

It is an OS file lock (``flock``) on ``<folder>/_lock``: the kernel releases it when the process
exits in any way, SIGKILL included, so a lock left by a dead process is simply taken over. The
file also records who holds it (pid, host, start time), so the second run's message names the
holder.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from curate.errors import ConfigError, CurateError


class FolderLock:
    """``with FolderLock(path, what="workdir"):`` fails at once, clearly, if another run holds it."""

    def __init__(self, folder: Path, what: str = "workdir") -> None:
        self.folder = Path(folder)
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.folder / "_lock", os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError:
            raise ConfigError(f"{self.what} {self.folder}: not writable", hint="choose a folder you can write to") from None
        except OSError as err:
            raise CurateError(f"{self.what} {self.folder}: cannot create its lock file ({err.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise CurateError(
                f"{self.what} {self.folder} is in use by another curate run ({holder})",
                hint=f"wait for it to finish, or give this run another {self.what}",
            ) from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started_at": datetime.now(UTC).isoformat(timespec="seconds")}
        self._fd = fd
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
        except OSError as err:  # a full disk: the lock holds, only the holder's name is missing
            if err.errno != errno.ENOSPC:
                self.release()
                raise CurateError(f"{self.what} {self.folder}: cannot write its lock file ({err.strerror})") from None

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "holder unknown"
    return f"pid {info.get('pid')} on {info.get('host')}, started {info.get('started_at')}"
