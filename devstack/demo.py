"""What `make run` prints: two ready webphone URLs (demo agents who can call each other) and a curl."""

from __future__ import annotations

import hashlib
import secrets


def announce(env: dict[str, str]) -> dict[str, str]:
    """Print the demo's URLs and curl; return the environment the service should run with."""
    key = secrets.token_urlsafe(32)
    entry = f"make-run:{hashlib.sha256(key.encode()).hexdigest()}"
    keys = ",".join(k for k in (env.get("ARCHIVE_API_KEYS", ""), entry) if k)
    host, port = env.get("HOST", "127.0.0.1"), env.get("PORT", "8080")
    base = f"http://{host}:{port}"
    print(
        "\n"
        "Archive API (a key made for this run):\n"
        f"  curl -X POST {base}/vicidial/leads/archive \\\n"
        f"    -H 'Authorization: Key={key}' -H 'Content-Type: application/json' \\\n"
        "    -d '{\"insert_leads\": true, \"update_leads\": true, \"delete_leads\": true, \"lead_ids\": [1, 2]}'\n",
        flush=True,
    )
    return {"ARCHIVE_API_KEYS": keys}
