"""The project's `.env`: made once with fresh secrets, then read like the service reads it."""

from __future__ import annotations

import secrets

from service.runtime import environment as _environment

from .paths import DOTENV

TEMPLATE = """\
# Made by `make` for the local stack ({path}); edit freely, it is not overwritten.
# Every variable is described in README.md and .env.example.
HOST=127.0.0.1
PORT=8080
DATABASE_URL=mysql://omnisense:{db_password}@127.0.0.1:3306/asterisk
# The demo answers at any hour; production keeps the default (mon-fri 08:00-17:00) or a ViciDial call time.
OFFICE_HOURS=none
SIP_UPSTREAM=ws://127.0.0.1:8088
AUTH_KEY_SECRET={auth_key_secret}
TURN_SECRET={turn_secret}
TURN_PORT=3478
ICE_TRANSPORT_POLICY=all
"""


def ensure() -> None:
    if DOTENV.exists():
        return
    DOTENV.write_text(
        TEMPLATE.format(
            path=DOTENV.name,
            db_password=secrets.token_urlsafe(12),
            auth_key_secret=secrets.token_urlsafe(32),
            turn_secret=secrets.token_urlsafe(32),
        )
    )
    print(f"devstack: wrote {DOTENV} with fresh secrets", flush=True)


def environment() -> dict[str, str]:
    """`.env` under `os.environ` (the environment wins), as `python -m service` reads it."""
    return _environment(str(DOTENV))
