"""Model files shipped with curate as package data (licences in ``NOTICE.md`` beside them).

No heavy imports here: config models read these paths.
"""

from __future__ import annotations

from pathlib import Path

LID_176_FTZ = Path(__file__).with_name("lid.176.ftz")
"""fastText's lid.176.ftz (CC BY-SA 3.0): the default language-ID model, read from disk, never downloaded."""
