"""Reading an OpenLineage request body: JSON, possibly gzip-compressed, never unbounded."""

from __future__ import annotations

import json
import zlib
from typing import Any

from pipepulse.errors import AppError, Invalid, UnsupportedMediaType


class TooLarge(AppError):
    status_code = 413


def _inflate(raw: bytes, limit: int) -> bytes:
    # wbits 16+MAX_WBITS: gzip framing only. max_length bounds what one call may produce, so a
    # small body that inflates to gigabytes (a "zip bomb") is refused after `limit` bytes.
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise Invalid(f"the body says Content-Encoding: gzip but is not valid gzip ({exc})") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise TooLarge(
            f"the body inflates to more than {limit} bytes (PIPEPULSE_MAX_BODY_BYTES); "
            "send fewer events per request"
        )
    if not inflater.eof:
        raise Invalid("the gzip body is truncated")
    return out


def decode(raw: bytes, *, content_type: str, content_encoding: str, limit: int) -> Any:
    """The JSON value of a request body, or the 4xx that says what to fix."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise UnsupportedMediaType(
            f"send OpenLineage events as 'Content-Type: application/json' (got {media or 'none'!r})"
        )
    encoding = content_encoding.strip().lower()
    if encoding == "gzip":
        raw = _inflate(raw, limit)
    elif encoding not in ("", "identity"):
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported; use gzip or none")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid(f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Invalid(f"the body is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
