"""Builds the compiled extensions (dedup, quality-signal, fastText prediction, augment and n-gram LM kernels); everything else is in pyproject.toml."""

from setuptools import Extension, setup

_FLAGS = ["-O3", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"]

setup(
    ext_modules=[
        Extension(f"curate.{name}._native", [f"src/curate/{name}/_native.c"], extra_compile_args=_FLAGS)
        for name in ("dedup", "quality", "augment", "select")
    ]
    # fastText's answers bit for bit need its exact float operations: no fused multiply-adds.
    + [
        Extension(
            "curate.quality._ftpredict",
            ["src/curate/quality/_ftpredict.c"],
            extra_compile_args=[*_FLAGS, "-ffp-contract=off"],
        )
    ]
)
