"""The ``pipepulse`` command line."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from pipepulse import log_output, secretbox
from pipepulse.alerts import repository as alerts_repository
from pipepulse.auth import scopes as scope_names
from pipepulse.auth import service as auth_service
from pipepulse.cli_support import JsonFlag, emit, fail, load_settings, with_database
from pipepulse.clock import utc_now
from pipepulse.config import Settings
from pipepulse.db import migrate
from pipepulse.db.session import Database
from pipepulse.delivery.channels import keys as channel_keys
from pipepulse.errors import AppError
from pipepulse.objectives import cli as objectives_cli
from pipepulse.organisations import service as organisations_service
from pipepulse.redaction import install_log_redaction
from pipepulse.retention import cli as retention_cli
from pipepulse.rollups import cli as rollups_cli
from pipepulse.schemas import format_timestamp

app = typer.Typer(
    help="pipepulse: health telemetry for data-delivery pipelines.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
org_app = typer.Typer(help="Organisations (tenants).", no_args_is_help=True)
token_app = typer.Typer(help="User API tokens.", no_args_is_help=True)
service_key_app = typer.Typer(help="Service keys for loaders.", no_args_is_help=True)
secrets_app = typer.Typer(help="Channel secrets encrypted at rest.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(secrets_app, name="secrets")
app.add_typer(org_app, name="org")
app.add_typer(token_app, name="token")
app.add_typer(service_key_app, name="service-key")
app.add_typer(rollups_cli.app, name="rollups")
app.add_typer(objectives_cli.app, name="objectives")
app.command("retention")(retention_cli.command)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Run the HTTP API (and dashboard). Applies pending migrations unless PIPEPULSE_AUTO_MIGRATE=false."""
    import uvicorn

    settings = load_settings()
    log_output.configure(settings.log_level)

    async def ready(_db: Database) -> None:
        return None

    # Reach the database and settle the schema first, so a wrong URL or a database that is
    # down is one clear line, not a traceback from inside the server's start-up.
    with_database(settings, ready)
    typer.echo(f"pipepulse serving on http://{host}:{port}  (database: {_describe(settings)})")
    typer.echo(f"API docs: http://{host}:{port}/api/v1/docs")
    if workers > 1:
        uvicorn.run("pipepulse.asgi:app", host=host, port=port, workers=workers, log_level="warning")
    else:
        from pipepulse.app import create_app

        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


def _describe(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.resolved_database_url).render_as_string(hide_password=True)


