"""A text column stored encrypted (SPEC §7.5), clear in Python: see :mod:`pipepulse.secretbox`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from pipepulse import secretbox


class SealedText(TypeDecorator[str]):
    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:  # noqa: ARG002
        if value is None or secretbox.is_sealed(value):
            return value
        return secretbox.seal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:  # noqa: ARG002
        if value is None:
            return None
        return secretbox.open_or_keep(str(value))
