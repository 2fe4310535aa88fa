"""Wires the relay and TURN credentials into the app. (Placeholder: filled in by the relay work.)"""

from aiohttp import web


def setup(app: web.Application) -> None:
    pass
