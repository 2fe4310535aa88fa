"""The load tester's command line: `python -m tools.sipload ...`, also `python -m service loadtest ...`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import loadtest


def build_parser(prog: str = "python -m tools.sipload") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=loadtest.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=100, metavar="N", help="number of agents (default 100)")
    parser.add_argument("--duration", type=float, default=30.0, metavar="SECONDS",
                        help="how long agents keep calling after all registered (default 30)")
    parser.add_argument("--url", metavar="WS_URL", help="the relay's WebSocket URL (default ws://HOST:PORT/ws of the "
                        "settings); a PBX's own WebSocket URL works too, the session query is then ignored")
    parser.add_argument("--json", action="store_true", help="end with one line of JSON (progress goes to stderr)")
    parser.add_argument("--hold", type=float, default=1.0, metavar="SECONDS", help="call length (default 1)")
    parser.add_argument("--first-user", type=int, default=200000, help="first agent's number (default 200000)")
    parser.add_argument("--customer-id", type=int, default=1)
    parser.add_argument("--agent-secret", help="secret the SIP passwords derive from (default: the local stack's, "
                        "from AUTH_KEY_SECRET; see tools/sipload/agents.py)")
    parser.add_argument("--connect-concurrency", type=int, default=100, help="connections opened at once (default 100)")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "python -m tools.sipload") -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        import aiortc  # noqa: F401 - only to say clearly that it is missing
    except ImportError:
        print("loadtest: aiortc (the SDP of its calls) is not installed; install the load extra: "
              "pip install -e '.[load]'", file=sys.stderr)
        return 2
    return loadtest.run_loadtest(args)
