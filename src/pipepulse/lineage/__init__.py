"""OpenLineage ingest (SPEC §9): run events from orchestrators become runs of connections."""
