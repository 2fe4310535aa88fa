"""Debian's Firefox ESR as the tests drive it: headless over WebDriver BiDi (puppeteer-core, no download).

`devstack up --with-browser` installs it next to Chromium. The preferences give it fake media devices
without a permission prompt, and let ICE use loopback addresses: without that Firefox gathers no relay
candidate from the local coturn on 127.0.0.1 (a test-stack setting, never a product one).
"""

EXECUTABLE = "/usr/bin/firefox-esr"
PREFS: dict[str, bool | int | str] = {
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "media.peerconnection.ice.loopback": True,
}
