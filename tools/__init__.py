"""Tools that drive the service from outside; not part of it."""
