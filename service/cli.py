"""`python -m service ...`: serve, webphone-url, api-key, loadtest."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from . import server
from .archive import cli as archive_cli
from .sip_proxy import cli as sip_proxy_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    server.register(commands)
    sip_proxy_cli.register(commands)
    archive_cli.register(commands)
    register_loadtest(commands)
    return parser


def register_loadtest(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`loadtest` is the tools.sipload package's own command line, handed every argument after the name."""
    parser = commands.add_parser("loadtest", add_help=False, prefix_chars="\0",
                                 help="simulated agents registering and calling through the relay (tools/sipload)")
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    parser.set_defaults(run=run_loadtest)


def run_loadtest(args: argparse.Namespace) -> int:
    import importlib

    try:
        sipload_cli = importlib.import_module("tools.sipload.cli")
    except ModuleNotFoundError as exc:
        print(f"loadtest: the load tester is not installed ({exc}); from a checkout: pip install -e '.[load]'",
              file=__import__("sys").stderr)
        return 2
    return int(sipload_cli.main(args.argv, prog="python -m service loadtest"))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)
