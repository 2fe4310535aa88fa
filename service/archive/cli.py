"""`python -m service api-key NAME`, and the bulk runs `python -m service archive ...` / `dearchive ...`."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys

import pymysql

from .. import db
from ..config import Settings
from ..runtime import settings_or_exit
from . import bulk, selection as sel
from .api_keys import new_key
from .direction import FROM_ARCHIVE, TO_ARCHIVE, Direction
from .errors import ArchiveError
from .pacing import Pacer

DEFAULT_MAX_STALL_MS = 50


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "api-key",
        help="print a new archive API key once, and the ARCHIVE_API_KEYS entry (name and SHA-256) to configure",
    )
    parser.add_argument("name", help="who the key is for, e.g. crm-nightly (shown in the archive API's logs)")
    parser.set_defaults(run=run_api_key)

    archive = commands.add_parser(
        "archive", help="move the leads of a list (by status, by age) to vicidial_list_archive, in paced batches",
        description="Moves leads from vicidial_list to vicidial_list_archive the way the archive API does (copy,"
                    " update, safe delete), in batches paced so the dialer is not stalled. Stopped at any point,"
                    " the same command continues.")
    archive.add_argument("--list-id", type=int, required=True, help="the list whose leads are archived")
    archive.add_argument("--status", action="append", default=[], metavar="S",
                         help="only leads with this status (repeat, or separate with commas)")
    archive.add_argument("--older-than", metavar="AGE",
                         help="only leads last called and last modified longer ago than AGE: 90d, 12w, 36h")
    _common(archive)
    archive.set_defaults(run=run_bulk, direction=TO_ARCHIVE)

    dearchive = commands.add_parser(
        "dearchive", help="bring archived leads (of a list, or listed in a file) back into vicidial_list",
        description="Moves leads from vicidial_list_archive back to vicidial_list the way the dearchive API does"
                    " (copy what vicidial_list lacks, safe delete; a lead in vicidial_list is never overwritten),"
                    " in paced batches. Stopped at any point, the same command continues.")
    which = dearchive.add_mutually_exclusive_group(required=True)
    which.add_argument("--list-id", type=int, help="the list whose archived leads come back")
    which.add_argument("--lead-ids", metavar="FILE",
                       help="a file of lead ids (white space or commas between them, # comments; - for stdin)")
    _common(dearchive)
    dearchive.set_defaults(run=run_bulk, direction=FROM_ARCHIVE, status=[], older_than=None)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="only count the leads the run would move")
    parser.add_argument("--max-stall-ms", type=int, default=DEFAULT_MAX_STALL_MS, metavar="MS",
                        help="the longest one batch may hold vicidial_list (MyISAM locks it per statement);"
                             f" batch sizes adapt to it (default {DEFAULT_MAX_STALL_MS})")


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


def run_bulk(args: argparse.Namespace) -> int:
    direction: Direction = args.direction
    try:
        chosen = _selection(args)
    except (OSError, ValueError) as exc:
        print(f"{direction.name}: {exc}", file=sys.stderr)
        return 2
    if args.max_stall_ms <= 0:
        print(f"{direction.name}: --max-stall-ms must be a positive number of milliseconds", file=sys.stderr)
        return 2
    settings = settings_or_exit()
    try:
        return asyncio.run(_bulk(settings, direction, chosen, args))
    except KeyboardInterrupt:  # a second Ctrl-C, before the first was handled
        return 130


def _selection(args: argparse.Namespace) -> sel.Selection:
    if getattr(args, "lead_ids", None):
        try:
            with (sys.stdin if args.lead_ids == "-" else open(args.lead_ids, encoding="utf-8")) as file:
                ids = sel.read_lead_ids(file.read())
        except (OSError, ValueError) as exc:
            raise ValueError(f"--lead-ids: {exc}") from None
        if not ids:
            raise ValueError(f"--lead-ids: {args.lead_ids} holds no lead ids")
        return sel.Selection(lead_ids=tuple(ids))
    statuses = tuple(s.strip() for value in args.status for s in value.split(",") if s.strip())
    older_than = None
    if args.older_than:
        try:
            age = sel.parse_age(args.older_than)
        except ValueError as exc:
            raise ValueError(f"--older-than: {exc}") from None
        older_than = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0) - age
    return sel.Selection(list_id=args.list_id, statuses=statuses, older_than=older_than)


def _cause(exc: BaseException) -> str:
    """A database error in one line: the server's or the driver's message and its code."""
    if isinstance(exc, pymysql.err.MySQLError) and len(exc.args) == 2:
        code, message = exc.args
        return f"{message} ({code})"
    return " ".join(str(exc).split()) or type(exc).__name__


async def _bulk(settings: Settings, direction: Direction, chosen: sel.Selection, args: argparse.Namespace) -> int:
    try:
        pool = await db.create_pool(settings.database, minsize=1, maxsize=1)
    except (pymysql.err.MySQLError, OSError) as exc:  # refused, unreachable, unknown database
        print(f"{direction.name}: cannot use the database {settings.database.describe()}: {_cause(exc)}",
              file=sys.stderr)
        return 2
    try:
        if args.dry_run:
            total = await bulk.count(pool, direction, chosen)
            print(f"{direction.name}: dry run: {total:,} leads ({chosen.describe()}) would move from"
                  f" {direction.source} to {direction.destination}; nothing was changed")
            return 0
        pacer = Pacer(max_stall=args.max_stall_ms / 1000, maximum=settings.archive_max_leads)
        summary = await bulk.run(pool, direction, chosen, pacer, sys.stderr, tty=sys.stderr.isatty())
    except ArchiveError as exc:
        print(f"{direction.name}: {exc.message}", file=sys.stderr)
        return 2
    except pymysql.err.MySQLError as exc:
        print(f"{direction.name}: the database {settings.database.describe()} failed: {_cause(exc)}; no lead was"
              " deleted without a matching copy, and the same command continues where this one stopped",
              file=sys.stderr)
        return 2
    finally:
        pool.close()
        await pool.wait_closed()
    print(summary.line())
    return summary.exit_status
