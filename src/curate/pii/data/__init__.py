"""Package data of the PII detectors (see NOTICE.md): paths only, nothing is read on import."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
TLDS_TXT = HERE / "tlds.txt"
"""Top-level domain labels (lowercase, IDN ones as punycode), one per line."""
