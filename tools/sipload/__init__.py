"""The SIP load tester: simulated agents registering and calling through the relay (a tool, not the service)."""
