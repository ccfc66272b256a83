"""Waiting for the browser without eval (the pages' CSP forbids page.wait_for_function)."""
from __future__ import annotations

import time


def wait_until(page, predicate, timeout_s: float = 20.0, what: str = "condition"):
    """Poll ``predicate()`` (a Python callable) until it is true, letting the browser run
    between polls (page.wait_for_timeout pumps events; time.sleep would not).
    Raises AssertionError naming ``what`` after ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {what}")
