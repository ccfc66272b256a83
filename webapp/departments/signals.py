"""What the departments domain announces (blinker; see :mod:`webapp.reports.signals` for the
rules every receiver follows: synchronous, same transaction, no commit).

``link_issued`` (sender: the :class:`~webapp.departments.models.DepartmentLink`), keyword
arguments ``report``, ``unit`` (the routing ``Unit`` the link is for), ``note`` (from the
operator or the forwarding unit, may be empty), ``from_unit`` (id of the unit that forwarded
the report, or None) and ``routing``. Listener: dispatch, which queues the e-mail carrying the
link to the unit.
"""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

link_issued = _signals.signal("department-link-issued")
