"""Earlier path of the invocation body, kept so loaders written against it keep working.

The body is part of the wire contract: import it from :mod:`pipepulse.wire.invocation`.
"""

from pipepulse.wire.invocation import RUN_ID_PATTERN, InvalidJob, LoaderJob

__all__ = ["RUN_ID_PATTERN", "InvalidJob", "LoaderJob"]
