"""The SIP-over-WebSocket relay, webphone session keys and TURN credentials."""
