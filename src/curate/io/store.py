"""Object stores (s3://, gs://, az://, and what fsspec knows) behind one small API.

Everything curate does with a store goes through here, so the rest of the code sees two kinds
of path: a local one (``str``/``Path``) and a URL that :func:`is_remote` recognises. Stores are
reached through pyarrow's own clients (S3, GCS, Azure: no extra dependency) or, for any other
scheme, through an installed fsspec implementation.

Credentials come from each client's usual chain (environment variables, config and profile
files, instance metadata) and never from the URL: a URL with ``user:secret@`` in it is refused,
because paths are written to manifests, logs and cards. S3-compatible servers (MinIO, Ceph,
a local test server) are named by the standard ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``
variables, which pyarrow itself does not read.
"""

from __future__ import annotations

import functools
import os
import shutil
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from curate.errors import ConfigError, CurateError
from curate.io.remote import url_scheme

_PYARROW_SCHEMES = {"s3": "s3", "s3a": "s3", "gs": "gs", "gcs": "gs", "az": "abfs", "abfs": "abfs", "abfss": "abfs"}


def is_remote(path: str | os.PathLike[str]) -> bool:
    """True for an object-store URL (``s3://b/k``); False for local paths and ``file://``."""
    scheme = url_scheme(str(path))
    return scheme is not None and scheme != "file"


def normalise(url: str) -> str:
    """``s3:/b/k`` (what pathlib makes of ``s3://b/k``) back to ``s3://b/k``; no trailing slash."""
    scheme = url_scheme(url)
    if scheme is None:
        return url
    rest = url.split(":", 1)[1].lstrip("/")
    return f"{scheme}://{rest}".rstrip("/")


def join(url: str, *parts: str) -> str:
    """``join("s3://b/out", "data", "x.parquet")`` -> ``s3://b/out/data/x.parquet``."""
    out = normalise(url)
    for p in parts:
        p = p.strip("/")
        if p:
            out = f"{out}/{p}"
    return out


def parent(url: str) -> str:
    u = normalise(url)
    head, _, _ = u.rpartition("/")
    return head if "://" in head and not head.endswith(":/") else u


def name(url: str) -> str:
    return normalise(url).rsplit("/", 1)[-1]


def check_url(url: str, where: str) -> None:
    """Refuse a URL that carries credentials or names no bucket, naming the key it came from."""
    parsed = urllib.parse.urlsplit(normalise(url))
    azure = parsed.scheme in ("az", "abfs", "abfss")  # abfs://CONTAINER@ACCOUNT.dfs.core.windows.net names no secret
    if parsed.password or ("@" in parsed.netloc and not azure):
        raise ConfigError(
            f"{where}: {parsed.scheme}://...@{parsed.hostname or ''}: credentials in a URL are refused (paths are written to manifests and logs)",
            hint="give them through the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, GOOGLE_APPLICATION_CREDENTIALS, ...) or the client's profile files",
        )
    if "=" in parsed.query or parsed.fragment:  # a bare "?" is a glob's one-character wildcard
        bare = f"{parsed.scheme}://{parsed.netloc}{parsed.path}"
        raise ConfigError(
            f"{where}: {bare}?...: a URL with a query string is refused (it could carry a key, and paths are written to manifests and logs)",
            hint="give options and credentials through the environment or the client's profile files",
        )
    if not parsed.netloc:
        raise ConfigError(f"{where}: {url!r} names no bucket", hint=f"write {parsed.scheme}://BUCKET/PREFIX")


@dataclass(frozen=True)
class Location:
    """A URL resolved to a filesystem and the path that filesystem expects."""

    fs: Any  # pyarrow.fs.FileSystem
    path: str
    url: str


@functools.lru_cache(maxsize=32)
def _filesystem(scheme: str, netloc: str) -> Any:
    import pyarrow.fs as pafs

    kind = _PYARROW_SCHEMES.get(scheme)
    try:
        if kind == "s3":
            return pafs.S3FileSystem(**_s3_options())
        if kind == "gs":
            return pafs.GcsFileSystem()
        if kind == "abfs":
            account = os.environ.get("AZURE_STORAGE_ACCOUNT_NAME") or os.environ.get("AZURE_STORAGE_ACCOUNT")
            if "@" in netloc:  # abfs://container@account.dfs.core.windows.net/...
                account = netloc.split("@", 1)[1].split(".", 1)[0]
            if not account:
                raise ConfigError(
                    f"{scheme}:// needs a storage account", hint="set AZURE_STORAGE_ACCOUNT_NAME, or write abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH"
                )
            return pafs.AzureFileSystem(account_name=account)
        import fsspec
        from pyarrow.fs import FSSpecHandler, PyFileSystem

        return PyFileSystem(FSSpecHandler(fsspec.filesystem(scheme)))
    except ConfigError:
        raise
    except (ImportError, ValueError) as err:
        raise ConfigError(
            f"{scheme}:// is not a store this installation can reach ({_one_line(err)})",
            hint="s3://, gs:// and az:// work out of the box; other schemes need their fsspec package (e.g. `pip install adlfs`)",
        ) from None


