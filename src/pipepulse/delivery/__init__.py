"""Notifications going out: the delivery pass over the outbox, channels, bodies, heartbeats."""
