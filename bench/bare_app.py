"""The ceiling for bench/read.py: a bare Flask app rendering a tiny template (no database,
no extensions), served by the same gunicorn configuration as the portal."""
from flask import Flask, render_template_string

app = Flask(__name__)
TEMPLATE = "<!doctype html><title>{{ title }}</title><p>Hello, {{ name }}.</p>"


@app.get("/")
@app.get("/healthz")
def index():
    return render_template_string(TEMPLATE, title="bare", name="Łódź")
