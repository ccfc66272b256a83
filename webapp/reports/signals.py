"""Domain events of reports (blinker), so other packages (notifications, statistics) react to a
change without the report code knowing them.

Each signal is sent with the report as sender and keyword arguments:

- ``report_submitted(report)``: a new report was stored (in the caller's transaction).
- ``report_status_changed(report, change)``: a public status change (``StatusChange``) was
  recorded in the caller's transaction. Receivers may add rows to ``db.session`` (the outbox) and
  must not commit: the caller commits once, so the change and its messages exist together.
- ``report_dispatched(report, link)``: the report was sent to its unit.
- ``report_forwarded(report, change, link)``: a unit passed the report to another unit.
"""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

report_submitted = _signals.signal("report-submitted")
report_status_changed = _signals.signal("report-status-changed")
report_dispatched = _signals.signal("report-dispatched")
report_forwarded = _signals.signal("report-forwarded")
