"""A database that is down answers 503 with Retry-After, never a stack trace."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from pipepulse.app import create_app
from pipepulse.config import Settings
from pipepulse.db.engine import create_engine
from pipepulse.db.session import Database


@pytest.mark.parametrize("kind", ["postgres-refused", "sqlite-unopenable"])
async def test_api__database_down__503_with_retry_after(kind: str, tmp_path: Path) -> None:
    if kind == "postgres-refused":
        url = "postgresql://postgres@127.0.0.1:1/nowhere"
    else:
        # A path under a regular file can never be opened as a database.
        blocker = tmp_path / "file"
        blocker.write_text("not a directory")
        url = f"sqlite:///{blocker}/db.sqlite"
    settings = Settings(database_url=url, secret_key="k")
    db = Database(create_engine(settings.resolved_database_url))
    app = create_app(settings, database=db)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get(
            "/api/v1/organisations/1/integrations/warehouse-connections/wc_x/telemetry/",
            headers={"Authorization": "Bearer ppt_0123456789ab_secret"},
        )
        ready = await client.get("/readyz")
        alive = await client.get("/healthz")
    await db.dispose()
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert response.json() == {"detail": "the database is unavailable; retry shortly"}
    assert "Traceback" not in response.text
    assert ready.status_code == 503
    assert alive.status_code == 200
