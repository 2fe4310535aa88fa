"""coturn's telnet CLI (`--cli-ip`, `--cli-port`, `--cli-password`), as coturn 4.6 speaks it.

The one place that knows that protocol: a banner naming the version, `Enter password: `, then a `> ` prompt
after each command's output. `ps [username]` lists sessions as `N) id=<18 digits>, user <name>:` followed by
indented detail lines and `Total sessions: N`; more than `cli-max-output-sessions` of them end in a `...` line.
`cs <id>` cancels a session at once: its allocation, permissions and channels are gone and a Refresh gets
437. The parsing is pure (`parse_sessions`, `banner_version`); `CoturnCli` is the thin asyncio edge.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re

WRITTEN_FOR = (4, 6)  # the major and minor version whose CLI output this module reads
PROMPT = b"> "
PASSWORD_PROMPT = b"Enter password: "
_VERSION = re.compile(rb"Coturn-(\d+)\.(\d+)\.(\d+)")
_SESSION = re.compile(r"^\s*\d+\) id=(\d+), user <(.*)>:\s*$", re.MULTILINE)
_TRUNCATED = re.compile(r"^\.\.\.\s*$", re.MULTILINE)


class CoturnCliError(Exception):
    """The CLI could not be reached, refused the password, or is not the coturn this module reads."""


@dataclasses.dataclass(frozen=True, slots=True)
class CoturnSession:
    id: str  # coturn's 18-digit session id, as `cs` takes it
    user: str


def banner_version(banner: bytes) -> tuple[int, int, int] | None:
    match = _VERSION.search(banner)
    return None if match is None else (int(match[1]), int(match[2]), int(match[3]))


def parse_sessions(output: str) -> tuple[list[CoturnSession], bool]:
    """The sessions in a `ps` answer, and whether coturn left some out (`cli-max-output-sessions`)."""
    sessions = [CoturnSession(m[1], m[2]) for m in _SESSION.finditer(output)]
    return sessions, _TRUNCATED.search(output) is not None


class CoturnCli:
    """One authenticated CLI connection. `await CoturnCli.open(...)`, then `sessions()` / `cancel()`, `close()`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float) -> None:
        self._reader, self._writer, self._timeout = reader, writer, timeout

    @classmethod
    async def open(cls, host: str, port: int, password: str, timeout: float = 5.0) -> CoturnCli:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except (TimeoutError, OSError) as exc:
            raise CoturnCliError(f"coturn CLI {host}:{port} unreachable ({exc.__class__.__name__})") from None
        cli = cls(reader, writer, timeout)
        try:
            banner = await cli._read_until(PASSWORD_PROMPT)
            version = banner_version(banner)
            if version is None or version[:2] != WRITTEN_FOR:
                found = ".".join(map(str, version)) if version else "no coturn version in its banner"
                raise CoturnCliError(
                    f"coturn CLI {host}:{port}: this service reads coturn {WRITTEN_FOR[0]}.{WRITTEN_FOR[1]}'s CLI,"
                    f" found {found}")
            writer.write(password.encode() + b"\r\n")
            answer = await cli._read_until(PROMPT, PASSWORD_PROMPT)
            if answer.rstrip().endswith(PASSWORD_PROMPT.rstrip()):
                raise CoturnCliError(f"coturn CLI {host}:{port} refused TURN_CLI_PASSWORD")
        except BaseException:
            cli.close()
            raise
        return cli

    async def sessions(self, user: str | None = None) -> tuple[list[CoturnSession], bool]:
        """`ps` (every session) or `ps USER` (that user's, exactly)."""
        # A user name may hold "> " itself: the answer is complete once its total line has come too.
        output = await self._command("ps" if user is None else f"ps {user}", after=b"Total sessions:")
        return parse_sessions(output)

    async def cancel(self, session_id: str) -> None:
        if not session_id.isdigit():
            raise ValueError(f"not a coturn session id: {session_id!r}")
        await self._command(f"cs {session_id}")

    def close(self) -> None:
        self._writer.close()

    async def _command(self, line: str, after: bytes = b"") -> str:
        if any(c in line for c in "\r\n"):
            raise ValueError("a CLI command is one line")
        self._writer.write(line.encode() + b"\r\n")
        return (await self._read_until(PROMPT, after=after)).decode("utf-8", "replace")

    async def _read_until(self, *endings: bytes, after: bytes = b"") -> bytes:
        """Read until the output ends with one of `endings` (optionally followed by CRLF), past `after`."""
        data = b""
        try:
            async with asyncio.timeout(self._timeout):
                while after not in data or not any(data.endswith(e) or data.endswith(e + b"\r\n") for e in endings):
                    chunk = await self._reader.read(65536)
                    if not chunk:
                        raise CoturnCliError("coturn CLI closed the connection")
                    data += chunk
        except TimeoutError:
            raise CoturnCliError(f"coturn CLI: no prompt within {self._timeout:g} s") from None
        except OSError as exc:
            raise CoturnCliError(f"coturn CLI: {exc.__class__.__name__}") from None
        return data
