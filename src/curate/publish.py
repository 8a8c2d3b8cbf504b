"""Publishing an output folder as a transaction.

The new output is written completely into a staging folder beside the target (so on the
target's filesystem, and the final step is two renames, never a copy), verified, then swapped
in: target -> ``.NAME.curate-old``, staging -> target, old removed. If anything fails, the
previous output stays (or is renamed back) in place; a swap cut short by a crash is repaired
by the next run (``recover``) before it does anything else.
"""

from __future__ import annotations

import errno
import gzip
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from curate.errors import CurateError


def publish_target(path: Path) -> Path:
    """Where an output really lives: a symlinked output (to another disk, say) is published at
    the link's target, so staging shares its filesystem and the link keeps pointing at it."""
    return path.resolve() if path.is_symlink() else path


def staging_dir(target: Path) -> Path:
    return target.parent / f".{target.name}.curate-staging"


def _old_dir(target: Path) -> Path:
    return target.parent / f".{target.name}.curate-old"


def recover(target: Path) -> None:
    """Undo a swap interrupted between its two renames: the previous output goes back in place."""
    old = _old_dir(target)
    if old.is_dir():
        if not target.exists():
            os.replace(old, target)
        else:
            shutil.rmtree(old, ignore_errors=True)


def swap_in(staged: Path, target: Path) -> None:
    """Replace ``target`` by ``staged`` (both on one filesystem); on failure the old target stays."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = _old_dir(target)
    shutil.rmtree(old, ignore_errors=True)
    had_old = target.exists()
    try:
        if had_old:
            os.replace(target, old)
        os.replace(staged, target)
    except OSError as err:
        if had_old and old.exists() and not target.exists():
            os.replace(old, target)
        raise CurateError(f"cannot publish {target}: {err.strerror or err}; the previous output is unchanged") from None
    shutil.rmtree(old, ignore_errors=True)


def count_rows(path: Path) -> int:
    """Rows in a published data file, read back from the file itself (Parquet footer, or lines)."""
    name = path.name
    if name.endswith(".parquet"):
        return pq.read_metadata(path).num_rows
    if name.endswith(".gz"):
        opener = gzip.open(path, "rb")  # noqa: SIM115
    elif name.endswith(".zst"):
        import zstandard

        opener = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), read_across_frames=True)  # noqa: SIM115
    else:
        opener = open(path, "rb")  # noqa: SIM115
    n = 0
    with opener as fh:
        while block := fh.read(1 << 24):
            n += block.count(b"\n")
    return n


def space_error(err: OSError, where: Path, needed: int | None = None) -> CurateError | None:
    """A clear error for a full or read-only disk; None for other OS errors."""
    if err.errno == errno.ENOSPC:
        try:
            free = shutil.disk_usage(where if where.exists() else where.parent).free
        except OSError:
            free = -1
        need = f"; about {needed / 1e6:,.0f} MB needed" if needed else ""
        return CurateError(
            f"no space left on the device of {where} ({free / 1e6:,.0f} MB free{need})",
            hint="free some space or choose another folder, then rerun with --resume; the previous output is unchanged",
        )
    if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return CurateError(f"cannot write to {err.filename or where}: {err.strerror}", hint="choose a folder you can write to")
    return None
