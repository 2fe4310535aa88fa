"""`python -m service api-key NAME`: a new archive API key, printed once, and its ARCHIVE_API_KEYS entry."""

from __future__ import annotations

import argparse
import sys

from .api_keys import new_key


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "api-key",
        help="print a new archive API key once, and the ARCHIVE_API_KEYS entry (name and SHA-256) to configure",
    )
    parser.add_argument("name", help="who the key is for, e.g. crm-nightly (shown in the archive API's logs)")
    parser.set_defaults(run=run_api_key)


def run_api_key(args: argparse.Namespace) -> int:
    try:
        key, entry = new_key(args.name)
    except ValueError as exc:
        print(f"api-key: {exc}", file=sys.stderr)
        return 2
    print(f"API key for {args.name} (shown only now; hand it over, it is stored nowhere):")
    print(f"  {key}")
    print("Add this entry to ARCHIVE_API_KEYS (comma-separated, in the environment or .env):")
    print(f"  {entry}")
    return 0
