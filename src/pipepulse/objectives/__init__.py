"""Objectives and error budgets (SPEC §7.6): availability and freshness SLOs per connection."""
