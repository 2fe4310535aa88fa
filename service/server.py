"""`python -m service serve [--workers N]`: run the app, on uvloop where available."""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import signal
import ssl

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from . import http_server, runtime
from .app import create_app
from .config import ConfigError, Settings
from .forwarded import CLIENT_ADDRESS

log = logging.getLogger("service")


class AccessLogger(AbstractAccessLogger):
    """Method, path, status and time: never the query string, which carries webphone secrets."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %s %.1fms',
            request.get(CLIENT_ADDRESS) or request.remote,
            request.method,
            request.path,
            response.status,
            time * 1000,
        )


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser("serve", help="run the service (configured from the environment and .env)")
    serve.add_argument("--workers", type=int, default=1, help="processes sharing the port (default 1)")
    serve.set_defaults(run=run_serve)


def _worker(settings: Settings) -> None:
    """One of `--workers N` processes: its own logging, TLS context and loop, on the shared port."""
    runtime.configure_logging()
    _serve_one(settings, runtime.tls_context_or_exit(settings), reuse_port=True)


def _serve_one(settings: Settings, ssl_context: ssl.SSLContext | None, reuse_port: bool) -> None:
    runtime.use_uvloop()
    try:
        app = create_app(settings)
    except ConfigError as exc:  # a file named by a variable, loaded by the app factory
        raise runtime.exit_on_config_error(exc) from None
    # aiohttp's run_app, with bounds on connections that have not sent a whole request (http_server.py).
    asyncio.run(http_server.serve(app, settings.host, settings.port, ssl_context=ssl_context,
                                  reuse_port=reuse_port, access_log_class=AccessLogger))


def run_serve(args: argparse.Namespace) -> int:
    runtime.configure_logging()
    settings = runtime.settings_or_exit()  # fail fast, in the parent, with the one-line message
    ssl_context = runtime.tls_context_or_exit(settings)
    scheme = "https" if settings.tls else "http"
    log.info("serving on %s://%s:%s (%d worker%s)", scheme, settings.host, settings.port,
             args.workers, "" if args.workers == 1 else "s")
    if args.workers <= 1:
        _serve_one(settings, ssl_context, reuse_port=False)
        return 0
    workers = [multiprocessing.Process(target=_worker, args=(settings,), daemon=True) for _ in range(args.workers)]
    for w in workers:
        w.start()

    def stop(signum: int, frame: object) -> None:
        for w in workers:
            if w.is_alive():
                w.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for w in workers:
        w.join()
    return 0 if all(w.exitcode in (0, -signal.SIGTERM) for w in workers) else 1
