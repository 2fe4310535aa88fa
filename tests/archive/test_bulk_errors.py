"""The bulk commands' answers when they cannot start: a database that refuses or cannot be reached, a bad
option. One line naming what is wrong (never the password), exit 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.config import DatabaseConfig
from tests.service_process import free_port


def run(tmp_path: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "AUTH_KEY_SECRET": "bulk-test-secret-0123456789",
           "OFFICE_HOURS": "none"}
    return subprocess.run([sys.executable, "-m", "service", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)


def url(config: DatabaseConfig, *, password: str | None = None, port: int | None = None,
        database: str | None = None) -> str:
    return (f"mysql://{config.user}:{config.password if password is None else password}@{config.host}:"
            f"{port or config.port}/{database or config.database}")


COMMANDS = [("archive", "--list-id", "998"), ("dearchive", "--list-id", "998")]


@pytest.mark.stack
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize(("problem", "cause"), [
    ("wrong password", "Access denied"),
    ("unknown database", "Unknown database"),
])
def test_a_database_that_refuses_is_one_line_and_exit_2(tmp_path, db_config, command, problem, cause):
    secret = "not-the-password-4711"
    if problem == "wrong password":
        target = url(db_config, password=secret)
    else:
        target = url(db_config, database="no_such_db_4711")
    result = run(tmp_path, target, *command)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    database = "no_such_db_4711" if problem == "unknown database" else db_config.database
    assert line.startswith(f"{command[0]}: cannot use the database mysql://{db_config.user}@{db_config.host}:"
                           f"{db_config.port}/{database}: ")
    assert cause in line and secret not in line and db_config.password not in line
    assert result.stdout == ""


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_database_that_cannot_be_reached_is_one_line_and_exit_2(tmp_path, command):
    port = free_port()  # nothing listens there
    result = run(tmp_path, f"mysql://agent:s3cret-pw@127.0.0.1:{port}/asterisk", *command)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{command[0]}: cannot use the database mysql://agent@127.0.0.1:{port}/asterisk: ")
    assert "Can't connect" in line and "s3cret-pw" not in line


@pytest.mark.parametrize(("args", "option"), [
    (("archive", "--list-id", "998", "--older-than", "soon"), "--older-than"),
    (("dearchive", "--lead-ids", "/nonexistent/ids.txt"), "--lead-ids"),
    (("archive", "--list-id", "998", "--max-stall-ms", "0"), "--max-stall-ms"),
])
def test_an_option_error_names_the_option(tmp_path, args, option):
    result = run(tmp_path, "mysql://agent:pw@127.0.0.1:1/asterisk", *args)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{args[0]}: {option}") or f" {option} " in line, line
