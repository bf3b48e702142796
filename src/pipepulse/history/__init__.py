"""Watching pipelines (SPEC §7): status history, incidents, connection health now."""
