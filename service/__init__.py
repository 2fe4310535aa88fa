"""OmniSense Gateway: the TForge OmniSense Webphone, its SIP relay and TURN credentials, and the
ViciDial Lead Archive API, in one aiohttp service."""

__version__ = "0.1.0"

from . import compiled

# Before anything imports the relay: its per-message modules compiled from these very sources, if built.
COMPILED = compiled.install()
