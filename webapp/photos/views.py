"""Serving public photo copies."""
from flask import Blueprint

bp = Blueprint("photos", __name__)
