"""deploy/systemd/: the unit holds the hardening, signals and restart policy the README promises, and
systemd's own checker accepts it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from devstack.paths import ROOT

UNIT = ROOT / "deploy" / "systemd" / "omnisense-gateway.service"
SYSUSERS = ROOT / "deploy" / "systemd" / "omnisense-gateway.sysusers.conf"
INSTALL_DIR = "/opt/omnisense-gateway"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections of key -> every value given (systemd allows a key more than once), comments dropped."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{line!r} before any section"
        key, sep, value = line.partition("=")
        assert sep, f"{line!r} is not key=value"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(section: dict[str, list[str]], key: str) -> str:
    values = section.get(key)
    assert values, f"{key} missing"
    return values[-1]


def test_the_unit_runs_as_its_own_unprivileged_user() -> None:
    service = parse_unit(UNIT.read_text())["Service"]
    user = one(service, "User")
    assert user not in ("root", "nobody") and one(service, "Group") == user
    assert f"u {user} " in SYSUSERS.read_text()  # and the user is made by systemd-sysusers
    assert one(service, "NoNewPrivileges") == "yes"
    assert one(service, "CapabilityBoundingSet") == ""
    assert one(service, "AmbientCapabilities") == ""


def test_the_unit_is_hardened() -> None:
    service = parse_unit(UNIT.read_text())["Service"]
    expected = {"ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
                "ProtectKernelTunables": "yes", "ProtectControlGroups": "yes", "RestrictNamespaces": "yes",
                "RestrictSUIDSGID": "yes", "LockPersonality": "yes", "SystemCallArchitectures": "native"}
    assert {key: one(service, key) for key in expected} == expected
    # Nothing writable was carved out of ProtectSystem=strict: the service writes no file.
    assert "ReadWritePaths" not in service
    assert set(one(service, "RestrictAddressFamilies").split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}


def test_stop_matches_the_drain_and_failures_restart() -> None:
    unit = parse_unit(UNIT.read_text())
    service = unit["Service"]
    assert one(service, "KillSignal") == "SIGTERM"
    # The main process passes SIGTERM to its workers; the rest of the group is only killed at the timeout.
    assert one(service, "KillMode") == "mixed"
    # The drain ends within 10 s; the stop timeout leaves it that and a little margin, no more.
    assert 10 < int(one(service, "TimeoutStopSec")) <= 20
    assert one(service, "Restart") in ("always", "on-failure")
    assert int(one(service, "RestartSec")) >= 1
    assert int(one(unit["Unit"], "StartLimitBurst")) >= 1
    assert one(service, "ExecReload") == "/bin/kill -HUP $MAINPID"
    assert int(one(service, "LimitNOFILE")) >= 2 * 10_000


def test_the_unit_serves_from_its_checkout_with_an_environment_file() -> None:
    service = parse_unit(UNIT.read_text())["Service"]
    assert one(service, "WorkingDirectory") == INSTALL_DIR
    assert one(service, "ExecStart").startswith(f"{INSTALL_DIR}/.venv/bin/python -m service serve")
    assert one(service, "EnvironmentFile").startswith("/etc/")


def test_systemd_analyze_verifies_the_unit(deploy_tools: None, tmp_path: Path) -> None:
    # verify checks that ExecStart's program exists: point the copy at this checkout, whose .venv is real.
    text = UNIT.read_text().replace(INSTALL_DIR, str(ROOT))
    text = text.replace(one(parse_unit(text)["Service"], "EnvironmentFile"), str(ROOT / ".env.example"))
    unit = tmp_path / UNIT.name
    unit.write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and UNIT.name not in result.stderr, result.stderr
