"""The archive and dearchive request body: JSON text in, an `ArchiveRequest` or the documented error out.

Checks run in the documented order (README, "Order of checks") and the first failure answers: insert_leads,
update_leads, delete_leads (booleans; the dearchive has no update_leads and ignores one sent), then lead_ids
(integers only, at least 1, at most ARCHIVE_MAX_LEADS, no duplicates). Whether the ids exist is asked of the
database later. Integers are JSON integers: "7", 7.0, true, null, arrays and objects in lead_ids are type
errors, reported back as given. An object naming a key twice is refused, as JSON that cannot be read
unambiguously.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable
from typing import Any

from .direction import TO_ARCHIVE, Direction
from .errors import InvalidRequest, UnreadableBody

MAX_LEAD_IDS = 500
"""ARCHIVE_MAX_LEADS's default."""
FLAGS = TO_ARCHIVE.flags
# Python refuses to turn longer digit strings into ints (sys.get_int_max_str_digits); no lead id is that long.
_MAX_INT_DIGITS = 4000
# JSON's strings, numbers and the constants json.loads also accepts: scanning these tokens from the start finds
# where a token the parser's hooks were given stands, never inside a string.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|NaN|-?Infinity|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?')


@dataclasses.dataclass(frozen=True, slots=True)
class ArchiveRequest:
    insert_leads: bool
    update_leads: bool
    delete_leads: bool
    lead_ids: tuple[int, ...]


def parse_request(raw: bytes, direction: Direction = TO_ARCHIVE, max_leads: int = MAX_LEAD_IDS) -> ArchiveRequest:
    """Validate a request body, raising `UnreadableBody` (500) or `InvalidRequest` (400)."""
    return validate(decode_json(raw), direction, max_leads)


def decode_json(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or `UnreadableBody` whose message says what is wrong and where."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableBody(f"request body is not UTF-8 text: byte {exc.start + 1} cannot be decoded") from None
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise UnreadableBody("request body is empty: expected a JSON object such as"
                             ' {"insert_leads": true, "update_leads": true, "delete_leads": true, "lead_ids": [1]}')
    try:
        value = json.loads(text, parse_constant=_reject_constant(text), parse_int=_parse_int(text),
                           parse_float=_parse_float(text), object_pairs_hook=_object_without_duplicates)
    except json.JSONDecodeError as exc:
        found = f" (found {exc.doc[exc.pos]!r})" if exc.pos < len(exc.doc) and not exc.doc[exc.pos].isspace() else ""
        raise UnreadableBody(f"request body is not valid JSON: {exc.msg} at line {exc.lineno},"
                             f" position {exc.colno}{found}") from None
    except RecursionError:
        raise UnreadableBody("request body is not readable JSON: it is nested too deeply") from None
    except _DuplicateKey:
        key, index = _first_duplicate_key(text)
        raise UnreadableBody(f"request body is not valid JSON: the key {json.dumps(key, ensure_ascii=False)}"
                             f" appears twice in one object, at {_where(text, index)} the second time") from None
    if not isinstance(value, dict):
        start = len(text) - len(text.lstrip())
        raise UnreadableBody(f"request body must be a JSON object, got {_json_kind(value)} at {_where(text, start)}")
    return value


def validate(body: dict[str, Any], direction: Direction = TO_ARCHIVE, max_leads: int = MAX_LEAD_IDS) -> ArchiveRequest:
    """Check `direction`'s fields in the documented order; the first failure raises `InvalidRequest`."""
    for flag in direction.flags:
        if type(body.get(flag)) is not bool:
            raise InvalidRequest(f"{flag} must be a boolean value")
    lead_ids = body.get("lead_ids")
    if lead_ids is not None and not isinstance(lead_ids, list):
        raise InvalidRequest("lead_ids must only contain integer values", [lead_ids])
    lead_ids = lead_ids or []
    # bool is an int subclass in Python; JSON true is not an integer.
    wrong = [value for value in lead_ids if type(value) is not int]
    if wrong:
        raise InvalidRequest("lead_ids must only contain integer values", wrong)
    if not lead_ids:
        raise InvalidRequest("lead_ids must contain atleast 1 value")
    if len(lead_ids) > max_leads:
        raise InvalidRequest(f"lead_ids cannot exceed {max_leads} values")
    seen: set[int] = set()
    duplicates: dict[int, None] = {}  # each duplicated id once, in order of its second appearance
    for lead_id in lead_ids:
        if lead_id in seen:
            duplicates[lead_id] = None
        seen.add(lead_id)
    if duplicates:
        raise InvalidRequest("lead_ids cannot contain duplicate values", list(duplicates))
    return ArchiveRequest(body["insert_leads"], direction.updates and body["update_leads"], body["delete_leads"],
                          tuple(lead_ids))


class _DuplicateKey(Exception):
    """An object names a key twice (json.loads would keep the last silently)."""


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise _DuplicateKey
    return value


def _first_duplicate_key(text: str) -> tuple[str, int]:
    """The first key, in reading order, that its object already had, and where it stands.

    Only called on text json.loads read up to a duplicate key, so the structure up to there is valid: a string
    directly after `{` or `,` inside an object is a key.
    """
    objects: list[set[str] | None] = []  # per open bracket: the keys so far, or None for an array
    expecting_key = False
    for match in _STRUCTURE.finditer(text):
        token = match[0]
        if token == "{":
            objects.append(set())
            expecting_key = True
        elif token == "[":
            objects.append(None)
            expecting_key = False
        elif token in "]}":
            objects.pop()
            expecting_key = False
        elif token == ",":
            expecting_key = bool(objects) and objects[-1] is not None
        elif token.startswith('"') and expecting_key:
            keys = objects[-1]
            assert keys is not None
            key = json.loads(token)
            if key in keys:
                return key, match.start()
            keys.add(key)
            expecting_key = False
        else:
            expecting_key = False
    raise AssertionError("json.loads found a duplicate key that the scan did not")  # pragma: no cover


_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],]')


def _where(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    position = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"line {line}, position {position}"


def _token_index(text: str, token: str) -> int:
    """Where `token` (a number or constant a json.loads hook was given) first stands outside strings.

    The parser goes left to right and a hook raises at the first bad token, so the first one equal to it
    is the one the parser was at."""
    return next((m.start() for m in _TOKEN.finditer(text) if m[0] == token), 0)


def _reject_constant(text: str) -> Callable[[str], Any]:  # a json.loads hook
    def reject(name: str) -> Any:
        # json.loads accepts NaN and Infinity, which JSON does not.
        raise json.JSONDecodeError(f"{name} is not a JSON value", text, _token_index(text, name))

    return reject


def _parse_int(text: str) -> Callable[[str], int]:  # a json.loads hook
    def parse(digits: str) -> int:
        if len(digits) > _MAX_INT_DIGITS:
            raise json.JSONDecodeError(f"an integer of {len(digits)} digits is too long", text,
                                       _token_index(text, digits))
        return int(digits)

    return parse


def _parse_float(text: str) -> Callable[[str], float]:  # a json.loads hook
    def parse(number: str) -> float:
        value = float(number)
        # 1e400 becomes inf, which an answer reporting it back could only write as Infinity: not JSON.
        if not math.isfinite(value):
            raise json.JSONDecodeError(f"the number {number} is out of range", text, _token_index(text, number))
        return value

    return parse


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"
