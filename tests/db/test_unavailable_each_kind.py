"""Every way the database can be unreachable is a 503 with Retry-After, answered by the app
itself (nothing re-raised to the server), and counted as a 503. The real stop-and-start of a
PostgreSQL server is in test_outage.py; these cover each kind of failure directly."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from pipepulse.app import create_app
from pipepulse.config import Settings
from pipepulse.db.engine import create_engine
from pipepulse.db.session import Database
from pipepulse.errors import is_database_unavailable


def _wrapped(orig: BaseException, *, invalidated: bool = False) -> DBAPIError:
    return DBAPIError("SELECT 1", {}, orig, connection_invalidated=invalidated)


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        OSError("Multiple exceptions: [Errno 111] Connect call failed ('::1', 5432), [Errno 111] …"),
        OSError(113, "No route to host"),
        TimeoutError(),
        socket.gaierror(-2, "Name or service not known"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        _wrapped(asyncpg.CannotConnectNowError("the database system is shutting down")),
        _wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle")),
        _wrapped(asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator")),
        _wrapped(asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already")),
        InterfaceError("SELECT 1", {}, asyncpg.InterfaceError("connection is closed")),
        OperationalError("SELECT 1", {}, Exception("unable to open database file")),
        PoolTimeoutError("QueuePool limit of size 10 overflow 10 reached"),
        _wrapped(Exception("server closed the connection unexpectedly"), invalidated=True),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_unavailable__every_outage_kind__recognised(exc: BaseException) -> None:
    assert is_database_unavailable(exc)


@pytest.mark.parametrize(
    "exc",
    [
        FileNotFoundError(2, "No such file"),
        ValueError("bad"),
        IntegrityError("INSERT", {}, Exception("duplicate key")),
        _wrapped(asyncpg.exceptions.UniqueViolationError("duplicate key")),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_unavailable__bugs_and_bad_data__not_mistaken_for_an_outage(exc: BaseException) -> None:
    assert not is_database_unavailable(exc)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word: a hung database server."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture
async def dead_database_client(
    request: pytest.FixtureRequest, silent_server: int, tmp_path: Any
) -> AsyncIterator[httpx.AsyncClient]:
    urls = {
        "refused": "postgresql://postgres@127.0.0.1:1/nowhere",
        "hung": f"postgresql://postgres@127.0.0.1:{silent_server}/nowhere",
    }
    settings = Settings(
        database_url=urls[request.param], secret_key="k", data_dir=tmp_path, db_connect_timeout_seconds=0.5
    )
    db = Database(create_engine(settings.resolved_database_url, connect_timeout_s=0.5, pool_timeout_s=0.5))
    app = create_app(settings, database=db)
    # raise_app_exceptions=True: an exception re-raised past the app would fail the request here,
    # as it makes uvicorn log a traceback and drop the keep-alive connection.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", headers={"Origin": "http://t"}
    ) as client:
        yield client
    await db.dispose()


@pytest.mark.parametrize("dead_database_client", ["refused", "hung"], indirect=True)
async def test_api__database_refusing_or_hung__503_handled_and_counted_as_503(
    dead_database_client: httpx.AsyncClient,
) -> None:
    client = dead_database_client
    headers = {"Authorization": "Bearer ppt_0123456789ab_secret"}
    answers = await asyncio.gather(
        *(client.get("/api/v1/organisations/", headers=headers) for _ in range(4)),
        client.patch(
            "/api/v1/organisations/1/integrations/warehouse-connections/wc_1/metrics/r/",
            json={"completed_at": "2026-04-20T12:00:00Z"},
            headers={"Authorization": "Bearer pps_0123456789ab_secret"},
        ),
    )
    for response in answers:
        assert response.status_code == 503
        assert response.headers["retry-after"].isdigit()
        assert response.json() == {"detail": "the database is unavailable; retry shortly"}
        assert response.headers["cache-control"] == "no-store"
    exposition = (await client.get("/metrics")).text
    counted = [line for line in exposition.splitlines() if line.startswith("pipepulse_http_requests_total{")]
    assert any('status="503"' in line and 'method="PATCH"' in line for line in counted)
    assert not any('status="500"' in line for line in counted)


@pytest.mark.parametrize("dead_database_client", ["refused"], indirect=True)
async def test_dashboard__database_down__html_503_handled(
    dead_database_client: httpx.AsyncClient,
) -> None:
    client = dead_database_client
    response = await client.post("/sign-in", data={"token": "ppt_0123456789ab_secret"})
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert response.headers["content-type"].startswith("text/html")
