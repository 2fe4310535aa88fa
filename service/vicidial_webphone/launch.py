"""The query ViciDial's agent screen (`agc/vicidial.php`) puts on its "Webphone URL", decoded. Pure, no I/O.

vicidial.php appends `phone_login` (twice), `phone_pass`, `server_ip`, `callerid`, `protocol`, `codecs`,
`options` and `system_key`, each PHP `base64_encode`d and **not URL-encoded**: a `+` inside a value reaches the
server as a space once the query is decoded, so a space is turned back into `+` before base64 decoding. The raw
query string is parsed here (a framework's query mapping would already have turned `+` into a space).

`options` carries ViciPhone's tokens, `--`-separated after `INITIAL_LOAD`; `parse_options` reads the ones the
page follows (README, "Using it as ViciDial's webphone").
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from urllib.parse import unquote_plus

FIELDS = ("phone_login", "phone_pass", "server_ip", "callerid", "protocol", "codecs", "options", "system_key")
NONEMPTY = ("phone_login", "phone_pass", "server_ip", "protocol")
MAX_QUERY = 16 * 1024
MAX_VALUE = 8 * 1024
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_SESSION = re.compile(r"SESSION([0-9]{1,20})")


class LaunchError(ValueError):
    """The query is not one vicidial.php builds: a value missing, repeated, or not base64 text."""


@dataclasses.dataclass(frozen=True, slots=True)
class Launch:
    phone_login: str
    phone_pass: str = dataclasses.field(repr=False)
    server_ip: str
    callerid: str
    protocol: str
    codecs: str
    options: str
    system_key: str = dataclasses.field(repr=False)


def query_pairs(raw_query: str) -> list[tuple[str, str]]:
    """The (name, value) pairs of a raw query string, values with a space (an unencoded `+`) restored to `+`."""
    pairs = []
    for item in raw_query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((unquote_plus(name), unquote_plus(value).replace(" ", "+")))
    return pairs


def same_query(a: str, b: str) -> bool:
    """Whether two raw query strings carry the same values, whatever their order or the spelling of a `+`."""
    return sorted(query_pairs(a)) == sorted(query_pairs(b))


def _decode(name: str, value: str) -> str:
    if len(value) > MAX_VALUE or not _BASE64.fullmatch(value) or len(value) % 4:
        raise LaunchError(f"{name} is not base64")
    try:
        text = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise LaunchError(f"{name} is not base64 of UTF-8 text") from None
    if any(c in text for c in "\r\n\0"):
        raise LaunchError(f"{name} holds a line break or NUL")
    return text


def parse_launch(raw_query: str) -> Launch:
    """The launch's decoded values, or LaunchError. `phone_login` may come twice (it does), with one value."""
    if len(raw_query) > MAX_QUERY:
        raise LaunchError("the query is too long")
    values: dict[str, str] = {}
    for name, value in query_pairs(raw_query):
        if name not in FIELDS:
            continue
        if name in values and not (name == "phone_login" and values[name] == value):
            raise LaunchError(f"{name} is given more than once")
        values[name] = value
    missing = [name for name in FIELDS if name not in values]
    if missing:
        raise LaunchError(f"missing: {', '.join(missing)}")
    decoded = {name: _decode(name, values[name]) for name in FIELDS}
    empty = [name for name in NONEMPTY if not decoded[name]]
    if empty:
        raise LaunchError(f"empty: {', '.join(empty)}")
    return Launch(**decoded)


@dataclasses.dataclass(frozen=True, slots=True)
class Options:
    """What the page does with ViciPhone's `options` (defaults: everything shown, auto-answer off)."""

    dialpad: str = "shown"  # shown | hidden | toggle-shown | toggle-hidden
    auto_answer: bool = False
    mute: bool = True
    volume: bool = True
    dialbox: bool = True
    debug: bool = False
    session: str | None = None  # the agent's conference (SESSION<n>)
    auto_gain: bool | None = None  # None: the browser's default
    echo_cancellation: bool | None = None
    noise_suppression: bool | None = None
    dial_reg_exten: bool = False

    def page(self) -> dict[str, object]:
        """The options as the page reads them (JSON)."""
        return {
            "dialpad": self.dialpad, "autoAnswer": self.auto_answer, "mute": self.mute, "volume": self.volume,
            "dialbox": self.dialbox, "debug": self.debug, "autoGain": self.auto_gain,
            "echoCancellation": self.echo_cancellation, "noiseSuppression": self.noise_suppression,
        }


_DIALPAD = {"DIALPAD_Y": "shown", "DIALPAD_N": "hidden", "DIALPAD_TOGGLE": "toggle-shown",
            "DIALPAD_OFF_TOGGLE": "toggle-hidden"}
_SETTING_FLAGS = {"autoGain": "auto_gain", "echoCan": "echo_cancellation", "noiseSup": "noise_suppression"}


def parse_settings(text: str) -> dict[str, str]:
    """A settings container as ViciDial copies it into `SETTINGS`: `key: value` lines joined by the two
    characters backslash and n (real line breaks are read too)."""
    settings: dict[str, str] = {}
    for line in text.replace("\\n", "\n").splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and key and not key.startswith(("#", ";")):
            settings[key] = value.strip().strip("'\"")
    return settings


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    if value.strip() in ("1", "true", "TRUE", "Y", "y", "yes"):
        return True
    if value.strip() in ("0", "false", "FALSE", "N", "n", "no"):
        return False
    return None


def parse_options(text: str) -> Options:
    """ViciPhone's `options` tokens; WEBSOCKETURL, WEBPHONELAYOUT and unknown tokens are ignored."""
    fields: dict[str, object] = {}
    for token in text.split("--"):
        token = token.strip()
        if token in _DIALPAD:
            fields["dialpad"] = _DIALPAD[token]
        elif token in ("AUTOANSWER_Y", "AUTOANSWER_N"):
            fields["auto_answer"] = token == "AUTOANSWER_Y"
        elif token in ("MUTE_Y", "MUTE_N", "VOLUME_Y", "VOLUME_N", "DIALBOX_Y", "DIALBOX_N"):
            control, _, answer = token.partition("_")
            fields[control.lower()] = answer == "Y"
        elif token == "DEBUG":
            fields["debug"] = True
        elif match := _SESSION.fullmatch(token):
            fields["session"] = match.group(1)
        elif token.startswith("SETTINGS"):
            settings = parse_settings(token.removeprefix("SETTINGS"))
            for key, field in _SETTING_FLAGS.items():
                fields[field] = _flag(settings.get(key))
            fields["dial_reg_exten"] = _flag(settings.get("dialRegExten")) is True
    return Options(**fields)  # type: ignore[arg-type]


def conference_number(options: Options, conf_engine: str) -> str | None:
    """What the page dials once registered: the agent's conference when `dialRegExten` is on, with the
    ConfBridge agent prefix `2` on a CONFBRIDGE server (the bare room is where customers enter)."""
    if not options.dial_reg_exten or options.session is None:
        return None
    return ("2" if conf_engine.upper() == "CONFBRIDGE" else "") + options.session