@app.command()
def scheduler(
    once: Annotated[bool, typer.Option("--once", help="Run one tick and exit.")] = False,
) -> None:
    """Seed due runs, invoke loaders, sweep orphans and apply retention, every tick."""
    import signal

    from pipepulse import local_loader
    from pipepulse.scheduler import runner

    settings = load_settings()
    log_output.configure(settings.log_level)

    async def work(db: Database) -> None:
        try:
            dispatcher = local_loader.build_dispatcher(settings, db, utc_now)
        except ValueError as exc:  # a dispatcher setting is missing: one line, no traceback
            raise fail(str(exc)) from None
        if once:
            result = await runner.tick(db, settings, dispatcher, utc_now())
            await dispatcher.drain()
            await dispatcher.close()
            deleted = result.deleted.total if result.deleted is not None else 0
            found, sent = result.evaluation, result.notifications
            typer.echo(
                f"tick: seeded {result.seeded} run(s), orphaned {result.orphaned}, "
                f"{result.dispatch_failures} invocation failure(s); "
                f"{found.events} event(s), {found.notifications} notification(s) queued, "
                f"{sent.delivered} delivered, {sent.retrying} to retry, {sent.failed} failed; "
                f"{deleted} row(s) past retention deleted"
            )
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        metrics = runner.SchedulerMetrics()
        served = ""
        if settings.scheduler_metrics_port:
            from prometheus_client import start_http_server

            start_http_server(
                settings.scheduler_metrics_port,
                addr=settings.scheduler_metrics_host,
                registry=metrics.registry,
            )
            served = f"; /metrics on {settings.scheduler_metrics_host}:{settings.scheduler_metrics_port}"
        typer.echo(
            f"pipepulse scheduler: seeding at each due slot, alerts every "
            f"{settings.scheduler_alert_seconds:g}s, housekeeping every "
            f"{settings.scheduler_tick_seconds:g}s ({settings.dispatcher}){served}"
        )
        await runner.run_forever(db, settings, dispatcher, utc_now, stop, metrics=metrics)

    with_database(settings, work)


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where the demo keeps its data (reset each run).")
    ] = None,
) -> None:
    """Run a living demo on the embedded database: history, server, scheduler, loader."""
    from pipepulse.demo import run_demo

    run_demo(load_settings(), host=host, port=port, data_dir=data_dir)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations."""
    settings = load_settings()

    async def work(db: Database) -> tuple[str | None, str]:
        return await migrate.upgrade(db.engine)

    before, after = with_database(settings, work, check_schema=False)
    if before == after:
        typer.echo(f"database already at {after} ({_describe(settings)})")
    else:
        typer.echo(f"database upgraded {before or 'empty'} -> {after} ({_describe(settings)})")


@secrets_app.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every stored channel secret under the first PIPEPULSE_SECRET_KEY secret."""
    settings = load_settings()
    box = channel_keys.box_for(settings)
    if box is None:
        raise fail(channel_keys.refusal())

    async def work(db: Database) -> tuple[int, list[str]]:
        async with db.session(write=True) as session:
            return await alerts_repository.reseal_channel_secrets(session, box)

    done, stuck = with_database(settings, work)
    typer.echo(f"re-encrypted the secrets of {done} channel(s) under the first key")
    if stuck:
        raise fail(
            f"{len(stuck)} channel(s) could not be decrypted with any {secretbox.SETTING} secret"
            f" and were left as they are: {', '.join(stuck[:20])}"
        )


@org_app.command("create")
def org_create(
    slug: Annotated[str, typer.Option(help="Unique, [a-z0-9-]{1,64}.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    as_json: JsonFlag = False,
) -> None:
    """Create an organisation."""
    settings = load_settings()

    async def work(db: Database) -> dict[str, Any]:
        async with db.session(write=True) as session:
            org = await organisations_service.create(session, slug=slug, name=name, now=utc_now())
            return {"id": org.id, "slug": org.slug, "name": org.name}

    org = with_database(settings, work)
    emit(as_json, org, f"organisation {org['slug']} created with id {org['id']}")


@token_app.command("create")
def token_create(
    org: Annotated[str | None, typer.Option("--org", help="Organisation slug.")] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help=f"Repeat for several: {', '.join(scope_names.ALL)}."),
    ] = None,
    all_orgs: Annotated[
        bool, typer.Option("--all-orgs", help="A platform token for every organisation.")
    ] = False,
    name: Annotated[str, typer.Option(help="A label to recognise the token by.")] = "cli",
    as_json: JsonFlag = False,
) -> None:
    """Create a user API token (printed once; only its hash is stored)."""
    if all_orgs == (org is not None):
        raise fail("give exactly one of --org SLUG or --all-orgs", code=2)
    scopes = scope or [scope_names.READ_PIPELINE_METRICS]
    settings = load_settings()

    async def work(db: Database) -> dict[str, Any]:
        async with db.session(write=True) as session:
            organisation_id = None
            if org is not None:
                found = await organisations_service.by_slug(session, org)
                if found is None:
                    raise AppError(f"no organisation with slug {org!r}")
                organisation_id = found.id
            issued = await auth_service.create_token(
                session, organisation_id=organisation_id, scopes=scopes, name=name, now=utc_now()
            )
            return {
                "id": issued.id,
                "token": issued.token,
                "organisation_id": issued.organisation_id,
                "organisation": org,
                "scopes": issued.scopes,
            }

    token = with_database(settings, work)
    who = f"organisation {org}" if org else "all organisations"
    emit(
        as_json,
        token,
        f"{token['token']}\n(token for {who}, scopes: {', '.join(token['scopes'])}; shown once)",
    )


