"""python -m devstack.compile: build the relay's per-message modules with mypyc (`make` runs it).

The build goes to `build/mypyc/<key>/` (service/compiled.py: the key hashes the sources and the interpreter),
made in a temporary directory and renamed into place once complete, so a half-made build is never seen. A
build whose key is already there is not made again; older keys are removed. Without a C compiler, nothing is
built and the service runs the pure-Python modules.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
import tempfile
import time
import warnings
from pathlib import Path

from service import compiled

from . import install


def c_compiler() -> str | None:
    """The compiler the interpreter was built with (what setuptools calls), or `cc`."""
    configured = (sysconfig.get_config_var("CC") or "cc").split()
    return shutil.which(configured[0] if configured else "cc")


def python_headers() -> None:
    """Python.h for the interpreter that builds (Debian's python3-dev for Debian's own Python)."""
    header = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not header.exists() and str(header).startswith("/usr/include/"):
        install.ensure_packages({str(header): [f"python{sys.version_info.major}.{sys.version_info.minor}-dev"]})


def build(key: str, into: Path) -> None:
    """Compile the modules into `into` (a build-lib tree: service/sip_proxy/*.so and the group's library)."""
    from mypyc.build import mypycify
    from setuptools import setup  # type: ignore[import-untyped]

    # setuptools reads pyproject.toml's [tool.setuptools] from the working directory and warns it is "beta".
    warnings.filterwarnings("ignore", module="setuptools")

    paths = [str(compiled.source_path(m).relative_to(compiled.ROOT)) for m in compiled.MODULES]
    work = into / "work"
    setup(name=f"{compiled.GROUP}-{key}", py_modules=[],
          ext_modules=mypycify(paths, group_name=compiled.GROUP, target_dir=str(work / "c")),
          script_args=["-q", "build_ext", "--build-lib", str(into), "--build-temp", str(work / "temp")])
    shutil.rmtree(work)


def main() -> int:
    key = compiled.current_key()
    target = compiled.BUILD_ROOT / key
    if (target / "COMPLETE").is_file():
        return 0
    if c_compiler() is None:
        print("devstack.compile: no C compiler: the relay runs its pure-Python modules", flush=True)
        return 0
    python_headers()
    compiled.BUILD_ROOT.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    temporary = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=compiled.BUILD_ROOT))
    try:
        cwd = os.getcwd()
        os.chdir(compiled.ROOT)  # mypyc names the modules from paths relative to the package root
        try:
            build(key, temporary)
        finally:
            os.chdir(cwd)
        if compiled.current_key() != key:
            print("devstack.compile: a source changed during the build: run it again", flush=True)
            return 1
        (temporary / "COMPLETE").write_text(f"{key}\n")
        if (target / "COMPLETE").is_file():
            return 0  # another build of the same sources finished first
        shutil.rmtree(target, ignore_errors=True)
        temporary.rename(target)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    for old in compiled.BUILD_ROOT.iterdir():
        if old.name != key and not old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)
    print(f"devstack.compile: the relay's modules compiled in {time.monotonic() - started:.1f} s ({target})",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
