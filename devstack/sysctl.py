"""Kernel settings the local stack needs, set when they can be (as root, where /proc/sys is writable)."""

from __future__ import annotations

from pathlib import Path

# With several listeners on one port (SO_REUSEPORT), a listener that closes hands the connections queued on it,
# not yet accepted, to another instead of resetting them: a rolling restart refuses nobody (README, "Operations").
MIGRATE_REQ = Path("/proc/sys/net/ipv4/tcp_migrate_req")


def ensure_migrate_req() -> bool:
    """Set net.ipv4.tcp_migrate_req=1; True if it is set (now or already)."""
    try:
        if MIGRATE_REQ.read_text().strip() == "1":
            return True
        MIGRATE_REQ.write_text("1\n")
    except OSError:
        return False
    return True
