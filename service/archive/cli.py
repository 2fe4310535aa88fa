"""`python -m service api-key NAME`. (Placeholder: filled in by the archive work.)"""

import argparse


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    pass
