"""The signalling relay: one browser WebSocket and its own upstream WebSocket, frame by frame.

- core.py: the relay itself, sans-I/O (framing decisions, closing, fragments, backpressure, stats);
- identity.py: which browser requests claim another user (answered 403 by the core);
- dialogs.py: the dialogs the PBX set up towards each agent, which vouch for in-dialog requests;
- protocols.py: the asyncio protocols and `Relay`, thin adapters that feed the core and do what it says;
- upstream.py: opening the upstream leg (`UpstreamTarget`, `open_upstream`);
- aiohttp_internals.py: the aiohttp internals the take-over of the browser's socket needs, version-checked.

This file imports nothing, so importing the core brings in no I/O library.
"""
