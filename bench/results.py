"""What `make bench` keeps: bench/results/latest.json, the machine and every figure of the last run of each benchmark.

A benchmark's `main()` returns its figures as plain JSON data; `record` files them under the benchmark's name
with the time it ran and how long it took. Figures from an earlier run of another benchmark stay, unless they
were measured on another machine (then the file starts afresh, so one file never mixes two machines).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
LATEST = RESULTS / "latest.json"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_mb() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=RESULTS.parent)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def machine() -> dict[str, Any]:
    import resource

    return {
        "hostname": platform.node(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_mb": _memory_mb(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "nofile_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[1],
    }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def record(name: str, figures: dict[str, Any], seconds: float, load_at_start: list[float],
           path: Path = LATEST) -> None:
    """File one benchmark's figures in `path` (see the module docstring)."""
    here = machine()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    same_machine = {k: data.get("machine", {}).get(k) for k in ("hostname", "cpu", "cores")} == \
        {k: here[k] for k in ("hostname", "cpu", "cores")}
    benchmarks = data.get("benchmarks", {}) if same_machine else {}
    benchmarks[name] = {
        "ran_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "seconds": round(seconds, 1),
        "load_average_at_start": load_at_start,
        "load_average_at_end": load_average(),
        "figures": figures,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"machine": here, "benchmarks": dict(sorted(benchmarks.items()))}, indent=2) + "\n")
    tmp.replace(path)
