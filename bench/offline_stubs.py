"""Stand-ins for optional host dependencies the GPU box lacks (PyAV, librosa, ...), for benchmarks only.

The host imports them at start-up for nodes a benchmark never runs; a permissive stub lets the
import chain finish. Anything that really calls into a stub fails loudly.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types


class _Anything:
    def __init__(self, name):
        self._name = name

    def __getattr__(self, item):
        return _Anything(f"{self._name}.{item}")

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"{self._name} is a benchmark stub: the real package is not installed here")

    def __getitem__(self, item):
        return _Anything(f"{self._name}[{item}]")

    def __iter__(self):
        return iter(())

    def __mro_entries__(self, bases):
        return (object,)


class _StubModule(types.ModuleType):
    def __getattr__(self, item):
        if item.startswith("__"):
            raise AttributeError(item)
        return _Anything(f"{self.__name__}.{item}")


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, names):
        self.names = set(names)

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in self.names:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def install(names=("av", "librosa", "aiohttp", "kornia", "kornia_rs", "pyloudnorm", "soundfile")) -> list[str]:
    """Stub only the names that do not import for real; returns what was stubbed."""
    missing = [n for n in names if importlib.util.find_spec(n) is None]
    if missing:
        sys.meta_path.append(_StubFinder(missing))
    return missing
