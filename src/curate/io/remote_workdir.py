"""A workdir on an object store: a local mirror the runner works in, pushed step by step.

The runner needs what object stores lack (atomic renames, ``flock``, random writes), so it always
works in a local folder. When ``workdir`` is a URL that folder is a mirror:

* **pull** (before the run): every object of the remote workdir that the mirror lacks, or holds
  at another size, is downloaded; a step folder whose ``_step.json`` (its fingerprint) differs
  from the remote one is emptied first. JSON files (markers, manifests) are always fetched.
* **push** (after each step commits, and at the end): the step folder's files are uploaded, the
  remote files it no longer has are deleted, and its ``_manifest.json`` goes last. The manifest is
  what ``--resume`` trusts, so a remote manifest always describes files already uploaded; a
  remote folder of another fingerprint is removed before anything of the new one is written.

So ``--resume`` on any machine reuses every step that had committed and been pushed; on the
machine that ran it, a step cut short also keeps its committed shards (they are in the mirror).

A lease object (``_lock.json``: host, pid, heartbeat) stands in for the local workdir lock. A
second run refuses while the heartbeat is fresh; a lease left by a dead process on the same
host is taken over at once, one from another host after ``LEASE_TTL_S``. Object stores have no
compare-and-swap in the clients we use, so two runs started within the same second on two hosts
could both take it: the lease protects against the common mistake (a second job on the same
workdir), not against a deliberate race.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import threading
import time
import uuid
from pathlib import Path
from types import TracebackType

from curate.errors import ConfigError
from curate.io import store

LEASE_NAME = "_lock.json"
LEASE_TTL_S = 120.0
HEARTBEAT_S = 20.0
_STEP_FOLDER = re.compile(r"^\d{2}_[a-z0-9_]+$")  # as the runner names step folders (pipeline.step_folder)
_SKIP_NAMES = {"_lock", LEASE_NAME}
"""The local flock file and the lease are the mirror's and the store's own, never copied."""


def scratch_root() -> Path:
    """Where local mirrors live: ``$CURATE_SCRATCH``, else ``~/.cache/curate/remote``."""
    env = os.environ.get("CURATE_SCRATCH")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "curate" / "remote"


def mirror_for(url: str, kind: str) -> Path:
    """The local folder that stands for ``url`` (stable across runs, so a resume finds it)."""
    url = store.normalise(url)
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in store.name(url))[:40]
    return scratch_root() / f"{kind}-{safe}-{digest}"


def _pushable(rel: Path) -> bool:
    return not any(part.startswith(".") for part in rel.parts) and rel.name not in _SKIP_NAMES


class RemoteWorkdir:
    """The mirror of one remote workdir."""

    def __init__(self, url: str, local: Path) -> None:
        self.url = store.normalise(url)
        self.local = local

    # ---------------------------------------------------------------- pull

    def pull(self, steps: bool = True) -> int:
        """Bring the mirror up to the remote state; returns the number of files downloaded.

        ``steps=False`` (a fresh run, which replaces every step it plans) fetches only the
        workdir's own files: last week's shards are not downloaded to be deleted."""
        self.local.mkdir(parents=True, exist_ok=True)
        remote = [f for f in store.list_files(self.url) if f.url != store.join(self.url, LEASE_NAME)]
        by_rel = {f.url[len(self.url) + 1 :]: f for f in remote}
        if not steps:
            by_rel = {rel: f for rel, f in by_rel.items() if not ("/" in rel and _STEP_FOLDER.match(rel.split("/", 1)[0]))}
        for rel in {r.split("/", 1)[0] for r in by_rel if "/" in r}:
            marker = by_rel.get(f"{rel}/_step.json")
            local_marker = self.local / rel / "_step.json"
            if marker is not None and local_marker.is_file() and store.read_bytes(marker.url) != local_marker.read_bytes():
                from curate.io.shards import remove_tree

                remove_tree(self.local / rel)
        calls = []
        for rel, f in sorted(by_rel.items()):
            dest = self.local / rel
            if rel.endswith(".json") or not dest.is_file() or dest.stat().st_size != f.size:
                calls.append((store.download, f.url, dest))
        store.parallel(calls)
        return len(calls)

    # ---------------------------------------------------------------- push

    def push_folder(self, folder: Path) -> None:
        """Upload one step folder (its manifest last) and drop what it no longer holds remotely."""
        rel_folder = folder.relative_to(self.local).as_posix()
        remote_folder = store.join(self.url, rel_folder)
        remote = {f.url[len(remote_folder) + 1 :]: f for f in store.list_files(remote_folder)}
        local = {
            p.relative_to(folder).as_posix(): p
            for p in store.walk_local(folder)
            if _pushable(p.relative_to(folder))
        }
        marker = folder / "_step.json"
        remote_marker = store.read_bytes(store.join(remote_folder, "_step.json")) if "_step.json" in remote else None
        if remote_marker is not None and marker.is_file() and remote_marker != marker.read_bytes():
            store.delete_prefix(remote_folder)  # another fingerprint's folder: nothing of it may stay
            remote = {}
        manifest = local.pop("_manifest.json", None)
        if "_manifest.json" in remote and (manifest is None or manifest.stat().st_size != remote["_manifest.json"].size or
                                            store.read_bytes(remote["_manifest.json"].url) != manifest.read_bytes()):
            store.delete(remote.pop("_manifest.json").url)  # the old commit goes before the files change
        calls: list[tuple] = []
        for rel, path in local.items():
            have = remote.get(rel)
            if have is None or have.size != path.stat().st_size or rel.endswith(".json"):
                calls.append((store.upload, path, store.join(remote_folder, rel)))
        calls += [(store.delete, f.url) for rel, f in remote.items() if rel not in local and rel != "_manifest.json"]
        store.parallel(calls)
        if manifest is not None and ("_manifest.json" not in remote):
            store.upload(manifest, store.join(remote_folder, "_manifest.json"))

    def push_all(self) -> None:
        """Every step folder, then the workdir's own files (run manifest, reports, logs)."""
        remote_top = {f.url[len(self.url) + 1 :].split("/", 1)[0] for f in store.list_files(self.url)}
        local_steps = []
        for p in sorted(self.local.iterdir()):
            if p.is_dir() and _STEP_FOLDER.match(p.name):
                local_steps.append(p.name)
                self.push_folder(p)
        for name in sorted(remote_top):
            if _STEP_FOLDER.match(name) and name not in local_steps:
                store.delete_prefix(store.join(self.url, name))  # a step of another plan, gone locally too
        calls = []
        for p in store.walk_local(self.local):
            rel = p.relative_to(self.local)
            if rel.parts and _STEP_FOLDER.match(rel.parts[0]) and len(rel.parts) > 1:
                continue
            if _pushable(rel):
                calls.append((store.upload, p, store.join(self.url, rel.as_posix())))
        store.parallel(calls)


