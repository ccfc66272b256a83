"""``flask push init-keys`` (make the VAPID key pair), ``flask push public-key`` and
``flask push erase-emails`` (the retention job, also run by the worker)."""
from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from webapp.push.keys import ensure_key_file, public_key_b64
from webapp.push.services import erase_expired_emails

push_cli = AppGroup("push", help="Web Push keys and notification data.")


@push_cli.command("init-keys")
@click.option("--replace", is_flag=True, help="Make a new key pair (every phone must subscribe again).")
def init_keys(replace: bool) -> None:
    """Create ``instance/vapid_private.pem`` unless it exists, and print the public key."""
    path = ensure_key_file(Path(current_app.instance_path), replace=replace)
    click.echo(f"VAPID private key: {path}")
    click.echo(f"Public key: {public_key_b64(path.read_bytes())}")


@push_cli.command("public-key")
def public_key() -> None:
    """Print the public key browsers subscribe with (base64url)."""
    click.echo(current_app.extensions["push"]["public_key"])


@push_cli.command("erase-emails")
def erase_emails() -> None:
    """Erase residents' e-mail addresses ``EMAIL_RETENTION_DAYS`` after their report closed."""
    count = erase_expired_emails()
    click.echo(f"Erased the e-mail address of {count} report(s).")


def init_app(app) -> None:
    app.cli.add_command(push_cli)
