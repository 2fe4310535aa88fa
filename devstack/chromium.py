"""Debian's Chromium as the tests and benchmarks drive it (Playwright, never a browser of its own download).

`devstack up --with-browser` installs it. Headless here needs no sandbox (root), no background networking
(the machine's closed network refuses it), and fake media devices for calls.
"""

EXECUTABLE = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-component-update",
    "--disable-sync", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
]