def _s3_options() -> dict[str, Any]:
    opts: dict[str, Any] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        parsed = urllib.parse.urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        opts["endpoint_override"] = parsed.hostname + (f":{parsed.port}" if parsed.port else "") if parsed.hostname else parsed.netloc
        opts["scheme"] = parsed.scheme or "https"
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        opts["region"] = region
    elif endpoint:
        opts["region"] = "us-east-1"  # S3-compatible servers ignore it; avoids a region lookup
    return opts


def locate(url: str) -> Location:
    """The filesystem and path of ``url`` (which :func:`is_remote` accepted)."""
    check_url(url, "URL")  # every way into a store, commands that read one included
    u = normalise(url)
    parsed = urllib.parse.urlsplit(u)
    fs = _filesystem(parsed.scheme.lower(), parsed.netloc)
    netloc = parsed.netloc.split("@", 1)[0] if "@" in parsed.netloc else parsed.netloc
    path = f"{netloc}{parsed.path}".rstrip("/")
    return Location(fs, path, u)


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def store_error(url: str, err: BaseException, doing: str) -> CurateError:
    """A clear one-line error for a failed store call (the client's messages run to paragraphs)."""
    return CurateError(f"{doing} {normalise(url)}: {_one_line(err)}")


def check_bucket(url: str, where: str) -> None:
    """Before any work: the store answers and the bucket exists (S3, GCS, Azure), else a
    ConfigError naming the key, the URL and the endpoint (never a credential)."""
    import pyarrow.fs as pafs

    if urllib.parse.urlsplit(normalise(url)).scheme not in _PYARROW_SCHEMES:
        return  # fsspec stores without buckets (memory://, file-like ones)
    loc = locate(url)
    bucket = loc.path.split("/", 1)[0]
    endpoint = _s3_options().get("endpoint_override") if _PYARROW_SCHEMES[urllib.parse.urlsplit(loc.url).scheme] == "s3" else None
    via = f" (endpoint {endpoint})" if endpoint else ""
    try:
        found = loc.fs.get_file_info(bucket).type != pafs.FileType.NotFound
    except OSError as err:
        raise ConfigError(
            f"{where}: cannot reach the store for {loc.url}{via}: {_one_line(err)}",
            hint="check the network, the endpoint (AWS_ENDPOINT_URL) and the credentials in the environment",
        ) from None
    if not found:
        raise ConfigError(
            f"{where}: the bucket {bucket!r} of {loc.url} does not exist{via} (or these credentials cannot see it)",
            hint="create it first, or fix the bucket name",
        )


# ------------------------------------------------------------------ reading


@dataclass(frozen=True)
class RemoteFile:
    url: str
    size: int
    mtime_ns: int


def info(url: str) -> RemoteFile | None:
    """Size and modification time of one object, or None when there is none."""
    import pyarrow.fs as pafs

    loc = locate(url)
    try:
        fi = loc.fs.get_file_info(loc.path)
    except OSError as err:
        raise store_error(url, err, "cannot reach") from None
    if fi.type != pafs.FileType.File:
        return None
    mtime = int(fi.mtime_ns) if fi.mtime_ns is not None else 0
    return RemoteFile(loc.url, int(fi.size or 0), mtime)


def is_dir(url: str) -> bool:
    import pyarrow.fs as pafs

    loc = locate(url)
    try:
        fi = loc.fs.get_file_info(loc.path)
    except OSError as err:
        raise store_error(url, err, "cannot reach") from None
    return fi.type == pafs.FileType.Directory


