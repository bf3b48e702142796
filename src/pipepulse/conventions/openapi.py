"""The OpenAPI document states every error an operation can give, with its body (SPEC §4.8).

Derived from what each operation declares, so a new endpoint is documented without extra
work: the bearer scheme (from the auth dependencies) brings 401, 403 and 429; a path
parameter brings 404; a request body brings 413 and 415 (not labelled JSON); every API
operation can give 422 (an unknown query parameter) and 503 (the database is down).
Endpoint-specific errors (409) are declared on the route with
``responses={409: {"description": …}}``; their body is filled in.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from pipepulse.errors import RETRY_AFTER_SECONDS, ErrorBody
from pipepulse.schemas import API_PREFIX

ERROR_SCHEMA = "ErrorBody"

DESCRIPTIONS = {
    401: "No credential, or a wrong or revoked one.",
    403: "The credential is of the wrong kind or lacks the scope.",
    404: "No such resource, or it belongs to an organisation the credential may not see.",
    409: "Conflicts with what is already stored.",
    413: "The request body is larger than PIPEPULSE_MAX_BODY_BYTES.",
    415: "The request body is not labelled 'Content-Type: application/json'.",
    422: "The request is malformed (including a body that is not UTF-8 or not JSON): the detail "
    "lists each problem and where it is.",
    429: "Too many failed authentications from this address; retry after Retry-After seconds.",
    503: "The database is unavailable; retry after Retry-After seconds.",
}

VALIDATION_ERROR: dict[str, Any] = {
    "title": "ValidationError",
    "type": "object",
    "properties": {
        "loc": {
            "type": "array",
            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "description": "Where the problem is: 'body', 'query' or 'path', then the field.",
        },
        "msg": {"type": "string", "description": "What is wrong and how to fix it."},
        "type": {"type": "string", "description": "A machine-readable kind of problem."},
    },
    "required": ["loc", "msg", "type"],
}

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "example": RETRY_AFTER_SECONDS},
    }
}
HEADERS = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    429: RETRY_AFTER,
    503: RETRY_AFTER,
}


# Rules the server enforces that a JSON Schema cannot state (they relate two fields, or the
# request to what is stored). Each is in the operation's ``x-rules`` and its description; a
# request that breaks one is a 422 saying which (or the status given).
_TIMES = "timestamps are ISO 8601 with a timezone (the 'pattern' of each timestamp field)"
_REPORT = [
    "events_by_type, when given, sums to events_delivered",
    "every events_by_type key is one of the connection's event_types, or 'other'",
    "completed_at is not before the run's started_at, and at most 5 minutes after the server's now",
    _TIMES,
]
OPERATION_RULES: dict[str, list[str]] = {
    "create_connection": [
        "event_types are unique, each matches ^[a-z][a-z0-9_]{0,63}$ and is not 'total' or 'other'",
        "config holds no credential-like key (password, secret, token, api_key, …) and is at most "
        "16,384 bytes as compact JSON",
    ],
    "update_connection": [
        "type cannot be changed",
        "event_types are unique, each matches ^[a-z][a-z0-9_]{0,63}$ and is not 'total' or 'other'",
        "config holds no credential-like key and is at most 16,384 bytes as compact JSON",
    ],
    "create_run": [
        "started_at is at most 5 minutes after the server's now",
        "completion fields only together with completed_at",
        *_REPORT,
    ],
    "report_run": _REPORT,
    "report_runs": [
        "each item is judged as the single PATCH would be; its result status is 204 (recorded or an "
        "identical repeat), 404 (unknown organisation, connection or run), 409 (a different report "
        "is stored) or 422 (malformed, or a rule broken; detail is the {loc, msg, type} list)",
        *_REPORT,
    ],
    "get_status_history": ["from is before to; to is not after the server's now", _TIMES],
    "get_connection_metrics": ["timestamp_from is before timestamp_to", "at most 10,000 buckets", _TIMES],
    "get_bulk_metrics": ["timestamp_from is before timestamp_to", _TIMES],
    "post_bulk_metrics": ["timestamp_from is before timestamp_to", _TIMES],
    "create_channel": [
        "url is an absolute http(s) URL with a host and a port between 1 and 65535",
        "url's host resolves only to public internet addresses (unless the operator set "
        "PIPEPULSE_ALERTS_ALLOW_PRIVATE_URLS)",
    ],
    "set_heartbeat": [
        "the channel's kind takes heartbeats: webhook, slack, msteams or alertmanager (a pagerduty or "
        "email channel is a 422 saying why)",
    ],
    "create_rule": [
        "channel_id names an alert channel of this organisation",
        "connection_ids, when given, name connections of this organisation",
        "no identical rule exists (same channel, events, connections and min_duration_seconds): 409",
    ],
}
OPERATION_RULES["platform_create_channel"] = OPERATION_RULES["create_channel"]
OPERATION_RULES["platform_create_rule"] = [
    "channel_id names a platform alert channel",
    "connection_ids, when given, name connections of any organisation",
    "no identical platform rule exists (same channel, events, connections and grouping): 409",
]
EXTRA_ERRORS: dict[str, dict[int, str]] = {
    "create_rule": {409: "An identical rule already exists for this organisation."},
    "platform_create_rule": {409: "An identical platform rule already exists."},
}


def document_rules(operation: dict[str, Any]) -> None:
    """Add the operation's cross-field rules (x-rules, description) and the errors they give."""
    operation_id = operation.get("operationId", "")
    rules = OPERATION_RULES.get(operation_id)
    if rules:
        operation["x-rules"] = list(rules)
        text = "Rules the server enforces beyond the schema:\n" + "\n".join(f"- {rule}" for rule in rules)
        description = operation.get("description", "")
        operation["description"] = f"{description}\n\n{text}" if description else text
    for status, description in EXTRA_ERRORS.get(operation_id, {}).items():
        operation["responses"].setdefault(str(status), _error_response(status, description))


def _error_response(status: int, description: str | None = None) -> dict[str, Any]:
    schema = "HTTPValidationError" if status == 422 else ERROR_SCHEMA
    response: dict[str, Any] = {
        "description": description or DESCRIPTIONS.get(status, "Error."),
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }
    if status in HEADERS:
        response["headers"] = HEADERS[status]
    return response


def operation_errors(path: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses an operation can give by what it declares."""
    codes = {422, 503}
    if operation.get("security"):
        codes |= {401, 403, 429}
    if "{" in path:
        codes.add(404)
    if "requestBody" in operation:
        codes |= {413, 415}
    return codes


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas[ERROR_SCHEMA] = ErrorBody.model_json_schema()
    # The 422 body as errors.install_handlers renders it (FastAPI's own adds `input`, `ctx`).
    schemas["ValidationError"] = VALIDATION_ERROR
    schemas["HTTPValidationError"] = {
        "title": "HTTPValidationError",
        "type": "object",
        "properties": {
            "detail": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}}
        },
        "required": ["detail"],
    }
    for path, item in schema.get("paths", {}).items():
        if not path.startswith(API_PREFIX):
            continue
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            document_rules(operation)
            responses: dict[str, Any] = operation["responses"]
            for code, response in list(responses.items()):
                # A route that declares an error with only a description gets the error body.
                if code.isdigit() and int(code) >= 400 and "content" not in response:
                    responses[code] = _error_response(int(code), response.get("description"))
            for status in sorted(operation_errors(path, operation)):
                responses.setdefault(str(status), _error_response(status))
            operation["responses"] = dict(sorted(responses.items()))
    return schema


def install(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
