"""What a folder curate wrote holds: its manifest, its kept data files and its rejected sets.

Every front door of ``curate report``, ``curate inspect`` and ``curate diff`` starts here. Four
kinds of folder are recognised by what they carry:

- a **release** (``curate run`` with ``output:``): ``_manifest.json`` with ``curate_dataset.layout
  == "release"``, data files per split, rejected sets under ``_rejected/``;
- a command's **shards** output (``curate dedup ... -o OUT``): ``layout == "shards"``, rejected
  sets under ``rejected/``;
- a **step** folder of a workdir (``NN_kind/``): its own ``_manifest.json``, data files when it
  holds data (``materialized``), rejected rows under ``rejected/``;
- a **workdir**: ``_run.json`` (the run manifest) and its step folders.

Anything else that is a Parquet file or a folder of Parquet files (a rejected set copied away,
say) is read as plain **files**.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.errors import ConfigError
from curate.io.shards import read_json


@dataclass
class Folder:
    """A folder curate wrote (or plain Parquet files), resolved once."""

    path: Path
    kind: str  # release, shards, step, workdir, files
    manifest: dict[str, Any]
    data_files: list[Path] = field(default_factory=list)
    rejected_files: list[Path] = field(default_factory=list)
    workdir: Path | None = None
    """The workdir whose steps a workdir or step folder belongs to (for lineage and samples)."""
    url: str | None = None
    """The object-store URL the user gave, when ``path`` is its local copy."""

    @property
    def shown(self) -> str:
        """How messages name the folder: the URL asked for, else the path."""
        return self.url or str(self.path)

    @property
    def steps(self) -> list[dict[str, Any]]:
        """The run's steps as the manifest lists them (a step folder: itself)."""
        if self.kind == "step":
            return [self.manifest] if self.manifest else []
        return list(self.manifest.get("steps") or [])


def open_folder(path: str | Path) -> Folder:
    """Resolve ``path`` to a :class:`Folder`; a clear one-line error when curate cannot read it.

    An object-store URL is read from a local copy (its current release when it is an output)."""
    from curate.io import store

    if store.is_remote(str(path)):
        from curate.io.remote_publish import view

        folder = open_folder(view(str(path)))
        folder.url = store.normalise(str(path))
        return folder
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: no such file or folder")
    if p.is_file():
        if p.suffix != ".parquet":
            raise ConfigError(f"{p}: not a Parquet file or a folder curate wrote", hint="give a release, a step folder, a workdir or a rejected set")
        return Folder(p, "files", {}, [p])
    manifest = read_json(p / "_manifest.json") or {}
    block = manifest.get("curate_dataset") or {}
    if block:
        layout = block.get("layout")
        data = [p / f for f in block.get("data_files", [])]
        rejected = [p / f for f in block.get("rejected_files", [])]
        if layout == "release":
            return Folder(p, "release", manifest, data, rejected)
        if layout == "shards":
            return Folder(p, "shards", manifest, data, rejected)
        if layout == "step":
            if block.get("materialized") is False:
                data = []
            return Folder(p, "step", manifest, data, sorted((p / "rejected").glob("*.parquet")), p.parent)
    run = read_json(p / "_run.json")
    if run is not None:
        steps = sorted(d for d in p.iterdir() if d.is_dir() and (d / "_manifest.json").is_file())
        data: list[Path] = []
        for d in reversed(steps):  # the last step that holds data: what the run ended with
            sub = read_json(d / "_manifest.json") or {}
            sub_block = sub.get("curate_dataset") or {}
            if sub_block.get("layout") == "step" and sub_block.get("materialized", True) is not False:
                data = [d / f for f in sub_block.get("data_files", [])]
                break
        rejected = [f for d in steps for f in sorted((d / "rejected").glob("*.parquet"))]
        return Folder(p, "workdir", run, data, rejected, p)
    parts = sorted(p.rglob("*.parquet"))
    if not parts:
        raise ConfigError(
            f"{p}: not a folder curate wrote (no _manifest.json or _run.json) and it holds no Parquet files",
            hint="give a release, a command's output, a step folder, a workdir or a rejected set",
        )
    return Folder(p, "files", {}, parts)
