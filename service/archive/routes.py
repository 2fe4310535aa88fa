"""Wires the archive API into the app. (Placeholder: filled in by the archive work.)"""

from aiohttp import web


def setup(app: web.Application) -> None:
    pass
