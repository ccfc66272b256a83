"""Building the GeoJSON (RFC 7946) answer of ``GET /reports.geojson``: ``[long, lat]`` order,
WGS84. Properties are public fields only (never descriptions, e-mails or client ids)."""
from __future__ import annotations

from flask import url_for
from flask_babel import format_timedelta

from webapp.citymap.queries import BoxContent
from webapp.clock import utcnow
from webapp.reports.models import Status


#: A symbol per status, drawn in the marker and the legend next to its colour, so the status
#: never depends on colour alone (WCAG 1.4.1).
STATUS_SYMBOLS = {
    Status.AWAITING_MODERATION.value: "?",
    Status.DISPATCHED.value: "!",
    Status.ACCEPTED.value: "A",
    Status.IN_PROGRESS.value: "▶",
    Status.RESOLVED.value: "✓",
    Status.REJECTED.value: "✕",
    Status.FORWARDED.value: "→",
}


def _point(long: float, lat: float) -> dict:
    return {"type": "Point", "coordinates": [round(long, 6), round(lat, 6)]}


def feature_collection(content: BoxContent, config, lang: str) -> dict:
    """A FeatureCollection of reports (``kind: "report"``: id, number, status, status_label,
    category, requested_at, age, url) or, when clustered, of cells (``kind: "cluster"``,
    ``count``); the top-level ``clustered`` and ``count`` members say which."""
    now = utcnow()
    if content.clustered:
        features = [{"type": "Feature", "geometry": _point(long, lat),
                     "properties": {"kind": "cluster", "count": n}}
                    for lat, long, n in content.cells]
        return {"type": "FeatureCollection", "clustered": True,
                "count": sum(n for _, _, n in content.cells), "features": features}
    features = []
    for row in content.reports:
        features.append({
            "type": "Feature", "id": row.id, "geometry": _point(row.long, row.lat),
            "properties": {
                "kind": "report", "id": row.id, "number": f"{row.requested_at.year}/{row.id}",
                "status": row.status, "symbol": STATUS_SYMBOLS.get(row.status, "•"),
                "status_label": Status(row.status).label,
                "category": config.category_name(row.service_code, lang),
                "requested_at": row.requested_at.isoformat(),
                "age": format_timedelta(row.requested_at - now, add_direction=True),
                "url": url_for("reports.detail", report_id=row.id),
            }})
    return {"type": "FeatureCollection", "clustered": False, "count": len(features),
            "features": features}
