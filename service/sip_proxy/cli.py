"""`python -m service webphone-url ...` and `loadtest`. (Placeholder: filled in by the relay work.)"""

import argparse


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    pass
