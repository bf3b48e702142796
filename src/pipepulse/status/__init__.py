"""The one status engine (SPEC §3 and §7.1).

Everything that says what status a connection has, had, or had in a bucket asks this package:
``timeline`` (the status as a function of the runs and the instant: intervals, reasons,
incidents), ``steady`` (stretches proven steady from hourly counts), ``reasons`` (why, in
words and codes), ``bucket`` (the status of a metrics bucket), ``now`` (the set-based reader of
the status now, for any number of connections) and ``repository`` (the reads behind them:
runs finished in a range, hour volumes, the probes).
"""
