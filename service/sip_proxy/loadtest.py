"""`python -m service loadtest`: simulated agents through the relay. (Being written.)"""

from __future__ import annotations

import argparse


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    pass
