"""``flask routing check [PATH]`` and ``flask routing show [PATH]``.

Neither command needs the application: they read the file themselves, so ``check`` also works
when the app's own routing.toml is broken (that is when it is needed most). They are plain
click commands (not ``AppGroup``, which would create the app first); the group is registered
on ``app.cli`` by :func:`webapp.routing.init_app` and as a ``flask.commands`` entry point, which
Flask's CLI finds without loading the app.
"""
from __future__ import annotations

import os
from pathlib import Path

import click
from flask import current_app

from webapp.routing.config import RoutingConfig, RoutingConfigError, load_routing

#: Same default as ``webapp.config``: $ROUTING_FILE, else routing.toml at the repository root.
_REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def default_routing_file() -> str:
    """The routing file the app would load: the current app's ``ROUTING_FILE`` inside an app
    context, else ``$ROUTING_FILE``, else ``routing.toml`` at the repository root."""
    if current_app:
        return current_app.config["ROUTING_FILE"]
    return os.environ.get("ROUTING_FILE") or str(_REPO_ROOT / "routing.toml")


def _load_or_exit(path: str | None) -> RoutingConfig:
    try:
        return load_routing(path or default_routing_file())
    except RoutingConfigError as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(1) from None


@click.group("routing", help="Check and show the routing of reports to city units.")
def routing_cli() -> None:
    """Commands for ``routing.toml``."""


@routing_cli.command("check")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
def check_command(path: str | None) -> None:
    """Validate a routing file (default: the app's ROUTING_FILE) without starting the app.

    Prints "OK: N units, M categories, K area rules" and exits 0, or prints every problem and
    exits 1.
    """
    config = _load_or_exit(path)
    click.echo(f"OK: {len(config.units)} units, {len(config.services)} categories, "
               f"{len(config.area_rules)} area rules ({config.source})")
    placeholders = [u.id for u in config.units.values()
                    if u.email.lower().rsplit(".", 1)[-1] in ("example", "invalid", "test")]
    if placeholders:
        click.echo(f"Note: {len(placeholders)} units still have placeholder e-mail addresses: "
                   f"{', '.join(placeholders)}")


@routing_cli.command("show")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
def show_command(path: str | None) -> None:
    """Print which unit gets each category, in which mode, and the area rules."""
    config = _load_or_exit(path)
    rows = [(s.code, s.unit, s.mode, s.confidence) for s in config.services.values()]
    header = ("CATEGORY", "UNIT", "MODE", "CONFIDENCE")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    click.echo(f"\noperator mode waits at: {config.operator_unit}")
    if config.area_rules:
        click.echo("\nAREA RULES (checked first, in this order)")
        for rule in config.area_rules:
            click.echo(f"{rule.id}: {', '.join(rule.services)} -> {rule.unit} "
                       f"inside {rule.area} ({rule.name})")
