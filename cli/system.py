"""run, serve, worker, db, users: the commands that start and administer Haven."""

from __future__ import annotations

import logging
import os
import sys

import click

from cli.common import ensure_database, settings_or_exit


def _serve(with_periodic: bool | None, last_words: str | None = None, event_lines: bool = False) -> None:
    from aiohttp import web

    from web.app import create_app

    settings = settings_or_exit()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.log_level != "DEBUG":
        # Every periodic task's "succeeded" line (several every 5 s) would bury what happens.
        logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
    app = create_app(settings, run_periodic=with_periodic)
    if event_lines:
        from cli.run_log import EventLog

        event_log = EventLog()

        async def start_event_log(_app) -> None:
            event_log.start()

        async def stop_event_log(_app) -> None:
            event_log.stop()

        app.on_startup.append(start_event_log)
        app.on_cleanup.append(stop_event_log)
    click.echo(f"Haven listening on http://{settings.bind}/ (database: {settings.database_url.split('@')[-1]})",
               err=True)
    # run_app calls `print` once the server listens, after the start-up logs: the demo sign-ins come last.
    web.run_app(app, host=settings.host, port=settings.port,
                access_log=logging.getLogger("aiohttp.access") if settings.access_log else None,
                print=(lambda _: click.echo(last_words, err=True)) if last_words else None)


@click.command()
def run():
    """Serve the API and console on the embedded default, with the demo data loaded on first start."""
    from config.seed import create_demo_users, demo_keys_path, seed_demo_book

    ensure_database()
    loaded = seed_demo_book()
    if loaded:
        click.echo(f"Loaded the demo book: {loaded['customers']} customers, {loaded['assets']} assets.", err=True)
    settings = settings_or_exit()
    keys_path = demo_keys_path(settings)
    users = create_demo_users(keys_path)
    sign_ins_path = keys_path.with_name("demo-users.txt")
    if users:
        from identity.service import give_demo_users_passwords

        give_demo_users_passwords(sign_ins_path)
        click.echo(f"Demo users created; sign in to the console with one of these keys (kept in {keys_path}):",
                   err=True)
        for role, name, key in users:
            click.echo(f"  {role:<11} {name:<22} {key}", err=True)
    elif keys_path.exists():
        click.echo(f"Demo sign-in keys are in {keys_path}.", err=True)
    click.echo(f"Console: http://{settings.bind}/   (run `haven demo` in another terminal to watch the "
               f"typhoon story unfold live)", err=True)
    _serve(with_periodic=None, event_lines=True,
           last_words=f"Sign in at http://{settings.bind}/ with a username and password from {sign_ins_path} "
                      "(one line per person: username password role). The demo customer signs in with the "
                      "phone number on its line and the six-digit code shown in the outbox."
           if sign_ins_path.exists() else None)


@click.command()
def serve():
    """Serve the API alone (the real stack: PostgreSQL, Redis, separate workers and beat)."""
    ensure_database()
    _serve(with_periodic=False)


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("-Q", "--queues", default=None, help="Comma-separated queues (default: all).")
@click.pass_context
def worker(ctx, queues):
    """Run a Celery worker: a thin wrapper over `celery -A workers worker`."""
    from workers import QUEUES

    settings = settings_or_exit()
    if settings.embedded:
        raise click.ClickException("HAVEN_REDIS_URL is not set: the embedded default runs tasks in-process")
    args = [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", queues or ",".join(QUEUES),
            "--loglevel", settings.log_level, *ctx.args]
    os.execv(sys.executable, args)


@click.group()
def db():
    """Database administration."""


@db.command()
def upgrade():
    """Apply the migrations to HAVEN_DATABASE_URL."""
    from store.db import upgrade as apply_migrations

    settings = settings_or_exit()
    apply_migrations(settings.database_url)
    click.echo("database is at the latest revision", err=True)


@click.group()
def users():
    """Users and API keys."""


@users.command("create")
@click.option("--role", required=True, help="customer, dispatcher, adjuster, supervisor, manager or admin")
@click.option("--name", required=True)
@click.option("--customer-id", default=None, help="Required for the customer role.")
@click.option("--username", default=None, help="Staff who sign in with a password (no API key then).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of "
              "printing a one-time password that must be changed at the first sign-in.")
@click.option("--phone", default=None, callback=lambda ctx, param, value: _work_phone(value),
              help="Staff's work number (E.164, or national for China): customers call the adjuster on their claim.")
def create_user(role, name, customer_id, username, password_stdin, phone):
    """Create a user. With --username: a staff user who signs in with a password (a one-time password is
    printed unless --password-stdin). Without: a machine user whose API key is printed once."""
    from store.db import session_scope
    from store.users import create_user as create

    if password_stdin and not username:
        raise click.UsageError("--password-stdin needs --username")
    if username and customer_id:
        raise click.UsageError("customers sign in with their phone number: give --customer-id or --username")
    if phone and role == "customer":
        raise click.BadParameter("a customer's number is the one in the book (haven customers import)",
                                 param_hint="'--phone'")
    password = _password_from_stdin() if password_stdin else None
    ensure_database()
    if username:
        from identity.service import InvalidInput, create_staff_user

        try:
            with session_scope() as session:
                user, one_time = create_staff_user(session, role, name, username, password, phone)
                user_id, username = user.id, user.username
        except InvalidInput as exc:
            raise click.ClickException(f"--{exc.field}: {exc.message}") from None
        if one_time is None:
            click.echo(f"created user {user_id} ({role}); sign in as {username!r} with the password given", err=True)
        else:
            click.echo(f"created user {user_id} ({role}); sign in as {username!r} with this one-time password, "
                       "shown only now (it must be changed at the first sign-in):", err=True)
            click.echo(one_time)
        return
    try:
        with session_scope() as session:
            user, key = create(session, role, name, customer_id, phone)
            user_id = user.id
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created user {user_id} ({role}); API key, shown only now:", err=True)
    click.echo(key)


def _work_phone(raw: str | None) -> str | None:
    from identity.rules import normalise_phone

    if raw is None:
        return None
    phone = normalise_phone(raw)
    if phone is None:
        raise click.BadParameter(f"{raw!r} is not a valid phone number", param_hint="'--phone'")
    return phone


def _password_from_stdin() -> str:
    line = sys.stdin.readline(4096)
    password = line.rstrip("\r\n")
    if not password:
        raise click.UsageError("--password-stdin: standard input gave no password")
    return password
