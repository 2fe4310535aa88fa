"""The archive API's domain errors; the handler turns each into the documented JSON answer at the
edge (README, "Lead Archive API")."""

from __future__ import annotations

from typing import Any


class ArchiveError(Exception):
    """An answer other than 200: status, the documented message, and the offending lead ids as given."""

    status = 500

    def __init__(self, message: str, lead_ids: list[Any] | None = None, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.lead_ids = list(lead_ids or [])
        if status is not None:
            self.status = status

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "lead_errors": len(self.lead_ids), "lead_ids": self.lead_ids}


class InvalidRequest(ArchiveError):
    """One of the documented 400s about the body's fields."""

    status = 400


class UnreadableBody(ArchiveError):
    """The body is not JSON, or not a JSON object: the documented 500, saying what and where."""

    status = 500


class BodyTimeout(ArchiveError):
    """The body did not arrive in time; the connection is closed after the answer."""

    status = 408


class LeadsNotFound(ArchiveError):
    """Some requested lead ids are not in the table they would leave: vicidial_list when archiving, the archive
    when dearchiving (the last of the documented 400s); nothing changed."""

    status = 400

    def __init__(self, lead_ids: list[int]) -> None:
        super().__init__("lead_ids does not exist", lead_ids)


class SchemaMismatch(ArchiveError):
    """vicidial_list_archive does not match vicidial_list column for column; nothing changed."""

    def __init__(self, message: str, columns: list[str] | None = None) -> None:
        super().__init__(message)
        self.columns = list(columns or [])

    def body(self) -> dict[str, Any]:
        return {**super().body(), "columns": self.columns} if self.columns else super().body()


class DatabaseBusy(ArchiveError):
    """Deadlocks or lock waits outlasted the retries; the request can be sent again."""


class OfficeHoursUnknown(ArchiveError):
    """OFFICE_HOURS names a ViciDial call time the database does not have."""
