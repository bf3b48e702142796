"""Earlier path of the webhook signature, kept so receivers written against it keep working.

The signature is part of the wire contract: import it from
:mod:`pipepulse.wire.webhook_signature`.
"""

from pipepulse.wire.webhook_signature import (
    DEFAULT_TOLERANCE_S,
    NOTIFICATION_ID_HEADER,
    SIGNATURE_HEADER,
    InvalidWebhookSignature,
    MalformedSignatureHeader,
    WebhookSignatureError,
    signature_header,
    verify,
)

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "NOTIFICATION_ID_HEADER",
    "SIGNATURE_HEADER",
    "InvalidWebhookSignature",
    "MalformedSignatureHeader",
    "WebhookSignatureError",
    "signature_header",
    "verify",
]
