"""`python -m bench [NAME ...]`: run the benchmarks and print their tables.

Each benchmark is a module `bench/NAME.py` with `async def main() -> None` that prints its own table.
"""

from __future__ import annotations

import asyncio
import importlib
import sys

BENCHMARKS = ["archive", "relay", "webphone", "pbx"]


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
        try:
            asyncio.run(module.main())
        except Exception as exc:  # noqa: BLE001 - report and go on to the next benchmark
            print(f"{name}: FAILED: {type(exc).__name__}: {exc}", flush=True)
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:] or BENCHMARKS))
