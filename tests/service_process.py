"""`python -m service serve` as a real process, for the tests of signals, rolling restarts and log lines."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECRET = "service-process-secret-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    def __init__(self, proc: asyncio.subprocess.Process, port: int, scheme: str) -> None:
        self.proc = proc
        self.port = port
        self.scheme = scheme
        self.stderr = bytearray()
        self._more = asyncio.Condition()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(65536):
            async with self._more:
                self.stderr += chunk
                self._more.notify_all()
        async with self._more:
            self._more.notify_all()  # the end: waiters see the exit

    @property
    def log(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    async def wait_log(self, text: str, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until the process has logged `text` `count` times (its log is read as it comes)."""

        def seen() -> bool:
            return self.log.count(text) >= count or self._reader.done()

        async with asyncio.timeout(timeout), self._more:
            await self._more.wait_for(seen)
        if self.log.count(text) < count:
            raise AssertionError(f"exited {self.proc.returncode} before logging {text!r}:\n{self.log}")

    async def stopped(self, timeout: float = 15.0) -> tuple[int, float]:
        """SIGTERM, then the exit code and the seconds it took to exit."""
        started = time.monotonic()
        self.signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        await self._reader
        return code, time.monotonic() - started


@contextlib.asynccontextmanager
async def service_process(env: dict[str, str] | None = None, *args: str, port: int | None = None,
                          ready: str = "serving on") -> AsyncIterator[ServiceProcess]:
    """The service on `port` (a free one by default), its environment only `env` over the test's own."""
    port = port or free_port()
    full_env = {k: v for k, v in os.environ.items() if k not in ("TLS_CERT_FILE", "TLS_KEY_FILE", "LOG_FORMAT")}
    full_env.update({"AUTH_KEY_SECRET": SECRET, "HOST": "127.0.0.1", "OFFICE_HOURS": "none"})
    full_env.update(env or {})
    full_env["PORT"] = str(port)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "service", "serve", *args, cwd=ROOT,
                                                env=full_env, stderr=asyncio.subprocess.PIPE)
    service = ServiceProcess(proc, port, "https" if "TLS_CERT_FILE" in full_env else "http")
    try:
        await service.wait_log(ready)
        await _accepting(port)
        yield service
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await service._reader


async def _accepting(port: int, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return
