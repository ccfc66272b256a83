"""What the report lifecycle announces, for the domains above it to react to (blinker, as
Flask's own signals).

Every signal is sent with the :class:`~webapp.reports.models.Report` as sender, *after* the
change is in ``db.session`` and *before* the caller commits. Receivers run synchronously in
the same transaction: what they add (links, outbox rows) commits with the change or not at all,
and an exception in a receiver aborts the change. Receivers must not commit.

=========================  ==========================================================  ===================
signal                     keyword arguments                                           listeners
=========================  ==========================================================  ===================
``report_submitted``       ``routing``                                                 (none yet)
``report_dispatched``      ``change``, ``unit`` (routing ``Unit``), ``note``,          departments
                           ``routing``
``report_forwarded``       ``change``, ``from_unit`` (id or None), ``unit`` (the new   departments
                           ``Unit``), ``note``, ``routing``
``report_status_changed``  ``change``, ``routing``                                     dispatch
=========================  ==========================================================  ===================

``report_dispatched`` goes out when a report is first sent to a unit (a new "auto" report, or a
release from moderation); ``report_status_changed`` for every change the resident is told
about (every :func:`~webapp.reports.lifecycle.set_status`, and a release, not the dispatch of a
new report: the form already told them).
"""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

report_submitted = _signals.signal("report-submitted")
report_dispatched = _signals.signal("report-dispatched")
report_forwarded = _signals.signal("report-forwarded")
report_status_changed = _signals.signal("report-status-changed")
