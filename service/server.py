"""`python -m service serve [--workers N]`: run the app, on uvloop where available."""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import signal
import ssl
import tempfile

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from . import http_server, runtime
from .app import create_app
from .config import ConfigError, Settings
from .forwarded import CLIENT_ADDRESS
from .sip_proxy.host_limits import HostPerKeyLimit
from .sip_proxy.routes import PER_KEY

log = logging.getLogger("service")


class AccessLogger(AbstractAccessLogger):
    """Client, method, path, status and time: never the query string, which carries webphone secrets."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %s %.1fms',
            request.get(CLIENT_ADDRESS) or request.remote,
            request.method,
            request.path,
            response.status,
            time * 1000,
            extra={"status": response.status, "duration": round(time, 4)},
        )


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser("serve", help="run the service (configured from the environment and .env)")
    serve.add_argument("--workers", type=int, default=1, help="processes sharing the port (default 1)")
    serve.set_defaults(run=run_serve)


def _worker(settings: Settings, session_locks: str) -> None:
    """One of `--workers N` processes: its own logging, TLS context and loop, on the shared port; the per-key
    session cap counted with the other workers in `session_locks` (sip_proxy/host_limits.py)."""
    runtime.configure_logging(settings.log_format)
    _serve_one(settings, runtime.tls_context_or_exit(settings), session_locks)


def _serve_one(settings: Settings, ssl_context: ssl.SSLContext | None, session_locks: str | None = None) -> None:
    """Serve until SIGTERM, then drain. Always SO_REUSEPORT: the next instance can listen before this one stops."""
    runtime.use_uvloop()
    try:
        app = create_app(settings)
    except ConfigError as exc:  # a file named by a variable, loaded by the app factory
        raise runtime.exit_on_config_error(exc) from None
    if session_locks is not None:
        app[PER_KEY] = HostPerKeyLimit(settings.max_sessions_per_key, session_locks)

    def reload_tls() -> None:
        if ssl_context is not None:
            runtime.reload_tls(ssl_context, settings)
        else:
            log.info("SIGHUP: no TLS_CERT_FILE, nothing to reload")

    # aiohttp's run_app, with bounds on connections that have not sent a whole request (http_server.py).
    asyncio.run(http_server.serve(app, settings.host, settings.port, ssl_context=ssl_context, reuse_port=True,
                                  access_log_class=AccessLogger, on_reload=reload_tls))


MIGRATE_REQ = "/proc/sys/net/ipv4/tcp_migrate_req"


def _check_handover() -> None:
    """Say so when a rolling restart would reset connections queued on the old instance's listener."""
    try:
        with open(MIGRATE_REQ) as f:
            if f.read().strip() == "1":
                return
    except OSError:
        return  # not Linux, or not one that has it
    log.warning("net.ipv4.tcp_migrate_req is 0: when an old instance stops, connections queued on its listener "
                "are reset instead of going to the new one (README, Operations)")


def run_serve(args: argparse.Namespace) -> int:
    settings = runtime.settings_or_exit()  # fail fast, in the parent, with the one-line message
    runtime.configure_logging(settings.log_format)
    ssl_context = runtime.tls_context_or_exit(settings)
    _check_handover()
    scheme = "https" if settings.tls else "http"
    log.info("serving on %s://%s:%s (%d worker%s)", scheme, settings.host, settings.port,
             args.workers, "" if args.workers == 1 else "s")
    if args.workers <= 1:
        _serve_one(settings, ssl_context)
        return 0
    locks_fd, session_locks = tempfile.mkstemp(prefix="omnisense-sessions-")  # the workers' shared per-key cap
    os.close(locks_fd)
    workers = [multiprocessing.Process(target=_worker, args=(settings, session_locks), daemon=True)
               for _ in range(args.workers)]
    for w in workers:
        w.start()

    def forward(signum: int, frame: object) -> None:
        """SIGTERM/SIGINT drain every worker, SIGHUP reloads each one's TLS pair."""
        for w in workers:
            if w.is_alive() and w.pid is not None:
                os.kill(w.pid, signal.SIGTERM if signum == signal.SIGINT else signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    for w in workers:
        w.join()
    os.unlink(session_locks)
    return 0 if all(w.exitcode in (0, -signal.SIGTERM) for w in workers) else 1
