"""The archive API's OpenAPI 3.1 document, served at `GET /vicidial/leads/archive/openapi.json`."""

from __future__ import annotations

from typing import Any

from .archiver import SUCCESS_MESSAGE
from .request import MAX_LEAD_IDS

PATH = "/vicidial/leads/archive"

REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["insert_leads", "update_leads", "delete_leads", "lead_ids"],
    "properties": {
        "insert_leads": {"type": "boolean", "description": "Copy leads the archive does not have yet."},
        "update_leads": {"type": "boolean", "description": "Bring archived copies up to date with vicidial_list."},
        "delete_leads": {
            "type": "boolean",
            "description": "Delete from vicidial_list the leads whose archived copy equals them in every column.",
        },
        "lead_ids": {
            "type": "array",
            "items": {"type": "integer", "minimum": 0},
            "minItems": 1,
            "maxItems": MAX_LEAD_IDS,
            "uniqueItems": True,
            "description": f"At most {MAX_LEAD_IDS} distinct lead ids, all in vicidial_list.",
        },
    },
    "example": {"insert_leads": True, "update_leads": True, "delete_leads": True, "lead_ids": [0, 1]},
}

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

_RESULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["message", "select_count", "insert_count", "update_count", "delete_count", "status"],
    "properties": {
        "message": {"type": "string", "const": SUCCESS_MESSAGE},
        "select_count": {"type": "integer", "description": "Requested ids found in vicidial_list."},
        "insert_count": {"type": "integer", "description": "Rows added to vicidial_list_archive."},
        "update_count": {"type": "integer",
                         "description": "Archived rows that differed and now match vicidial_list."},
        "delete_count": {"type": "integer", "description": "Rows deleted from vicidial_list."},
        "not_deleted_lead_ids": {
            "type": "array", "items": {"type": "integer"},
            "description": "Leads asked to be deleted whose archived copy did not match (e.g. changed meanwhile).",
        },
        "status": {"type": "integer", "const": 200},
    },
}


def _response(description: str, schema: dict[str, Any], example: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema, "example": example}}}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ViciDial Lead Archive API",
            "version": "1.0.0",
            "description": "Moves leads from vicidial_list to vicidial_list_archive: insert, then update, then a"
                           " safe delete. Runs outside office hours only.",
        },
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "Authorization",
                           "description": "`Authorization: Key=YOUR_API_KEY`"},
            },
        },
        "security": [{"apiKey": []}],
        "paths": {
            PATH: {
                "post": {
                    "operationId": "archiveLeads",
                    "summary": "Archive a batch of leads",
                    "requestBody": {"required": True,
                                    "content": {"application/json": {"schema": REQUEST_SCHEMA}}},
                    "responses": {
                        "200": _response("The batch was processed.", _RESULT_SCHEMA, {
                            "message": SUCCESS_MESSAGE, "select_count": 2, "insert_count": 2,
                            "update_count": 0, "delete_count": 2, "status": 200}),
                        "400": _response("A field is wrong, or lead ids do not exist; nothing changed.",
                                         _ERROR_SCHEMA, {
                            "message": "lead_ids does not exist", "lead_errors": 1, "lead_ids": [0], "status": 400}),
                        "401": _response("The API key is missing or not accepted.", _MESSAGE_SCHEMA, {
                            "message": "unable to validate api user", "status": 401}),
                        "403": _response("Office hours: the API does not run now.", _MESSAGE_SCHEMA, {
                            "message": "api cannot be executed during office hours time condition", "status": 403}),
                        "500": _response(
                            "The body is not JSON or not a JSON object (the message says where), the archive"
                            " table does not match vicidial_list (nothing changed), or the database failed"
                            " (no lead was deleted without a matching archive copy; send the request again).",
                            _ERROR_SCHEMA, {
                                "message": "request body is not valid JSON: Expecting value at line 1, position 14",
                                "lead_errors": 0, "lead_ids": [], "status": 500}),
                    },
                },
            },
            f"{PATH}/openapi.json": {
                "get": {"operationId": "archiveOpenApi", "summary": "This document", "security": [],
                        "responses": {"200": {"description": "OpenAPI 3.1 JSON"}}},
            },
        },
    }
