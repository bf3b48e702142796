"""Request bodies are JSON, said so by their content type; an unreadable one says where it breaks.

- A body sent to an operation that takes one must be labelled ``application/json`` (or a
  ``+json`` type, with any ``charset=utf-8``): anything else, or no label, is a ``415`` that
  names the header to send. An app-wide dependency, so every operation with a body complies.
- A body that is not UTF-8, or not JSON, is a ``422`` whose message says which, and where:
  line and column (1-based, the column counted in characters), as editors show them.
"""

from __future__ import annotations

import email.message
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute

from pipepulse.conventions.query import has_body
from pipepulse.errors import UnsupportedMediaType
from pipepulse.schemas import API_PREFIX

JSON_ONLY = (
    "send the body as JSON with the header 'Content-Type: application/json' "
    "(UTF-8; a '+json' type is accepted too)"
)


def takes_json_body(request: Request) -> bool:
    """Is the request for a documented API operation that reads a JSON body?"""
    route = request.scope.get("route")
    return (
        isinstance(route, APIRoute)
        and route.include_in_schema
        and route.path.startswith(API_PREFIX)
        and route.body_field is not None
    )


def content_type_problem(request: Request) -> str | None:
    """What is wrong with the body's content type, or None when it is JSON."""
    value = request.headers.get("content-type")
    if not value:
        return f"the request has a body but no Content-Type header; {JSON_ONLY}"
    message = email.message.Message()
    message["content-type"] = value
    subtype = message.get_content_subtype()
    if message.get_content_maintype() != "application" or not (
        subtype == "json" or subtype.endswith("+json")
    ):
        return f"Content-Type {value[:100]!r} is not accepted; {JSON_ONLY}"
    charset = message.get_param("charset")
    if isinstance(charset, str) and charset.lower() not in ("utf-8", "utf8"):
        return f"charset {charset[:40]!r} is not accepted; {JSON_ONLY}"
    return None


async def json_content_type(request: Request) -> None:
    """App-wide dependency: a body sent to an operation that reads one is labelled JSON (415)."""
    if request.method in ("GET", "HEAD") or not has_body(request) or not takes_json_body(request):
        return
    problem = content_type_problem(request)
    if problem:
        raise UnsupportedMediaType(problem)


def _line_column(text: str, position: int) -> tuple[int, int]:
    before = text[:position]
    line = before.count("\n") + 1
    column = position - (before.rfind("\n") + 1) + 1
    return line, column


def not_json(doc: Any, position: int, reason: str) -> str:
    """The message for a body that is not JSON, from the parser's reason and position."""
    text = doc.decode("utf-8", "replace") if isinstance(doc, bytes | bytearray) else str(doc)
    line, column = _line_column(text, position)
    return (
        f"the body is not valid JSON: {reason.lower()} at line {line}, column {column} "
        f"(character {position + 1}); send a single JSON value"
    )


def not_utf8(exc: UnicodeDecodeError) -> str:
    """The message for a body whose bytes are not UTF-8, with where the first bad byte is."""
    raw = bytes(exc.object)
    before = raw[: exc.start].decode("utf-8", "replace")
    line, column = _line_column(before, len(before))
    byte = raw[exc.start : exc.start + 1].hex()
    return (
        f"the body is not valid UTF-8: byte 0x{byte} at line {line}, column {column} "
        f"(byte offset {exc.start}) cannot be decoded; encode the JSON body as UTF-8"
    )
