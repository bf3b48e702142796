"""Data lifecycle (SPEC §8): deleting raw runs and hourly rollups past their retention."""
