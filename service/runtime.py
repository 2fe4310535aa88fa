"""What every command needs before it runs: the environment, settings (or a one-line exit), logging, the loop.

The only module that reads files at start-up: `.env` here, the TLS pair in `tls_context`. `config` stays a
pure function of the mapping built here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import sys

from dotenv import dotenv_values

from . import logs
from .config import ConfigError, Settings, load_settings

log = logging.getLogger("service")


def environment(dotenv_path: str = ".env") -> dict[str, str]:
    """`os.environ` over `.env`: a variable already set in the environment wins."""
    values = {k: v for k, v in dotenv_values(dotenv_path).items() if v is not None}
    values.update(os.environ)
    return values


def exit_on_config_error(exc: ConfigError) -> SystemExit:
    """Print the one line naming the variable; the caller raises what this returns."""
    print(f"configuration error: {exc}", file=sys.stderr)
    return SystemExit(2)


def settings_or_exit() -> Settings:
    """Settings from the environment, or exit 2 with `configuration error: VARIABLE: problem`."""
    try:
        return load_settings(environment())
    except ConfigError as exc:
        raise exit_on_config_error(exc) from None


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The server's TLS context from TLS_CERT_FILE/TLS_KEY_FILE, loaded once; `ConfigError` names the bad file."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    cert, key = settings.tls_cert_file, settings.tls_key_file
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:  # a subclass of OSError: first
        raise _which_tls_file(cert, key, exc) from None
    except OSError as exc:
        raise _unreadable_tls_file(cert, key, exc) from None
    return context


def _unreadable_tls_file(cert: str, key: str, exc: OSError) -> ConfigError:
    """ssl does not say which of the two files it could not open: try each (only on this error path)."""
    for variable, path in (("TLS_CERT_FILE", cert), ("TLS_KEY_FILE", key)):
        try:
            with open(path, "rb"):
                pass
        except OSError as path_exc:
            return ConfigError(variable, f"cannot read {path}: {path_exc.strerror}")
    return ConfigError("TLS_CERT_FILE", f"cannot read {cert} or {key}: {exc.strerror or exc}")


def _which_tls_file(cert: str, key: str, exc: ssl.SSLError) -> ConfigError:
    """Name the file at fault: the certificate if it holds none, else the key (only read on this error path)."""
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_verify_locations(cafile=cert)
    except ssl.SSLError as cert_exc:
        reason = cert_exc.reason or cert_exc
        return ConfigError("TLS_CERT_FILE", f"{cert} holds no PEM certificate ({reason})")
    return ConfigError(
        "TLS_KEY_FILE", f"{key} is not the private key of TLS_CERT_FILE's certificate ({exc.reason or exc})")


def reload_tls(context: ssl.SSLContext, settings: Settings) -> bool:
    """SIGHUP: load TLS_CERT_FILE/TLS_KEY_FILE again into the serving context, for new connections only (open
    ones keep theirs). A pair that does not load is logged and the one in use stays."""
    try:
        tls_context(settings)  # the whole check first, so a bad pair never half-replaces the good one
        assert settings.tls_cert_file is not None and settings.tls_key_file is not None
        context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    except (ConfigError, ssl.SSLError, OSError) as exc:
        log.error("SIGHUP: TLS pair not reloaded, still serving the previous one: %s", exc)
        return False
    log.info("SIGHUP: TLS pair reloaded from %s, for new connections", settings.tls_cert_file)
    return True


def tls_context_or_exit(settings: Settings) -> ssl.SSLContext | None:
    try:
        return tls_context(settings)
    except ConfigError as exc:
        raise exit_on_config_error(exc) from None


def configure_logging(log_format: logs.LogFormat = "text") -> None:
    """LOG_FORMAT's lines on stderr, redacted (service/logs.py)."""
    logs.configure(log_format)


def use_uvloop() -> None:
    """Run the next event loops on uvloop where it is installed (it is a dependency on Linux)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
