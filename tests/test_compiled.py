"""service/compiled.py: the relay's modules compiled by mypyc where a C compiler exists, never a stale build.

`make test` runs this file twice: once as the service runs (compiled where it can be), once with
OMNISENSE_PURE_PYTHON=1 beside the relay's fast tests (the pure fallback).
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import service
from devstack import compile as compile_relay
from service import compiled

PURE = os.environ.get(compiled.PURE_ENV, "") not in ("", "0")


def test_the_relays_modules_are_compiled_exactly_where_they_should_be() -> None:
    modules = [importlib.import_module(name) for name in compiled.MODULES]
    if PURE:
        assert service.COMPILED is False
        assert [m.__file__ for m in modules] == [str(compiled.source_path(m.__name__)) for m in modules]
    elif compile_relay.c_compiler() is not None:
        # `make` builds them wherever a C compiler exists: a missing build is a failure, not a silent fallback.
        assert service.COMPILED is True, f"no build for these sources: run `make` ({compiled.BUILD_ROOT})"
        assert all(compiled.compiled(m) for m in modules), [m.__file__ for m in modules]
    else:
        assert not any(compiled.compiled(m) for m in modules)


def test_the_key_changes_with_any_source_and_with_the_interpreter() -> None:
    sources = {"a": b"x = 1\n", "b": b"y = 2\n"}
    key = compiled.build_key(sources, ".cpython-311-x86_64-linux-gnu.so")
    assert key == compiled.build_key(dict(reversed(sources.items())), ".cpython-311-x86_64-linux-gnu.so")
    assert key != compiled.build_key({**sources, "b": b"y = 3\n"}, ".cpython-311-x86_64-linux-gnu.so")
    assert key != compiled.build_key(sources, ".cpython-312-x86_64-linux-gnu.so")
    # A module's bytes cannot be moved into another's name unnoticed.
    assert key != compiled.build_key({"a": b"x = 1\ny = 2\n", "b": b""}, ".cpython-311-x86_64-linux-gnu.so")


def test_only_a_complete_build_of_the_current_key_is_chosen(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "COMPLETE").write_text("old\n")
    (tmp_path / "half").mkdir()
    assert compiled.chosen_build({}, "new", tmp_path) is None
    assert compiled.chosen_build({}, "half", tmp_path) is None
    assert compiled.chosen_build({}, "old", tmp_path) == tmp_path / "old"
    assert compiled.chosen_build({compiled.PURE_ENV: "1"}, "old", tmp_path) is None
    assert compiled.chosen_build({compiled.PURE_ENV: "0"}, "old", tmp_path) == tmp_path / "old"


def imported_from(checkout: Path, module: str, env: dict[str, str] | None = None) -> str:
    """The file `module` is imported from in a fresh interpreter working in `checkout`."""
    done = subprocess.run([sys.executable, "-c", f"import {module} as m; print(m.__file__)"], cwd=checkout,
                          env={**os.environ, "PYTHONPATH": str(checkout), **(env or {})}, capture_output=True,
                          text=True, check=True)
    return done.stdout.strip()


def test_a_build_is_never_imported_once_a_source_has_changed(tmp_path: Path) -> None:
    """A copy of the service with this checkout's build: compiled as it is; pure once one source changes."""
    if PURE or not service.COMPILED:
        assert compiled.chosen_build({compiled.PURE_ENV: "1"}, compiled.current_key()) is None
        return
    key = compiled.current_key()
    shutil.copytree(compiled.ROOT / "service", tmp_path / "service", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(compiled.BUILD_ROOT / key, tmp_path / "build" / "mypyc" / key)
    assert imported_from(tmp_path, "service.sip_proxy.relay.core").endswith(compiled.python_tag())
    assert imported_from(tmp_path, "service.sip_proxy.relay.core", {compiled.PURE_ENV: "1"}).endswith("core.py")
    stats = tmp_path / "service" / "sip_proxy" / "stats.py"
    stats.write_text(stats.read_text() + "\n# changed after the build\n")
    # Every module is then pure, not only the one that changed: the compiled ones call each other natively.
    assert imported_from(tmp_path, "service.sip_proxy.relay.core") == str(
        tmp_path / "service" / "sip_proxy" / "relay" / "core.py")
    assert imported_from(tmp_path, "service.sip_proxy.wsframe").endswith("wsframe.py")
