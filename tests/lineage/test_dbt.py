"""`dbt-ol run` over a small dbt-duckdb project, sending to pipepulse with the HTTP transport.

dbt lives in its own virtualenv (.venv-dbt, made by scripts/setup from
scripts/dbt-requirements.txt). DuckDB's catalog reports no table statistics, so the project
reports each table's row count as dbt's ``row_count`` statistic (Snowflake's catalog has it
built in); dbt-ol turns it into the outputs' ``outputStatistics.rowCount``.
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipepulse.db.session import Database
from tests.conftest import Tenant
from tests.lineage.conftest import bound_key

DBT_BIN = Path(__file__).resolve().parents[2] / ".venv-dbt" / "bin"

PROJECT = """\
name: shop
version: "1.0"
profile: shop
models:
  shop:
    +materialized: table
"""
CATALOG_ROW_COUNTS = """\
{% macro duckdb__get_catalog_results_sql() -%}
    select
        tables.table_database, tables.table_schema, tables.table_name, tables.table_type,
        tables.table_comment, columns.column_name, columns.column_index, columns.column_type,
        columns.column_comment, null as table_owner,
        'Row count' as "stats:row_count:label",
        stats.estimated_size as "stats:row_count:value",
        true as "stats:row_count:include",
        'Rows in the table' as "stats:row_count:description"
    from tables
    join columns using (table_database, table_schema, table_name)
    left join duckdb_tables() stats
      on stats.database_name = tables.table_database
     and stats.schema_name = tables.table_schema
     and stats.table_name = tables.table_name
    order by table_schema, table_name, column_index
{%- endmacro %}
"""


def _project(root: Path) -> Path:
    (root / "models").mkdir(parents=True)
    (root / "macros").mkdir()
    (root / "dbt_project.yml").write_text(PROJECT)
    database = root / "shop.duckdb"
    (root / "profiles.yml").write_text(
        f"shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {database}\n      threads: 1\n"
    )
    (root / "macros" / "catalog_row_counts.sql").write_text(CATALOG_ROW_COUNTS)
    (root / "models" / "orders.sql").write_text("select range as id from range(42)\n")
    (root / "models" / "small_orders.sql").write_text("select id from {{ ref('orders') }} where id < 10\n")
    return root


def _dbt(
    root: Path, *args: str, url: str | None = None, key: str | None = None
) -> subprocess.CompletedProcess[str]:
    if not (DBT_BIN / "dbt-ol").exists():
        pytest.fail(f"{DBT_BIN / 'dbt-ol'} is missing: run scripts/setup (it builds .venv-dbt)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENLINEAGE", "PIPEPULSE_"))}
    env.update(PATH=f"{DBT_BIN}{os.pathsep}{env.get('PATH', '')}", DBT_SEND_ANONYMOUS_USAGE_STATS="False")
    if url is not None and key is not None:
        env.update(
            OPENLINEAGE__TRANSPORT__TYPE="http",
            OPENLINEAGE__TRANSPORT__URL=url,
            OPENLINEAGE__TRANSPORT__ENDPOINT="api/v1/lineage",
            OPENLINEAGE__TRANSPORT__COMPRESSION="gzip",
            OPENLINEAGE__TRANSPORT__AUTH__TYPE="api_key",
            OPENLINEAGE__TRANSPORT__AUTH__APIKEY=key,
        )
    return subprocess.run(
        [*args, "--project-dir", str(root), "--profiles-dir", str(root)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


async def _connections(api: httpx.AsyncClient, tenant: Tenant) -> dict[str, dict[str, Any]]:
    listed = (await api.get(tenant.connections_url(), headers=tenant.read, params={"size": 200})).json()
    return {c["name"]: c for c in listed["items"]}


async def _latest_run(api: httpx.AsyncClient, tenant: Tenant, connection: dict[str, Any]) -> dict[str, Any]:
    runs = (await api.get(tenant.connection_url(connection["id"]) + "metrics/", headers=tenant.read)).json()
    latest: dict[str, Any] = runs["items"][0]
    return latest


@pytest.mark.timeout(600)
async def test_dbt_ol__run_over_dbt_duckdb__row_counts_then_a_failing_model_in_error(
    live_api: str, tenant: Tenant, db: Database, tmp_path: Path
) -> None:
    key = (await bound_key(db, tenant, datetime.now(UTC)))["Authorization"].removeprefix("Bearer ")
    root = _project(tmp_path / "shop")
    # Build once and write the catalog, so dbt-ol finds each table's row count.
    for command in (("dbt", "run"), ("dbt", "docs", "generate")):
        done = _dbt(root, *command)
        assert done.returncode == 0, done.stdout + done.stderr

    ran = _dbt(root, "dbt-ol", "--consume-structured-logs", "run", url=live_api, key=key)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    async with httpx.AsyncClient(base_url=live_api) as api:
        connections = await _connections(api, tenant)
        assert set(connections) == {
            "dbt/dbt-run-shop",
            "dbt/model.shop.orders",
            "dbt/model.shop.small_orders",
        }
        assert {c["type"] for c in connections.values()} == {"openlineage"}
        orders = await _latest_run(api, tenant, connections["dbt/model.shop.orders"])
        small = await _latest_run(api, tenant, connections["dbt/model.shop.small_orders"])
        assert (orders["outcome"], orders["events_delivered"]) == ("succeeded", 42)
        assert (small["outcome"], small["events_delivered"]) == ("succeeded", 10)
        whole = await _latest_run(api, tenant, connections["dbt/dbt-run-shop"])
        assert whole["outcome"] == "succeeded"
        telemetry = (
            await api.get(
                tenant.connection_url(connections["dbt/model.shop.orders"]["id"]) + "telemetry/",
                headers=tenant.read,
            )
        ).json()
        assert telemetry["status"] == "active"
        assert telemetry["events_last_24h"]["total"] == 42

        (root / "models" / "broken.sql").write_text(
            "select id from {{ ref('orders') }} where no_such_column > 0\n"
        )
        failed = _dbt(root, "dbt-ol", "--consume-structured-logs", "run", url=live_api, key=key)
        assert failed.returncode != 0
        connections = await _connections(api, tenant)
        broken = connections["dbt/model.shop.broken"]
        telemetry = (
            await api.get(tenant.connection_url(broken["id"]) + "telemetry/", headers=tenant.read)
        ).json()
        assert telemetry["status"] == "error"
        message = telemetry["recent_errors"][0]["message"]
        assert "Runtime Error in model broken" in message
        assert 'Referenced column "no_such_column" not found' in message
        run = await _latest_run(api, tenant, broken)
        assert run["outcome"] == "failed"
        assert (await _latest_run(api, tenant, connections["dbt/model.shop.orders"]))[
            "events_delivered"
        ] == 42
        whole = await _latest_run(api, tenant, connections["dbt/dbt-run-shop"])
        assert whole["outcome"] == "failed"
        assert "dbt run" in whole["error"]

        # The dashboard tells the same story.
        assert (
            await api.post(
                "/sign-in", data={"token": tenant.reader, "next": ""}, headers={"Origin": live_api}
            )
        ).status_code == 303
        page = (await api.get(f"/orgs/{tenant.id}/connections/{broken['id']}/")).text
        assert "dbt/model.shop.broken" in page
        assert "Runtime Error in model broken" in page
        cards = (await api.get(f"/orgs/{tenant.id}/")).text
        assert "dbt/model.shop.orders" in cards
