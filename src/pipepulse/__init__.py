"""pipepulse: health telemetry for data-delivery pipelines."""

__version__ = "0.1.0"
