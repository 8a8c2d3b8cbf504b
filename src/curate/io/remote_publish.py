"""Publishing an output to an object store, where there is no rename: a release and a marker.

An output URL ``s3://b/out`` holds releases side by side and one marker that says which is the
output::

    s3://b/out/_release.json                 <- the commit: {"release": "release-...", ...}
    s3://b/out/release-20261207T101500Z-3f2a/  <- exactly what a local output folder holds
        _manifest.json  README.md  report.html  data/...  rejected/...

A publish uploads the new release under a prefix of its own (nothing a reader could take for the
output), checks that every file arrived at its size, and only then writes the marker: one
``PUT`` of a small object, which object stores make visible whole or not at all. Until that
write the marker names the previous release, untouched; a publish that fails or is killed
leaves only an unnamed prefix, which the next publish removes. After the commit, releases other
than the new one and the one before it are deleted (the one before stays until the next
publish, so a reader that resolved the marker just before the switch can finish).

Readers resolve the marker: ``curate`` commands do it for an input URL; elsewhere read
``_release.json`` and open ``<url>/<release>/``.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path

from curate.errors import CurateError
from curate.io import store
from curate.io.store import RELEASE_MARKER

_PREFIX = "release-"


def release_name(run_id: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{_PREFIX}{stamp}-{run_id[:8] or 'local'}"


def read_marker(url: str) -> dict | None:
    raw = store.read_bytes(store.join(url, RELEASE_MARKER))
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        data["release"]  # noqa: B018 - a marker must name its release
    except (ValueError, KeyError, TypeError):
        raise CurateError(f"{store.join(url, RELEASE_MARKER)}: damaged release marker (expected JSON with a `release` key)") from None
    return data


def is_empty(url: str) -> bool:
    return not store.list_files(url)


def publish_release(local: Path, url: str, run_id: str) -> str:
    """Upload the output folder ``local`` as a new release of ``url`` and commit it; returns its name.

    Raises CurateError (the previous release stays the output) if anything fails before the commit.
    """
    url = store.normalise(url)
    previous = read_marker(url)
    name = release_name(run_id)
    prefix = store.join(url, name)
    files = [p for p in store.walk_local(local) if not any(part.startswith(".") for part in p.relative_to(local).parts)]
    try:
        store.parallel(  # the release's own manifest last: a complete-looking release is complete
            [(store.upload, p, store.join(prefix, p.relative_to(local).as_posix())) for p in files if p.relative_to(local).as_posix() != "_manifest.json"]
        )
        if (local / "_manifest.json").is_file():
            store.upload(local / "_manifest.json", store.join(prefix, "_manifest.json"))
        arrived = {f.url[len(prefix) + 1 :]: f.size for f in store.list_files(prefix)}
        for p in files:
            rel = p.relative_to(local).as_posix()
            if arrived.get(rel) != p.stat().st_size:
                raise CurateError(f"{store.join(prefix, rel)}: uploaded {arrived.get(rel)} bytes of {p.stat().st_size}")
        marker = {
            "release": name,
            "previous": (previous or {}).get("release"),
            "run_id": run_id,
            "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "files": len(files),
        }
        store.write_bytes(store.join(url, RELEASE_MARKER), (json.dumps(marker, indent=2) + "\n").encode())
    except CurateError as err:
        raise CurateError(
            f"cannot publish {url}: {err.message}; the previous output is unchanged"
            + (f" ({previous['release']})" if previous else "")
        ) from None
    _collect_garbage(url, keep={name, (previous or {}).get("release")})
    return name


def _collect_garbage(url: str, keep: set[str | None]) -> None:
    """Remove what is neither the marker nor a kept release (older releases, failed attempts)."""
    stale = [f.url for f in store.list_files(url) if f.url[len(url) + 1 :] != RELEASE_MARKER and f.url[len(url) + 1 :].split("/", 1)[0] not in keep]
    with contextlib.suppress(CurateError):  # what is left goes at the next publish; the output is already committed
        store.parallel([(store.delete, u) for u in stale])


def download_release(url: str, local: Path) -> bool:
    """Copy the current release of ``url`` into ``local`` (emptied first); False when there is none."""
    from curate.io.shards import remove_tree

    remove_tree(local)
    release = store.current_release(url)
    if release is None:
        return False
    store.parallel([(store.download, f.url, local / f.url[len(release) + 1 :]) for f in store.list_files(release)])
    return True


def view(url: str) -> Path:
    """A local copy of what ``url`` names, for commands that read a folder (report, inspect, diff).

    An output URL gives its current release; any other prefix (a release folder, a remote
    workdir) is copied as it is. Copies live in the scratch folder and are reused while the
    store holds the same release.
    """
    from curate.io.remote_workdir import mirror_for
    from curate.io.shards import remove_tree

    url = store.normalise(url)
    source = store.current_release(url) or url
    files = store.list_files(source)
    if not files:
        from curate.errors import ConfigError

        raise ConfigError(f"{url}: nothing there (no release marker and no objects under the prefix)")
    base = mirror_for(url, "view")  # one copy per URL asked for: a new release replaces the old copy
    local = base / store.name(source)
    done = base / ".complete"
    stamp = json.dumps(sorted((f.url, f.size, f.mtime_ns) for f in files)).encode()
    if not (done.is_file() and done.read_bytes() == stamp):
        remove_tree(base)
        base.mkdir(parents=True)
        store.parallel([(store.download, f.url, local / f.url[len(source) + 1 :]) for f in files])
        done.write_bytes(stamp)
    return local
