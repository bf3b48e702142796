"""Earlier path of the invocation signature, kept so loaders written against it keep working.

The signature is part of the wire contract: import it from
:mod:`pipepulse.wire.invocation_signature`.
"""

from pipepulse.wire.invocation_signature import (
    DEFAULT_TOLERANCE_S,
    EmptySigningSecret,
    InvalidSignature,
    MalformedSignature,
    expected_signature,
    verify,
)

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "EmptySigningSecret",
    "InvalidSignature",
    "MalformedSignature",
    "expected_signature",
    "verify",
]
