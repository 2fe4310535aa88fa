"""`SIP_UPSTREAM=vicidial`: which ViciDial server's WebSocket an agent's leg goes to, from `phones` and `servers`.

Pure: the SQL it needs, the decision on the rows it read, and a clock-driven cache; the database I/O is in
`phone_lookup.py`. The agent's `username` is a phone `extension`; exactly one active phone gives the
`server_ip`, whose `servers.web_socket_url` is the upstream (README, "Pointing it at Asterisk").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ..config import websocket_url_problem

CACHE_SECONDS = 30.0
CACHE_MAX = 10_000

# Two rows are enough to tell "exactly one" from "several". `extension` is matched exactly: ViciDial's
# collation (utf8mb3_unicode_ci) ignores letter case and trailing spaces, so `agentx` would reach phone `AgentX`.
# The plain comparison keeps the index; the BINARY one, on those few rows, makes it exact.
PHONE_SQL = ("SELECT server_ip FROM phones WHERE extension = %s AND BINARY extension = %s AND active = 'Y'"
             " LIMIT 2")
SERVER_SQL = "SELECT web_socket_url FROM servers WHERE server_ip = %s"
# Every WebSocket URL some active phone is routed to: what /readyz checks.
URLS_IN_USE_SQL = (
    "SELECT DISTINCT s.web_socket_url FROM phones p JOIN servers s ON s.server_ip = p.server_ip"
    " WHERE p.active = 'Y' AND s.web_socket_url <> '' ORDER BY s.web_socket_url"
)


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    url: str
    server_ip: str


@dataclasses.dataclass(frozen=True, slots=True)
class Refusal:
    """The handshake's answer when no upstream can be chosen: HTTP status and a JSON `reason`."""

    status: int
    reason: str
    message: str

    def body(self) -> dict[str, str]:
        return {"message": self.message, "reason": self.reason}


Outcome = Route | Refusal


def lookup_failed(exc: BaseException) -> Refusal:
    return Refusal(503, "upstream_lookup_failed",
                   f"the phone's server could not be looked up in the ViciDial database ({type(exc).__name__})")


def decide_phone(extension: str, server_ips: Sequence[str]) -> str | Refusal:
    """The phone's server_ip from the active `phones` rows with this extension, or the refusal."""
    if not server_ips:
        return Refusal(403, "unknown_phone", f"no active ViciDial phone has the extension {extension!r}")
    if len(server_ips) > 1:
        return Refusal(403, "ambiguous_phone",
                       f"several active ViciDial phones have the extension {extension!r}; keep one active")
    return server_ips[0]


def decide_server(server_ip: str, urls: Sequence[str | None]) -> Outcome:
    """The route from the `servers` rows with this server_ip (their web_socket_url), or the refusal: none is
    `no_upstream`, several different ones `ambiguous_server` (which one the PBX expects cannot be told)."""
    found = sorted({url.strip() for url in urls if url and url.strip()})
    if len(found) > 1:
        return Refusal(503, "ambiguous_server",
                       f"the ViciDial server {server_ip} has {len(found)} different web_socket_urls; keep one")
    if not found:
        return Refusal(503, "no_upstream", f"the ViciDial server {server_ip} has no web_socket_url")
    problem = websocket_url_problem(found[0])
    if problem:
        return Refusal(503, "no_upstream", f"server {server_ip}: web_socket_url: {problem}")
    return Route(found[0], server_ip)


class RouteCache:
    """Outcomes per extension for CACHE_SECONDS (never failures to look up); `now` is a monotonic clock."""

    def __init__(self, ttl: float = CACHE_SECONDS, max_entries: int = CACHE_MAX) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Outcome]] = {}

    def get(self, extension: str, now: float) -> Outcome | None:
        entry = self._entries.get(extension)
        if entry is None:
            return None
        if entry[0] <= now:
            del self._entries[extension]
            return None
        return entry[1]

    def put(self, extension: str, outcome: Outcome, now: float) -> None:
        if isinstance(outcome, Refusal) and outcome.reason == "upstream_lookup_failed":
            return
        if len(self._entries) >= self.max_entries:
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            if len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
        self._entries[extension] = (now + self.ttl, outcome)
