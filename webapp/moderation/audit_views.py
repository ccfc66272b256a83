"""The admin's read-only view of the audit trail (GET only: nothing edits it)."""
from __future__ import annotations

from flask import Blueprint, render_template, request

from webapp.audit.services import AuditFilters, actions, list_entries
from webapp.auth.access import staff_required

bp = Blueprint("audit", __name__, url_prefix="/admin/audit")


@bp.get("/")
@staff_required("admin")
def index():
    """Newest entries first, filtered by ``action``, ``actor`` and ``object_id``."""
    filters = AuditFilters(action=request.args.get("action", "")[:64],
                           actor=request.args.get("actor", "")[:254],
                           object_id=request.args.get("object_id", "")[:64])
    return render_template("audit/index.html", entries=list_entries(filters), filters=filters,
                           actions=actions())
