"""A run whose workdir or output is an object-store URL: local stand-ins, then push and publish.

The runner never sees a URL for its workdir or output. Before the plan is built, each URL is
replaced by a local folder under :func:`curate.io.remote_workdir.scratch_root`:

* a remote ``workdir`` by its mirror (lease taken, remote state pulled); each step is pushed as
  it commits, and the whole workdir at the end, failed runs included (so ``--resume`` works
  from any machine);
* a remote output (``output.path`` of ``curate run``, or ``-o`` of a single command) by a local
  folder holding the current release (so the report's diff and the gates see the previous
  release). After the run, if the runner published something new there, it is uploaded as a
  new release and committed by the marker (:mod:`curate.io.remote_publish`).

A single command with a remote ``-o`` keeps its workdir in the local scratch (a resume works on
the same machine); set ``workdir`` in a config to an URL to resume anywhere.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.errors import ConfigError
from curate.io import store
from curate.io.remote_publish import download_release, is_empty, publish_release, read_marker
from curate.io.remote_workdir import Lease, RemoteWorkdir, mirror_for
from curate.io.shards import remove_tree


@dataclass
class RemoteOutput:
    url: str
    local: Path
    before: bytes | None = None
    """The local release's manifest before the run: unchanged after it means nothing new to publish."""
    published: str | None = None


@dataclass
class RemoteRun:
    cfg: Any
    shards_output: Path | None
    workdir: RemoteWorkdir | None = None
    outputs: list[RemoteOutput] = field(default_factory=list)
    lease: Lease | None = None
    config_hash: str = ""

    # ------------------------------------------------------------ set-up

    @classmethod
    def prepare(cls, cfg: Any, shards_output: Path | None, resume: bool, overwrite: bool = False) -> RemoteRun | None:
        """Local stand-ins for every URL in ``cfg`` (and the single command's ``-o``), or None."""
        from curate.path_checks import check_remote_overlaps

        check_remote_overlaps(cfg, shards_output)  # on the URLs: the local stand-ins never overlap
        wd_remote = store.is_remote(cfg.workdir)
        out_remote = cfg.output is not None and store.is_remote(cfg.output.path)
        shards_remote = shards_output is not None and store.is_remote(str(shards_output))
        if not (wd_remote or out_remote or shards_remote):
            return None
        run = cls(cfg, shards_output, config_hash=cfg.fingerprint())
        update: dict[str, Any] = {}
        if wd_remote:
            store.check_bucket(cfg.workdir, "workdir")  # before any work: not a failed upload at the end
            run.workdir = RemoteWorkdir(cfg.workdir, mirror_for(cfg.workdir, "workdir"))
            update["workdir"] = str(run.workdir.local)
        if out_remote:
            out = run._output(cfg.output.path, "output.path", cfg.output.overwrite, resume, "set `output.overwrite: true` (or pass --overwrite)")
            update["output"] = cfg.output.model_copy(update={"path": str(out.local), "overwrite": True})
        if shards_remote:
            out = run._output(str(shards_output), "--output", overwrite, resume, "pass --overwrite")
            run.shards_output = out.local
        run.cfg = cfg.model_copy(update=update)
        return run

    def _output(self, url: str, key: str, overwrite: bool, resume: bool, how: str) -> RemoteOutput:
        """Check an output URL may be written (empty, or ours to replace) and give it a local stand-in."""
        url = store.normalise(url)
        store.check_url(url, key)
        store.check_bucket(url, key)
        marker = read_marker(url)
        if not is_empty(url) and not overwrite:
            if marker is None or not resume:
                raise ConfigError(f"{key}: {url} is not empty", hint=f"choose an empty prefix, or {how}")
            release = json.loads(store.read_bytes(store.join(url, marker["release"], "_manifest.json")) or b"{}")
            if release.get("config_hash") not in (None, self.config_hash):
                raise ConfigError(  # as for a local output: a resume never replaces another config's release
                    f"{key}: {url} holds a release of another config (config hash {release.get('config_hash')}, "
                    f"this config {self.config_hash}); --resume does not replace it",
                    hint=how,
                )
        out = RemoteOutput(url, mirror_for(url, "output") / "release")
        self.outputs.append(out)
        return out

    def display(self, text: str) -> str:
        """``text`` with each local stand-in named by its URL (messages, the plan, the report line)."""
        pairs = [(str(o.local), o.url) for o in self.outputs]
        if self.workdir is not None:
            pairs.append((str(self.workdir.local), self.workdir.url))
        for local, url in pairs:
            text = text.replace(local, url)
        return text

    def start(self, pull_steps: bool = True) -> None:
        """Take the workdir's lease, pull its state (its step folders only when the run may reuse
        them), and lay out the outputs' current releases."""
        if self.workdir is not None:
            self.lease = Lease(self.workdir.url)
            self.lease.acquire()
            try:
                self.workdir.pull(steps=pull_steps)
            except BaseException:
                self.lease.release()
                raise
        for out in self.outputs:
            download_release(out.url, out.local)
            manifest = out.local / "_manifest.json"
            out.before = manifest.read_bytes() if manifest.is_file() else None

    # ------------------------------------------------------------ during and after

    def on_commit(self, folder: Path) -> None:
        """The runner committed a step folder: push it (the remote workdir may resume from it)."""
        if self.workdir is not None and folder.is_relative_to(self.workdir.local):
            self.workdir.push_folder(folder)

    def finish(self, run_id: str) -> None:
        """After a successful run: push the workdir, then publish each output that changed."""
        if self.workdir is not None:
            self.workdir.push_all()
        for out in self.outputs:
            manifest = out.local / "_manifest.json"
            now = manifest.read_bytes() if manifest.is_file() else None
            if now is not None and now != out.before:
                out.published = publish_release(out.local, out.url, run_id)
            remove_tree(out.local.parent)  # the store holds it now; the next run downloads what it needs

    def abort(self) -> None:
        """After a failure: push what committed (best effort), publish nothing."""
        if self.workdir is not None:
            with contextlib.suppress(Exception):
                self.workdir.push_all()

    def close(self) -> None:
        if self.lease is not None:
            self.lease.release()
            self.lease = None
