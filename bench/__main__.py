"""`python -m bench [NAME ...]`: run the benchmarks, print their tables, keep their figures.

Each benchmark is a module `bench/NAME.py` with `async def main() -> dict` that prints its own table and returns
every figure as plain JSON data; bench/results/latest.json keeps them (bench/results.py, bench/README.md).
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import time

from . import results

BENCHMARKS = ["archive", "relay", "workers", "sessions", "storm", "webphone", "pbx"]


def run(names: list[str]) -> int:
    failed = []
    for name in names:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bench.{name}":
                raise
            print(f"\n== {name}: no benchmark yet ==")
            continue
        print(f"\n== {name} ==", flush=True)
        started, load = time.monotonic(), results.load_average()
        try:
            figures = asyncio.run(module.main())
        except Exception as exc:  # noqa: BLE001 - report and go on to the next benchmark
            print(f"{name}: FAILED: {type(exc).__name__}: {exc}", flush=True)
            failed.append(name)
            continue
        results.record(name, figures, time.monotonic() - started, load)
        print(f"({name}: figures kept in {results.LATEST.relative_to(results.RESULTS.parent.parent)})", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:] or BENCHMARKS))
