"""Where the stack keeps its state: `.stack/` in the checkout (git-ignored)."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "devstack"
STATE = ROOT / ".stack"
LOGS = STATE / "logs"
PIDS = STATE / "pids"
DOTENV = ROOT / ".env"


def short_run_dir(name: str) -> Path:
    """A run directory for unix sockets, whose paths must stay under ~100 bytes wherever the clone is."""
    candidate = STATE / "run" / name
    if len(str(candidate)) < 80:
        return candidate
    digest = hashlib.sha256(str(ROOT).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"omnisense-{digest}" / name
