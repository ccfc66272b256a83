"""``flask apikeys create|revoke|list``: API keys of Open311 apps."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from webapp.open311 import apikeys

apikeys_cli = AppGroup("apikeys", help="API keys of apps that file reports through Open311.")


@apikeys_cli.command("create")
@click.option("--name", required=True, help="The app's name (shown to operators).")
@click.option("--contact", required=True, help="Who to write to about the app (e-mail).")
@click.option("--rate-limit", default=None,
              help='Its own limit, e.g. "100 per hour;10 per minute" (default: OPEN311_KEY_RATE_LIMIT).')
def create(name: str, contact: str, rate_limit: str | None) -> None:
    """Make a key and print its token once (only its SHA-256 is stored)."""
    try:
        key, token = apikeys.create_key(name, contact, rate_limit)
    except ValueError as e:
        raise click.ClickException(f"Not created: {e}") from None
    click.echo(f"API key {key.id} for {key.name} ({key.contact}). Token, shown only now:")
    click.echo(token)


@apikeys_cli.command("revoke")
@click.argument("key_id", type=int)
def revoke(key_id: int) -> None:
    """Refuse the key KEY_ID from now on."""
    try:
        key = apikeys.revoke_key(key_id)
    except LookupError:
        raise click.ClickException(f"No API key with id {key_id}.") from None
    click.echo(f"API key {key.id} ({key.name}) revoked.")


@apikeys_cli.command("list")
def list_() -> None:
    """Every key: id, name, contact, rate limit, state."""
    for key in apikeys.list_keys():
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        click.echo(f"{key.id}\t{key.name}\t{key.contact}\t{key.rate_limit or 'default'}\t{state}")


def init_app(app: Flask) -> None:
    """Register the ``flask apikeys`` command group."""
    app.cli.add_command(apikeys_cli)
