"""Routing: which city unit must act on a report (rules in ``routing.toml``).

Public interface: :func:`webapp.routing.config.load_routing`,
:func:`webapp.routing.services.route`, :func:`webapp.routing.services.explain`,
:func:`webapp.routing.services.current_routing`. How administrators edit the file:
``docs/routing.md``.
"""
from __future__ import annotations

from webapp.routing.cli import routing_cli
from webapp.routing.config import RoutingConfigError, load_routing  # noqa: F401


def init_app(app) -> None:
    """Load ``app.config["ROUTING_FILE"]`` into ``app.extensions["routing"]`` and register the
    ``flask routing`` commands.

    Raises :class:`RoutingConfigError` (listing every problem) when the file is invalid, so the
    app does not start and misroute reports. Area polygons are checked against the city boundary
    loaded by :mod:`webapp.geo` when it is there.
    """
    if "routing" not in app.cli.commands:
        app.cli.add_command(routing_cli)
    app.extensions["routing"] = load_routing(app.config["ROUTING_FILE"],
                                             boundary=app.extensions.get("boundary"))
