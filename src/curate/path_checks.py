"""Paths that must not overlap: publishing an output replaces it, and a run rewrites its workdir.

So an output may not hold an input, the workdir or an index; the workdir may not hold an input;
and neither an output, a visible workdir nor an index may sit inside an input folder, where the
next run would read it as input. All checked by `curate validate`, before anything is written.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from curate.config import RunConfig
from curate.errors import ConfigError
from curate.io import store
from curate.io.discovery import ReadTask
from curate.stages.base import StageConfig


def _inside(child: Path | str, parent: Path | str) -> bool:
    """Whether ``child`` is ``parent`` or below it; URLs of a store compare as prefixes (and never
    touch the local filesystem), a URL and a local path never overlap."""
    if store.is_remote(str(child)) or store.is_remote(str(parent)):
        if not (store.is_remote(str(child)) and store.is_remote(str(parent))):
            return False
        c, p = store.normalise(str(child)), store.normalise(str(parent))
        return c == p or c.startswith(p + "/")
    child, parent = Path(child).resolve(), Path(parent).resolve()
    return child == parent or parent in child.parents


def _hidden_below(path: Path | str, folder: Path | str) -> bool:
    if store.is_remote(str(path)):
        rel = store.normalise(str(path))[len(store.normalise(str(folder))) :]
        return any(part.startswith((".", "_")) for part in rel.split("/"))
    return any(part.startswith((".", "_")) for part in Path(path).resolve().relative_to(Path(folder).resolve()).parts)


def _input_folders(cfg: RunConfig, inputs: list[Path | str]) -> list[Path | str]:
    """The folders the sources name: local ones that are folders; a URL that is not a glob and
    had files below it (from the listing already made: no request, no local lookup)."""
    remote = [store.normalise(str(f)) for f in inputs if isinstance(f, str)]
    out: list[Path | str] = []
    for s in cfg.input.sources if cfg.input else []:
        for p in s.paths:
            if not store.is_remote(p):
                if os.path.isdir(p):
                    out.append(Path(p))
            elif not glob.has_magic(p) and any(f.startswith(store.normalise(p) + "/") for f in remote):
                out.append(store.normalise(p))
    return out


def _index_paths(stage_cfg: StageConfig) -> list[Path]:
    index = getattr(stage_cfg, "index", None)
    return [Path(index)] if isinstance(index, str) else []


def check_overlaps(workdir: Path, outputs: list[tuple[str, Path]], read_tasks: list[ReadTask], cfg: RunConfig) -> None:
    """Raise ConfigError for the first overlap found, naming both paths."""
    paths = sorted({f.path for t in read_tasks for f in t.files})
    inputs: list[Path | str] = [p if store.is_remote(p) else Path(p) for p in paths]
    folders = _input_folders(cfg, inputs)
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


def check_remote_overlaps(cfg: RunConfig, shards_output: str | Path | None = None) -> None:
    """:func:`check_overlaps`'s rules for URLs, checked before a run with a store replaces its URL
    workdir and outputs by local stand-ins (which the local rules then never see as overlapping).

    An output or workdir in a store may not hold an input (publishing would replace it) nor sit
    in an input prefix, unless hidden there (the next run would read it as input); an output and
    the workdir may not hold each other. String comparisons of URLs only: no request is made."""
    from curate.io.discovery import _remote_glob_base

    sources = [store.normalise(p) for s in (cfg.input.sources if cfg.input else []) for p in s.paths if store.is_remote(p)]
    inputs = [(_remote_glob_base(p)[0] if glob.has_magic(p) else p, not glob.has_magic(p)) for p in sources]
    workdir = store.normalise(cfg.workdir) if store.is_remote(cfg.workdir) else None
    outputs = [("output.path", cfg.output.path)] if cfg.output is not None else []
    outputs += [("--output", str(shards_output))] if shards_output is not None else []
    targets = [(key, store.normalise(url)) for key, url in outputs if store.is_remote(url)]
    rules: list[tuple[bool, str, str]] = []
    for key, out in targets:
        rules += [(_inside(i, out), f"{key}: the output {out} holds the input {i}; publishing would replace it",
                   "write the output to another prefix") for i, _ in inputs]
        rules += [(folder and _inside(out, i) and not _hidden_below(out, i),
                   f"{key}: the output {out} is inside the input prefix {i}; the next run would read it as input",
                   "write the output outside the input prefixes") for i, folder in inputs]
        if workdir is not None:
            rules += [(_inside(workdir, out), f"{key}: the workdir {workdir} is inside the output {out}", "put the workdir beside the output, not in it"),
                      (_inside(out, workdir), f"{key}: the output {out} is inside the workdir {workdir}", "choose an output outside the workdir")]
    if workdir is not None:
        rules += [(_inside(i, workdir), f"input: {i} is inside the workdir {workdir}, which the run rewrites",
                   "copy it out, or give the step folder of another workdir") for i, _ in inputs]
        rules += [(folder and _inside(workdir, i) and not _hidden_below(workdir, i),
                   f"workdir: {workdir} is inside the input prefix {i}; its shards would be read as input",
                   "put the workdir outside the input prefixes (or below a hidden name such as .curate/)") for i, folder in inputs]
    for broken, message, hint in rules:
        if broken:
            raise ConfigError(message, hint=hint)