class Lease:
    """``with Lease(url):`` holds the remote workdir for this run (see the module docstring)."""

    def __init__(self, url: str) -> None:
        self.url = store.join(url, LEASE_NAME)
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _record(self) -> bytes:
        return json.dumps(
            {"host": socket.gethostname(), "pid": os.getpid(), "token": self.token, "heartbeat": time.time()}
        ).encode()

    def acquire(self) -> None:
        raw = store.read_bytes(self.url)
        if raw is not None:
            try:
                held = json.loads(raw)
                age = time.time() - float(held.get("heartbeat", 0))
            except (ValueError, TypeError):
                held, age = {}, LEASE_TTL_S + 1
            dead_here = held.get("host") == socket.gethostname() and not _alive(int(held.get("pid", 0) or 0))
            if age < LEASE_TTL_S and not dead_here:
                raise ConfigError(
                    f"workdir {store.parent(self.url)} is in use by pid {held.get('pid')} on {held.get('host')} "
                    f"(heartbeat {age:.0f} s ago)",
                    hint=f"wait for that run to finish; if it died on another machine its lease expires {LEASE_TTL_S:.0f} s "
                    f"after its last heartbeat (or delete {self.url})",
                )
        store.write_bytes(self.url, self._record())
        time.sleep(0.05)
        mine = store.read_bytes(self.url)
        if mine is None or json.loads(mine).get("token") != self.token:
            raise ConfigError(f"workdir {store.parent(self.url)} was taken by another run at the same moment")
        self._thread = threading.Thread(target=self._beat, name="curate-lease", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with contextlib.suppress(Exception):  # a missed beat is retried; the run is not stopped for it
                store.write_bytes(self.url, self._record())

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with contextlib.suppress(Exception):
            raw = store.read_bytes(self.url)
            if raw is not None and json.loads(raw).get("token") == self.token:
                store.delete(self.url)

    def __enter__(self) -> Lease:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
