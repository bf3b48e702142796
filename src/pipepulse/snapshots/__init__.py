"""Exact answers computed once: each connection's §3 answer stored with the instants it holds.

SPEC §7.1 observes that a status can change only at a finished run's time or 24 hours later;
every §3 figure likewise changes only when a run enters a window (completes, or is orphaned)
or leaves one (24 hours or 7 days later). Between those instants, and while no run of the
connection is written, the stored answer is the answer: ``horizon`` finds the next such
instant (pure) and ``repository`` reads and stores the answer; telemetry/stored.py and
metrics/stored.py decide when the stored answer is served.
"""
