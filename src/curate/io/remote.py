"""Which strings are URLs (``s3://bucket/key``, also ``s3:/bucket/key`` as pathlib leaves it).

Inputs, workdirs and outputs may be URLs (:mod:`curate.io.store`); telling a URL from a local
path first keeps one from being taken for the other (``s3://b/out`` once became a local folder
``s3:/b/out``).
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
