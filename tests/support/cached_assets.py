"""Registry files the tests need but the pack does not ship, provisioned by `.ci/run` into a cache.

resemblyzer 0.1.4 (PyPI) is the reference our voice encoder is checked against, and its wheel carries the
real weights (`resemblyzer/pretrained.pt`). `.ci/run` downloads the wheel without dependencies and extracts
the `resemblyzer/` folder to `<cache>/resemblyzer-0.1.4/`; `conftest.py` puts that folder on `sys.path`
(after everything installed), so the pack finds the weights the way it finds them in an installed
resemblyzer, and the parity tests can import the reference.

Outside CI a missing file skips the tests that need it, saying how to get it; with MTS_TEST_ASSETS_REQUIRED=1
(which `.ci/run` sets) it fails them instead: CI never skips for a file a registry provides.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

RESEMBLYZER = "resemblyzer-0.1.4"
HOW = "run .ci/run once (it caches resemblyzer 0.1.4 from PyPI) or pip install resemblyzer==0.1.4 --no-deps"


def cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "multitalk-studio-tests"
    return Path(os.environ.get("MTS_TEST_CACHE") or default).expanduser()


def resemblyzer_root() -> Path | None:
    """The folder holding the cached `resemblyzer/` package, when it is there."""
    root = cache_dir() / RESEMBLYZER
    return root if (root / "resemblyzer" / "pretrained.pt").is_file() else None


def required() -> bool:
    return os.environ.get("MTS_TEST_ASSETS_REQUIRED", "") not in ("", "0")


def missing(what: str) -> None:
    """Skip (or, in CI, fail) a test whose registry-provided file is absent."""
    message = f"{what} is not available here: {HOW}"
    if required():
        pytest.fail(f"MTS_TEST_ASSETS_REQUIRED is set but {message}", pytrace=False)
    pytest.skip(message)
