"""The OpenAPI 3.1 document of the archive and dearchive APIs, served at `GET /vicidial/leads/archive/openapi.json`.

The request schemas carry the configured ARCHIVE_MAX_LEADS, so the served document says what the service accepts.
"""

from __future__ import annotations

from typing import Any

from .archiver import SUCCESS_MESSAGE
from .direction import FROM_ARCHIVE, TO_ARCHIVE, Direction
from .request import MAX_LEAD_IDS

PATH = "/vicidial/leads/archive"
DEARCHIVE_PATH = "/vicidial/leads/dearchive"
PATHS = {TO_ARCHIVE: PATH, FROM_ARCHIVE: DEARCHIVE_PATH}

_FLAG_DESCRIPTIONS = {
    TO_ARCHIVE: {
        "insert_leads": "Copy leads the archive does not have yet.",
        "update_leads": "Bring archived copies up to date with vicidial_list.",
        "delete_leads": "Delete from vicidial_list the leads whose archived copy equals them in every column.",
    },
    FROM_ARCHIVE: {
        "insert_leads": "Copy archived leads back into vicidial_list, where it does not have them yet (a lead"
                        " already there is never overwritten).",
        "delete_leads": "Delete from the archive the leads whose copy in vicidial_list equals them in every column.",
    },
}


def request_schema(direction: Direction = TO_ARCHIVE, max_leads: int = MAX_LEAD_IDS) -> dict[str, Any]:
    """The body `direction`'s route accepts with this ARCHIVE_MAX_LEADS."""
    descriptions = _FLAG_DESCRIPTIONS[direction]
    properties: dict[str, Any] = {
        flag: {"type": "boolean", "description": descriptions[flag]} for flag in direction.flags
    }
    properties["lead_ids"] = {
        "type": "array",
        "items": {"type": "integer", "minimum": 0},
        "minItems": 1,
        "maxItems": max_leads,
        "uniqueItems": True,
        "description": f"At most {max_leads} distinct lead ids, all in {direction.source}.",
    }
    return {
        "type": "object",
        "required": [*direction.flags, "lead_ids"],
        "properties": properties,
        "example": {**dict.fromkeys(direction.flags, True), "lead_ids": [0, 1]},
    }


REQUEST_SCHEMA = request_schema()

_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["message", "lead_errors", "lead_ids", "status"],
    "properties": {
        "message": {"type": "string"},
        "lead_errors": {"type": "integer", "description": "How many values lead_ids lists."},
        "lead_ids": {"type": "array", "description": "The offending values, as they were given."},
        "columns": {"type": "array", "items": {"type": "string"},
                    "description": "On a schema mismatch: the columns that differ."},
        "status": {"type": "integer"},
    },
}

_MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["message", "status"],
    "properties": {"message": {"type": "string"}, "status": {"type": "integer"}},
}

def _result_schema(direction: Direction) -> dict[str, Any]:
    counts = {
        "select_count": f"Requested ids found in {direction.source}.",
        "insert_count": f"Rows added to {direction.destination}.",
    }
    if direction.updates:
        counts["update_count"] = "Archived rows that differed and now match vicidial_list."
    counts["delete_count"] = f"Rows deleted from {direction.source}."
    return {
        "type": "object",
        "required": ["message", *counts, "status"],
        "properties": {
            "message": {"type": "string", "const": SUCCESS_MESSAGE},
            **{name: {"type": "integer", "description": text} for name, text in counts.items()},
            "not_deleted_lead_ids": {
                "type": "array", "items": {"type": "integer"},
                "description": f"Leads asked to be deleted whose copy in {direction.destination} did not match"
                               " (e.g. changed meanwhile); they stay where they were.",
            },
            "status": {"type": "integer", "const": 200},
        },
    }


def _response(description: str, schema: dict[str, Any], example: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema, "example": example}}}


def _operation(direction: Direction, max_leads: int) -> dict[str, Any]:
    archive = direction is TO_ARCHIVE
    example = {"message": SUCCESS_MESSAGE, "select_count": 2, "insert_count": 2,
               **({"update_count": 0} if direction.updates else {}), "delete_count": 2, "status": 200}
    responses = {
        "200": _response("The batch was processed.", _result_schema(direction), example),
        "400": _response(
            f"A field is wrong (at most {max_leads} lead ids), or lead ids are not in {direction.source};"
            " nothing changed.", _ERROR_SCHEMA,
            {"message": "lead_ids does not exist", "lead_errors": 1, "lead_ids": [0], "status": 400}),
        "401": _response("The API key is missing or not accepted.", _MESSAGE_SCHEMA, {
            "message": "unable to validate api user", "status": 401}),
        "403": _response("Office hours: the API does not run now.", _MESSAGE_SCHEMA, {
            "message": "api cannot be executed during office hours time condition", "status": 403}),
        "408": _response("The body did not arrive in time; the connection is closed.", _ERROR_SCHEMA, {
            "message": "request body was not received within 10 s", "lead_errors": 0, "lead_ids": [],
            "status": 408}),
        "500": _response(
            "The body is not JSON or not a JSON object, or names a key twice (the message says where), the"
            " archive table does not match vicidial_list (nothing changed), or the database failed (no lead was"
            " deleted without a matching copy; send the request again).",
            _ERROR_SCHEMA, {
                "message": "request body is not valid JSON: Expecting value at line 1, position 14",
                "lead_errors": 0, "lead_ids": [], "status": 500}),
    }
    if not archive:
        del responses["403"]
    return {
        "operationId": "archiveLeads" if archive else "dearchiveLeads",
        "summary": "Archive a batch of leads" if archive else "Bring a batch of archived leads back",
        "description": (
            "Insert into vicidial_list_archive, then update it, then delete from vicidial_list the leads whose"
            " archived copy equals them in every column. Refused during office hours." if archive else
            "Insert into vicidial_list the archived leads it does not have, then delete from the archive the"
            " leads whose copy in vicidial_list equals them in every column. Runs at any hour."),
        "requestBody": {"required": True,
                        "content": {"application/json": {"schema": request_schema(direction, max_leads)}}},
        "responses": responses,
    }


def document(max_leads: int = MAX_LEAD_IDS) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ViciDial Lead Archive API",
            "version": "1.1.0",
            "description": "Moves leads from vicidial_list to vicidial_list_archive (insert, update, safe delete;"
                           " outside office hours only) and back (insert, safe delete; at any hour).",
        },
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "Authorization",
                           "description": "`Authorization: Key=YOUR_API_KEY`"},
            },
        },
        "security": [{"apiKey": []}],
        "paths": {
            PATH: {"post": _operation(TO_ARCHIVE, max_leads)},
            DEARCHIVE_PATH: {"post": _operation(FROM_ARCHIVE, max_leads)},
            f"{PATH}/openapi.json": {
                "get": {"operationId": "archiveOpenApi", "summary": "This document", "security": [],
                        "responses": {"200": {"description": "OpenAPI 3.1 JSON"}}},
            },
        },
    }
