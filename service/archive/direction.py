"""Which way leads move: the one parameter that makes the archive and the dearchive one design.

Archiving moves leads from vicidial_list to vicidial_list_archive (insert, update, safe delete); dearchiving
moves them back (insert, safe delete: a lead already in vicidial_list is never overwritten). Everything else,
request checks, column discovery, the schema check, the byte-exact comparison and the retries, is shared.
"""

from __future__ import annotations

import dataclasses

from .schema import ARCHIVE, LIVE


@dataclasses.dataclass(frozen=True, slots=True)
class Direction:
    name: str  # "archive" or "dearchive": the route's last word, the CLI command, the metrics label
    source: str  # the table leads leave
    destination: str  # the table leads arrive in
    flags: tuple[str, ...]  # the body's boolean fields, in the order they are checked
    office_hours_apply: bool  # whether OFFICE_HOURS can refuse it

    @property
    def updates(self) -> bool:
        """Whether existing copies in the destination are brought up to date (only the archive's are)."""
        return "update_leads" in self.flags


TO_ARCHIVE = Direction("archive", LIVE, ARCHIVE, ("insert_leads", "update_leads", "delete_leads"), True)
FROM_ARCHIVE = Direction("dearchive", ARCHIVE, LIVE, ("insert_leads", "delete_leads"), False)
DIRECTIONS = (TO_ARCHIVE, FROM_ARCHIVE)
