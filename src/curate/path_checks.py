"""Paths that must not overlap: publishing an output replaces it, and a run rewrites its workdir.

So an output may not hold an input, the workdir or an index; the workdir may not hold an input;
and neither an output, a visible workdir nor an index may sit inside an input folder, where the
next run would read it as input. All checked by `curate validate`, before anything is written.
"""

from __future__ import annotations

import os
from pathlib import Path

from curate.config import RunConfig
from curate.errors import ConfigError
from curate.io.discovery import ReadTask
from curate.stages.base import StageConfig


def _inside(child: Path, parent: Path) -> bool:
    child, parent = child.resolve(), parent.resolve()
    return child == parent or parent in child.parents


def _hidden_below(path: Path, folder: Path) -> bool:
    return any(part.startswith((".", "_")) for part in path.resolve().relative_to(folder.resolve()).parts)


def _index_paths(stage_cfg: StageConfig) -> list[Path]:
    index = getattr(stage_cfg, "index", None)
    return [Path(index)] if isinstance(index, str) else []


def check_overlaps(workdir: Path, outputs: list[tuple[str, Path]], read_tasks: list[ReadTask], cfg: RunConfig) -> None:
    """Raise ConfigError for the first overlap found, naming both paths."""
    inputs = sorted({Path(f.path) for t in read_tasks for f in t.files})
    folders = [Path(p) for s in (cfg.input.sources if cfg.input else []) for p in s.paths if os.path.isdir(p)]
    indexes = [p for s in cfg.stages for p in _index_paths(s)]
    rules: list[tuple[bool, str, str]] = []
    rules += [(_inside(f, workdir), f"input: {f} is inside the workdir {workdir}, which the run rewrites",
               "copy it out, or give the step folder of another workdir") for f in inputs]
    rules += [(_inside(i, d), f"index: {i} is inside the input folder {d}; its parts would be read as input",
               "keep the index outside the input folders") for i in indexes for d in folders]
    rules += [(_inside(workdir, d) and not _hidden_below(workdir, d),
               f"workdir: {workdir} is inside the input folder {d}; its shards would be read as input",
               "put the workdir outside the input folders (or in a hidden folder such as .curate/)") for d in folders]
    for key, out in outputs:
        rules += [
            (_inside(workdir, out), f"{key}: the workdir {workdir} is inside the output {out}", "put the workdir beside the output, not in it"),
            (_inside(out, workdir), f"{key}: the output {out} is inside the workdir {workdir}", "choose an output folder outside the workdir"),
        ]
        rules += [(_inside(f, out), f"{key}: the output {out} holds the input {f}; publishing would replace it",
                   "write the output to another folder") for f in inputs]
        rules += [(_inside(out, d), f"{key}: the output {out} is inside the input folder {d}; the next run would read it as input",
                   "write the output outside the input folders") for d in folders]
        rules += [(_inside(i, out) or _inside(out, i), f"{key}: the output {out} overlaps the index {i}",
                   "keep indexes outside outputs") for i in indexes]
    for broken, message, hint in rules:
        if broken:
            raise ConfigError(message, hint=hint)
