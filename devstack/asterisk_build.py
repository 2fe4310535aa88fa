"""Asterisk 18 built once from the sources beside the clone (`../shared/asterisk`), for the local stack.

The finished install is kept outside the clone, keyed by the sources' hash and the module list
(`~/.cache/omnisense-gateway/asterisk-<key>`), so a second clone on the machine reuses it; `.stack/asterisk-build`
links to it. Nothing is downloaded: pjproject comes from the same folder (`--with-externals-cache`).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from . import install
from .paths import ROOT, STATE

SOURCES = ROOT.parent / "shared" / "asterisk"
LINK = STATE / "asterisk-build"

BUILD_PACKAGES = [
    "build-essential", "pkg-config", "libssl-dev", "libsrtp2-dev", "libjansson-dev", "libxml2-dev",
    "libsqlite3-dev", "libedit-dev", "uuid-dev", "libncurses-dev", "libxslt1-dev",
]
# A header or tool of each package, so that `ensure_packages` installs only what is missing.
_PACKAGE_PROBES = {
    "/usr/bin/make": ["build-essential"], "/usr/bin/gcc": ["build-essential"],
    "/usr/bin/pkg-config": ["pkg-config"], "/usr/include/openssl/ssl.h": ["libssl-dev"],
    "/usr/include/srtp2/srtp.h": ["libsrtp2-dev"], "/usr/include/jansson.h": ["libjansson-dev"],
    "/usr/include/libxml2/libxml/parser.h": ["libxml2-dev"], "/usr/include/sqlite3.h": ["libsqlite3-dev"],
    "/usr/include/histedit.h": ["libedit-dev"], "/usr/include/uuid/uuid.h": ["uuid-dev"],
    "/usr/include/ncurses.h": ["libncurses-dev"], "/usr/include/libxslt/xslt.h": ["libxslt1-dev"],
}
assert sorted({p for ps in _PACKAGE_PROBES.values() for p in ps}) == sorted(BUILD_PACKAGES)

# Every module either Asterisk holds for the stack: chan_sip and chan_pjsip over WebSocket with DTLS-SRTP
# and ICE, ConfBridge rooms, echo, transfers, and `channel originate` from the CLI.
MODULES = (
    "chan_sip", "chan_pjsip", "chan_bridge_media",
    "res_pjsip", "res_pjsip_session", "res_pjsip_transport_websocket", "res_pjsip_registrar",
    "res_pjsip_authenticator_digest", "res_pjsip_outbound_authenticator_digest",
    "res_pjsip_endpoint_identifier_user", "res_pjsip_sdp_rtp", "res_pjsip_nat", "res_pjsip_refer",
    "res_pjsip_pubsub", "res_pjsip_caller_id", "res_pjsip_dtmf_info", "res_pjsip_rfc3326",
    "res_pjsip_logger", "res_pjsip_empty_info", "res_pjsip_path",
    "res_pjsip_header_funcs", "res_pjsip_dlg_options",
    "res_http_websocket", "res_srtp", "res_rtp_asterisk", "res_crypto", "res_pjproject",
    "res_timing_timerfd", "res_musiconhold", "res_clioriginate",
    "res_sorcery_astdb", "res_sorcery_config", "res_sorcery_memory", "res_sorcery_memory_cache",
    "res_sorcery_realtime",
    "app_dial", "app_echo", "app_playback", "app_confbridge", "app_read", "app_senddtmf", "app_verbose",
    "app_transfer", "app_stack",
    "bridge_simple", "bridge_softmix", "bridge_native_rtp", "bridge_holding", "bridge_builtin_features",
    "bridge_builtin_interval_features",
    "codec_ulaw", "codec_alaw", "format_wav", "format_pcm",
    "pbx_config", "func_channel", "func_callerid", "func_strings", "func_logic",
)
# Every menuselect category but the compiler flags: modules, utilities and the sound packages (which
# `make install` would otherwise download).
_CATEGORIES = (
    "ADDONS", "APPS", "BRIDGES", "CDR", "CEL", "CHANNELS", "CODECS", "FORMATS", "FUNCS", "PBX", "RES",
    "TESTS", "UTILS", "AGIS", "CORE_SOUNDS", "MOH", "EXTRA_SOUNDS",
)


def tarballs(sources: Path = SOURCES) -> tuple[Path, Path] | None:
    """Asterisk's and pjproject's tarballs in `sources`, or None if either is missing."""
    asterisk = sorted(sources.glob("asterisk-*.tar.gz"))
    pjproject = sorted(sources.glob("pjproject-*.tar.bz2"))
    return (asterisk[-1], pjproject[-1]) if asterisk and pjproject else None


def missing_reason(sources: Path = SOURCES) -> str | None:
    """Why the stack cannot have Asterisk here (one line), or None if it can."""
    if tarballs(sources) is None:
        return f"no Asterisk sources in {sources} (asterisk-*.tar.gz and pjproject-*.tar.bz2)"
    return None


COMPLETE = ".complete"
"""Written last into the install directory: anything without it is a build that did not finish."""


def build_key(asterisk: Path, pjproject: Path) -> str:
    digest = hashlib.sha256()
    for tarball in (asterisk, pjproject):
        with open(tarball, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    digest.update(" ".join(MODULES).encode())
    return digest.hexdigest()[:16]


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "omnisense-gateway"


def prefix() -> Path:
    """Where the built Asterisk is (the `.stack/asterisk-build` link); exists once `ensure_built` has run."""
    return LINK


def binary() -> Path:
    return LINK / "sbin" / "asterisk"


def built() -> bool:
    return binary().exists()


def ensure_built(sources: Path = SOURCES) -> bool:
    """Build and install Asterisk unless the cache has it; link `.stack/asterisk-build` there. True if built now."""
    found = tarballs(sources)
    if found is None:
        raise RuntimeError(missing_reason(sources))
    asterisk, pjproject = found
    root = cache_root()
    install_dir = _install_dir(asterisk, pjproject)
    root.mkdir(parents=True, exist_ok=True)
    did_build = False
    # Two clones starting at once, or a build started in the background (`start_in_background`): one builds,
    # the other waits for it and reuses the result.
    with open(root / "asterisk.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"devstack: waiting for the Asterisk build under way (log in {_log_of(install_dir)})", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        if not (install_dir / COMPLETE).exists():
            _build(asterisk, pjproject, install_dir)
            did_build = True
    STATE.mkdir(parents=True, exist_ok=True)
    if LINK.is_symlink() or LINK.exists():
        if LINK.resolve() == install_dir.resolve():
            return did_build
        LINK.unlink()
    LINK.symlink_to(install_dir)
    return did_build


def _install_dir(asterisk: Path, pjproject: Path) -> Path:
    return cache_root() / f"asterisk-{build_key(asterisk, pjproject)}"


def _log_of(install_dir: Path) -> Path:
    return install_dir.with_name(install_dir.name + ".log")


def start_in_background(sources: Path = SOURCES) -> bool:
    """Start the build in a process of its own, at a lower priority, unless there is nothing to build: `make test`
    does this first, so the build overlaps the virtualenv, npm and lint steps, and `ensure_built` then waits for
    it. The build packages are installed here, before, so no two apt-get runs overlap. True if a build started."""
    found = tarballs(sources)
    if found is None or (_install_dir(*found) / COMPLETE).exists():
        return False
    install.ensure_packages(_PACKAGE_PROBES)
    subprocess.Popen([sys.executable, "-m", "devstack.asterisk_build"], cwd=ROOT, start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     preexec_fn=lambda: os.nice(10))
    print(f"devstack: building Asterisk in the background (log in {_log_of(_install_dir(*found))})", flush=True)
    return True


def _run(argv: list[str], cwd: Path, log: Path) -> None:
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        result = subprocess.run(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise RuntimeError(f"`{' '.join(argv)}` failed (exit {result.returncode}); see {log}:\n{tail}")


def _build(asterisk: Path, pjproject: Path, install_dir: Path) -> None:
    install.ensure_packages(_PACKAGE_PROBES)
    work = install_dir.with_name(install_dir.name + ".build")
    for leftover in (work, install_dir):
        shutil.rmtree(leftover, ignore_errors=True)
    work.mkdir(parents=True)
    log = _log_of(install_dir)
    log.write_text("")
    started = time.monotonic()
    print(f"devstack: building Asterisk from {asterisk.name} (a few minutes, once; log in {log})", flush=True)
    with tarfile.open(asterisk) as tar:
        tar.extractall(work, filter="tar")
    (src,) = [p for p in work.iterdir() if p.is_dir()]
    externals = work / "externals"
    externals.mkdir()
    shutil.copy(pjproject, externals / pjproject.name)
    jobs = str(max(1, min(2, os.cpu_count() or 1)))
    _run(["./configure", f"--prefix={install_dir}", "--with-pjproject-bundled", f"--with-externals-cache={externals}",
          "--with-jansson-bundled=no", "--disable-xmldoc"], src, log)
    _run(["make", "menuselect.makeopts"], src, log)
    select = ["menuselect/menuselect"]
    for category in _CATEGORIES:
        select += ["--disable-category", f"MENUSELECT_{category}"]
    for module in MODULES:
        select += ["--enable", module]
    _run([*select, "menuselect.makeopts"], src, log)
    _run(["make", f"-j{jobs}"], src, log)
    _run(["make", "install"], src, log)
    # The prefix is compiled into the binary and its libraries' paths: the install stays where it was built.
    (install_dir / COMPLETE).write_text(f"{asterisk.name} {pjproject.name}\n")
    shutil.rmtree(work, ignore_errors=True)
    print(f"devstack: Asterisk built in {time.monotonic() - started:.0f}s", flush=True)


if __name__ == "__main__":
    # `python -m devstack.asterisk_build [--background]`: standard library only, so the system Python can run it
    # before the virtualenv exists.
    if sys.argv[1:] == ["--background"]:
        start_in_background()
    else:
        ensure_built()
