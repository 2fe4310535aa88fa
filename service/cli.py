"""`python -m service ...`: serve, webphone-url, api-key, loadtest."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from dotenv import dotenv_values

from .config import ConfigError, Settings, load_settings


def environment(dotenv_path: str = ".env") -> dict[str, str]:
    """`os.environ` over `.env`: a variable already set in the environment wins."""
    values = {k: v for k, v in dotenv_values(dotenv_path).items() if v is not None}
    values.update(os.environ)
    return values


def settings_or_exit() -> Settings:
    try:
        return load_settings(environment())
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def build_parser() -> argparse.ArgumentParser:
    from .archive import cli as archive_cli
    from .sip_proxy import cli as sip_proxy_cli
    from . import server

    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    server.register(commands)
    sip_proxy_cli.register(commands)
    archive_cli.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)
