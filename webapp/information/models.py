"""The statistics summary: every published figure, precomputed (issue 11).

The public statistics page reads only this table (tens of rows), never the reports: computing
the figures reads a year of reports and their histories (tens of seconds at a million
reports), so the worker rebuilds the table every ``STATS_REFRESH_SECONDS`` and the page says
when its data are from.
"""
from __future__ import annotations

from sqlalchemy import Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.clock import UTCDateTime
from webapp.extensions import db


class StatisticsFigure(db.Model):
    """One row of the published figures, as of ``computed_at`` (UTC; the same on every row).

    ``kind`` is ``category``, ``unit`` or ``total`` (``period_days`` 30, 90 or 365; ``key`` the
    service code, the unit id or ``total``), or ``month`` (``period_days`` 0, ``key``
    ``YYYY-MM``, only ``count``). Times are hours from sending the report, ``None`` when no
    report of the group had that event; ``share_resolved`` is 0..1.
    """

    __tablename__ = "statistics_figure"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    period_days: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    resolved: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    share_resolved: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    first_response_median_h: Mapped[float | None] = mapped_column(Float)
    first_response_p90_h: Mapped[float | None] = mapped_column(Float)
    resolution_median_h: Mapped[float | None] = mapped_column(Float)
    resolution_p90_h: Mapped[float | None] = mapped_column(Float)
    computed_at: Mapped[object] = mapped_column(UTCDateTime(), nullable=False)
