"""Object-store URLs (s3://, gs://, az://...): recognised and refused with a clear message.

Inputs, the workdir and the output are local folders today: the runner's atomic publish renames
folders and its lock uses flock, neither of which an object store has. Until a store-aware
publish exists, a URL is refused where it is given instead of being taken for a local path
(``s3://b/out`` once became a local folder ``s3:/b/out``).
"""

from __future__ import annotations

import re

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://?")


def url_scheme(path: str) -> str | None:
    """The scheme of a URL such as ``s3://bucket/key`` (``s3:/bucket`` too, as pathlib leaves it), else None.

    A one-letter scheme is a Windows drive (``C:/data``), not a URL."""
    m = _URL.match(path)
    if m is None or len(m.group(1)) == 1 or (m.group(0).count("/") == 1 and not path.startswith(m.group(1) + ":/")):
        return None
    return m.group(1).lower()


def remote_message(path: str) -> str | None:
    """Why ``path`` cannot be used (an object-store or other URL), or None for a local path."""
    scheme = url_scheme(path)
    if scheme is None or scheme == "file":
        return None
    return (
        f"{path!r} is a {scheme}:// URL; object storage is not supported yet: inputs, workdir and output "
        "must be local folders (copy the data first, e.g. `aws s3 sync`, `gcloud storage cp -r`)"
    )
