"""Optional dependencies. Each is imported only by the feature that needs it, so without it that feature alone
refuses, with an InputError naming the node input that turned it on and the pip command that fixes it; every
node still loads."""
from __future__ import annotations

import importlib

from .errors import InputError


def missing(*modules: str) -> list[str]:
    """The modules of ``modules`` that cannot be imported here (any import failure counts)."""
    absent = []
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 - missing, or a broken install: the feature cannot run either way
            absent.append(module)
    return absent


def require(packages: dict[str, str], input_name: str, feature: str) -> None:
    """InputError(input_name) unless every module of ``packages`` (module -> PyPI package) imports."""
    absent = [packages[m] for m in missing(*packages)]
    if absent:
        names = " and ".join(absent)
        raise InputError(input_name, f"{feature} needs {names}, which could not be imported.",
                         f"Install with ComfyUI's Python: python -m pip install {' '.join(absent)} (or pip install -r "
                         "requirements.txt in this pack's folder), then restart ComfyUI.")
