"""The relay's per-message modules compiled by mypyc, used only if built from exactly the sources on disk.

`make` builds MODULES with mypyc (`tools/compile_relay.py`) into `build/mypyc/<key>/`, where the key is a hash
of the Python version and of every one of those modules' sources. `install()`, run once when `service` is
imported, computes the key of the sources as they are now and puts a finder for that one directory in front
of Python's own: a compiled module is imported from it, and from nowhere else. So a build made before a source
changed is never imported (its key is another one): until `make` builds the new key, the service runs the
pure-Python modules, which behave identically. `OMNISENSE_PURE_PYTHON=1` forces the pure modules.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Mapping, Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
BUILD_ROOT = ROOT / "build" / "mypyc"
PURE_ENV = "OMNISENSE_PURE_PYTHON"
GROUP = "omnisense_relay"
"""mypyc's shared library for the group is the top-level module `omnisense_relay__mypyc` of the build."""

MODULES = (
    "service.sip_proxy.wsframe",
    "service.sip_proxy.sip",
    "service.sip_proxy.stats",
    "service.sip_proxy.session",
    "service.sip_proxy.relay.dialogs",
    "service.sip_proxy.relay.identity",
    "service.sip_proxy.relay.core",
    "service.sip_proxy.relay.protocols",
    "service.sip_proxy.deadlines",
    "service.sip_proxy.handshake",
)


def source_path(module: str) -> Path:
    return ROOT / (module.replace(".", "/") + ".py")


def build_key(sources: Mapping[str, bytes], python: str) -> str:
    """The key of a build of `sources` (module name -> source bytes) for the interpreter `python`."""
    digest = hashlib.sha256(python.encode())
    for module in sorted(sources):
        digest.update(b"\0" + module.encode() + b"\0" + hashlib.sha256(sources[module]).digest())
    return digest.hexdigest()[:16]


def python_tag() -> str:
    """The interpreter a build is for: its extension suffix (version, ABI, platform)."""
    return importlib.machinery.EXTENSION_SUFFIXES[0]


def current_key() -> str:
    """The key of MODULES' sources as they are on disk now."""
    return build_key({m: source_path(m).read_bytes() for m in MODULES}, python_tag())


class CompiledFinder(importlib.abc.MetaPathFinder):
    """Finds MODULES and the group's shared library in one build directory, and nothing else."""

    def __init__(self, directory: Path, modules: Sequence[str] = MODULES) -> None:
        self.directory = directory
        self.names = {*modules, f"{GROUP}__mypyc"}

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname not in self.names:
            return None
        extension = self.directory / (fullname.replace(".", "/") + python_tag())
        if not extension.is_file():
            return None
        return importlib.util.spec_from_file_location(fullname, extension)


def chosen_build(env: Mapping[str, str], key: str, build_root: Path = BUILD_ROOT) -> Path | None:
    """The complete build for `key` under `build_root`, unless `env` asks for the pure modules."""
    if env.get(PURE_ENV, "") not in ("", "0"):
        return None
    directory = build_root / key
    return directory if (directory / "COMPLETE").is_file() else None


def install(env: Mapping[str, str] = os.environ) -> bool:
    """Import MODULES compiled from here on if a build of the current sources exists (and the pure modules are
    not asked for). True if so. Must run before any of MODULES is imported."""
    if any(isinstance(finder, CompiledFinder) for finder in sys.meta_path):
        return True
    try:
        directory = chosen_build(env, current_key())
    except OSError:  # a source is missing (an installed copy without them): nothing to match
        return False
    if directory is None:
        return False
    sys.meta_path.insert(0, CompiledFinder(directory))
    return True


def compiled(module: ModuleType) -> bool:
    """Whether `module` was loaded from a compiled extension rather than its source."""
    return (module.__file__ or "").endswith(python_tag())
