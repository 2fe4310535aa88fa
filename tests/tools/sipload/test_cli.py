"""The load tester's command line, run as a user would: `python -m service loadtest` and `python -m tools.sipload`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from tests.sip_proxy.helpers import new_username
from tools.sipload import cli

ROOT = Path(__file__).resolve().parents[3]


async def run_cli(command: str, *args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """`python -m service loadtest ...`, or `python -m tools.sipload ...` for any other `command`."""
    argv = ["-m", "service", "loadtest"] if command == "loadtest" else ["-m", "tools.sipload"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *argv, *args, cwd=ROOT, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None  # communicate() returns once the process has exited
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.stack
async def test_loadtest_through_the_relay_ends_with_a_json_line(relay):
    url = f"ws://{relay.server.host}:{relay.server.port}/ws"
    code, out, err = await run_cli("loadtest", "--agents", "6", "--duration", "1.5", "--hold", "0.2",
                                   "--first-user", new_username(), "--url", url, "--json", env={})
    assert code == 0, out + err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["agents"] == result["registered"] == 6
    assert result["calls_completed"] >= 3 and result["calls_attempted"] >= result["calls_completed"]
    assert result["errors"] == 0 and result["errors_by_status"] == {}
    for key in ("register_ms", "call_setup_ms"):
        assert set(result[key]) == {"p50", "p95", "p99", "max"} and result[key]["max"] > 0
    assert result["messages_per_s"] > 0
    assert "registered 6/6" in err  # the progress line


@pytest.mark.stack
async def test_loadtest_exits_1_when_agents_fail(relay):
    """Run as its own package this time: `python -m tools.sipload`."""
    url = f"ws://{relay.server.host}:{relay.server.port}/ws"
    code, out, _ = await run_cli("tools.sipload", "--agents", "2", "--duration", "0", "--agent-secret", "wrong",
                                   "--first-user", new_username(), "--url", url, "--json", env={})
    result = json.loads(out.strip().splitlines()[-1])
    assert code == 1 and result["registered"] == 0 and result["errors_by_status"] == {"401": 2}


def test_without_aiortc_it_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "aiortc", None)  # what `import aiortc` meets where it is not installed
    assert cli.main(["--agents", "1"]) == 2
    err = capsys.readouterr().err
    assert "aiortc" in err and "pip install -e '.[load]'" in err and err.count("\n") == 1


def test_service_loadtest_hands_its_arguments_over(capsys) -> None:
    from service import cli as service_cli

    with pytest.raises(SystemExit) as info:
        service_cli.main(["loadtest", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m service loadtest") and "--agents N" in out
