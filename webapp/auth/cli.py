"""``flask users create``: the first admin (and any staff account) from the command line."""
from __future__ import annotations

import click
from flask.cli import AppGroup
from flask_babel import force_locale

from webapp.auth.services import AuthError, create_user
from webapp.extensions import db

users_cli = AppGroup("users", help="Staff accounts of the moderation panel.")


@users_cli.command("create")
@click.option("--email", required=True, help="Login e-mail address.")
@click.option("--role", type=click.Choice(["operator", "admin"]), default="operator", show_default=True)
@click.option("--name", default="", help="Display name.")
@click.password_option(help="Password (at least 12 characters); prompted when omitted.")
def create_command(email: str, role: str, name: str, password: str) -> None:
    """Create a staff account. The user enrols TOTP at the first login."""
    try:
        user = create_user(email, password, role, name=name)
    except AuthError as exc:
        db.session.rollback()
        with force_locale("en"):
            raise click.ClickException(str(exc.message)) from None
    db.session.commit()
    click.echo(f"Created {user.role} {user.email}. Log in at /admin/login and enrol the "
               f"authenticator app.")
