"""ASGI entry for process managers: ``uvicorn pipepulse.asgi:app`` (settings from the environment)."""

from pipepulse.app import create_app

app = create_app()
