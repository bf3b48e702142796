"""Alerts (SPEC §7.3): channels, rules, evaluation, the notification outbox and its delivery."""