def list_files(url: str) -> list[RemoteFile]:
    """Every object under the prefix ``url`` (recursively), sorted by URL; [] for none."""
    import pyarrow.fs as pafs

    loc = locate(url)
    try:
        infos = loc.fs.get_file_info(pafs.FileSelector(loc.path, recursive=True, allow_not_found=True))
    except OSError as err:
        raise store_error(url, err, "cannot list") from None
    root = normalise(url)
    out = []
    for fi in infos:
        if fi.type != pafs.FileType.File:
            continue
        rel = fi.path.lstrip("/")[len(loc.path.lstrip("/")) :].lstrip("/")  # fsspec's memory:// lists "/bucket/..."
        out.append(RemoteFile(join(root, rel), int(fi.size or 0), int(fi.mtime_ns or 0)))
    return sorted(out, key=lambda f: f.url)


def open_input(url: str) -> BinaryIO:
    """A seekable binary reader over one object (``read``, ``seek``, ``tell``, ``close``)."""
    loc = locate(url)
    try:
        return loc.fs.open_input_file(loc.path)
    except FileNotFoundError:
        raise
    except OSError as err:
        raise store_error(url, err, "cannot open") from None


def read_bytes(url: str) -> bytes | None:
    """The whole object, or None when it does not exist (small files: manifests, markers)."""
    loc = locate(url)
    try:
        with loc.fs.open_input_stream(loc.path, compression=None) as fh:
            return fh.read()
    except FileNotFoundError:
        return None
    except OSError as err:
        if "not exist" in str(err).lower() or "NoSuchKey" in str(err) or "404" in str(err):
            return None
        raise store_error(url, err, "cannot read") from None


# ------------------------------------------------------------------ writing


def write_bytes(url: str, data: bytes) -> None:
    """One object written in one request: on S3, GCS and Azure it appears whole or not at all."""
    loc = locate(url)
    try:
        with loc.fs.open_output_stream(loc.path, compression=None) as fh:
            fh.write(data)
    except OSError as err:
        raise store_error(url, err, "cannot write") from None


def upload(local: Path, url: str) -> None:
    """Copy one local file to ``url`` (streamed; multipart on S3 for large files)."""
    loc = locate(url)
    try:
        with open(local, "rb") as src, loc.fs.open_output_stream(loc.path, compression=None) as dst:
            shutil.copyfileobj(src, dst, 8 << 20)
    except OSError as err:
        raise store_error(url, err, "cannot upload to") from None


def download(url: str, local: Path) -> None:
    """Copy one object to ``local`` through a temporary name beside it (never half a file)."""
    loc = locate(url)
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = local.with_name(f".{local.name}.download")
    try:
        with loc.fs.open_input_stream(loc.path, compression=None) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 8 << 20)
        os.replace(tmp, local)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise store_error(url, err, "cannot download") from None


def delete(url: str) -> None:
    loc = locate(url)
    try:
        loc.fs.delete_file(loc.path)
    except FileNotFoundError:
        pass
    except OSError as err:
        if "not exist" not in str(err).lower() and "404" not in str(err):
            raise store_error(url, err, "cannot delete") from None


def delete_prefix(url: str) -> None:
    """Remove every object under ``url`` (a "folder")."""
    for f in list_files(url):
        delete(f.url)
    loc = locate(url)
    import contextlib

    with contextlib.suppress(OSError):  # directory markers some clients leave
        loc.fs.delete_dir(loc.path)


def walk_local(folder: Path) -> Iterator[Path]:
    """Every file under ``folder``, sorted, relative paths first-level files first."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    yield from sorted(files, key=lambda p: (len(p.relative_to(folder).parts), str(p)))


# ------------------------------------------------------------------ releases on a store

RELEASE_MARKER = "_release.json"
"""At an output URL, the commit of a publish: names the release folder that is the output now."""


def current_release(url: str) -> str | None:
    """The URL of the release folder the marker at ``url`` names, or None (not a published output)."""
    import json

    raw = read_bytes(join(url, RELEASE_MARKER))
    if raw is None:
        return None
    try:
        release = json.loads(raw)["release"]
    except (ValueError, KeyError, TypeError):
        raise CurateError(f"{join(url, RELEASE_MARKER)}: damaged release marker (expected JSON with a `release` key)") from None
    return join(url, release)


TRANSFER_THREADS = 8
"""Object stores answer each request in tens of milliseconds: files go up and down in parallel."""


def parallel(calls: list[tuple[Any, ...]]) -> None:
    """Run ``fn(*args)`` for each ``(fn, *args)`` on a few threads (the clients release the GIL);
    the first error is raised after the others have finished."""
    if len(calls) <= 1:
        for fn, *args in calls:
            fn(*args)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(TRANSFER_THREADS, len(calls)), thread_name_prefix="curate-store") as pool:
        futures = [pool.submit(fn, *args) for fn, *args in calls]
    for fut in futures:
        fut.result()
