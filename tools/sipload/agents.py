"""SIP passwords of the local stack's agents (devstack Kamailio, the demo URLs, the load tester).

Kamailio computes the same password from the agent's name, so any number of agents register without
per-agent set-up (devstack/kamailio/kamailio.cfg, route[AUTH]):

    agent_secret = hex(HMAC-SHA256(AUTH_KEY_SECRET, "omnisense-devstack-sip-agents"))
    password     = hex(SHA-256(agent_secret + ":" + username))[:24]

Kamailio is given only `agent_secret`, never AUTH_KEY_SECRET itself. A real PBX has its own passwords.
"""

from __future__ import annotations

import hashlib
import hmac

REALM = "omnisense"


def agent_secret(auth_key_secret: str) -> str:
    return hmac.new(auth_key_secret.encode(), b"omnisense-devstack-sip-agents", hashlib.sha256).hexdigest()


def agent_password(secret: str, username: str) -> str:
    """The password of `username`, given `agent_secret(...)`."""
    return hashlib.sha256(f"{secret}:{username}".encode()).hexdigest()[:24]