@token_app.command("list")
def token_list(as_json: JsonFlag = False) -> None:
    """List user tokens (ids, organisations, scopes; never the secrets)."""
    settings = load_settings()

    async def work(db: Database) -> list[dict[str, Any]]:
        async with db.session() as session:
            return [
                {
                    "id": t.id,
                    "name": t.name,
                    "organisation_id": t.organisation_id,
                    "scopes": t.scopes,
                    "created_at": format_timestamp(t.created_at),
                    "revoked_at": format_timestamp(t.revoked_at) if t.revoked_at else None,
                }
                for t in await auth_service.list_tokens(session)
            ]

    rows = with_database(settings, work)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for row in rows:
        org = row["organisation_id"] if row["organisation_id"] is not None else "all"
        state = f"revoked {row['revoked_at']}" if row["revoked_at"] else "active"
        typer.echo(f"{row['id']}  org={org}  {','.join(row['scopes'])}  {row['name']}  {state}")


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="The id shown by `token list`.")]) -> None:
    """Revoke a user token; API processes refuse it within PIPEPULSE_AUTH_CACHE_SECONDS (default 5 s)."""
    settings = load_settings()

    async def work(db: Database) -> bool:
        async with db.session(write=True) as session:
            return await auth_service.revoke_token(session, token_id, utc_now())

    if not with_database(settings, work):
        raise fail(f"no active token with id {token_id!r}")
    typer.echo(f"token {token_id} revoked")


@service_key_app.command("create")
def service_key_create(
    name: Annotated[str, typer.Option(help="Which loader or scheduler uses it.")],
    org: Annotated[
        str | None,
        typer.Option("--org", help="Organisation slug: the key writes only its runs (and OpenLineage)."),
    ] = None,
    auto_create_connections: Annotated[
        bool,
        typer.Option(
            "--auto-create-connections",
            help="OpenLineage events of an unknown job create its connection (needs --org).",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a service key for a loader (printed once; only its hash is stored)."""
    if auto_create_connections and org is None:
        raise fail("--auto-create-connections needs --org SLUG", code=2)
    settings = load_settings()

    async def work(db: Database) -> dict[str, Any]:
        async with db.session(write=True) as session:
            organisation_id = None
            if org is not None:
                found = await organisations_service.by_slug(session, org)
                if found is None:
                    raise AppError(f"no organisation with slug {org!r}")
                organisation_id = found.id
            issued = await auth_service.create_service_key(
                session,
                name=name,
                now=utc_now(),
                organisation_id=organisation_id,
                auto_create_connections=auto_create_connections,
            )
            return {
                "id": issued.id,
                "name": issued.name,
                "key": issued.key,
                "organisation_id": issued.organisation_id,
                "organisation": org,
                "auto_create_connections": issued.auto_create_connections,
            }

    key = with_database(settings, work)
    who = f" for organisation {org}" if org else ""
    emit(as_json, key, f"{key['key']}\n(service key {key['name']!r}{who}; shown once)")


@service_key_app.command("list")
def service_key_list(as_json: JsonFlag = False) -> None:
    """List service keys (never the secrets)."""
    settings = load_settings()

    async def work(db: Database) -> list[dict[str, Any]]:
        async with db.session() as session:
            return [
                {
                    "id": k.id,
                    "name": k.name,
                    "created_at": format_timestamp(k.created_at),
                    "revoked_at": format_timestamp(k.revoked_at) if k.revoked_at else None,
                }
                for k in await auth_service.list_service_keys(session)
            ]

    rows = with_database(settings, work)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for row in rows:
        state = f"revoked {row['revoked_at']}" if row["revoked_at"] else "active"
        typer.echo(f"{row['id']}  {row['name']}  {state}")


@service_key_app.command("revoke")
def service_key_revoke(
    key_id: Annotated[str, typer.Argument(help="The id shown by `service-key list`.")],
) -> None:
    """Revoke a service key; loaders get 401 within PIPEPULSE_AUTH_CACHE_SECONDS (default 5 s)."""
    settings = load_settings()

    async def work(db: Database) -> bool:
        async with db.session(write=True) as session:
            return await auth_service.revoke_service_key(session, key_id, utc_now())

    if not with_database(settings, work):
        raise fail(f"no active service key with id {key_id!r}")
    typer.echo(f"service key {key_id} revoked")


def main() -> None:
    install_log_redaction()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
