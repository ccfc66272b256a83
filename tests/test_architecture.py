"""The shape of the code (issue 6): thin views, and no import hidden inside a function.

The layering itself is import-linter's contracts in pyproject.toml (``lint-imports``, run by
``make test``).
"""
from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import webapp

MAX_VIEW_LINES = 25
PACKAGE = Path(webapp.__file__).parent


def test_every_view_function_is_at_most_25_lines(app):
    """Views parse, call one service and render: each route's function, from ``def`` to its
    last line, fits in 25 lines."""
    long = {}
    for endpoint, view in app.view_functions.items():
        view = inspect.unwrap(view)
        if endpoint == "static" or not view.__module__.startswith("webapp."):
            continue
        lines, _ = inspect.getsourcelines(view)
        start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("def "))
        if len(lines) - start > MAX_VIEW_LINES:
            long[endpoint] = len(lines) - start
    assert len(app.view_functions) > 15  # the walk saw the routes
    assert long == {}


def test_imports_inside_functions_say_why():
    """An import inside a function hides a dependency from the reader (and once hid import
    cycles); the few left carry a comment on the line above saying why."""
    unexplained = []
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for func in ast.walk(ast.parse(source)):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    above = lines[node.lineno - 2].strip()
                    if not above.startswith("#"):
                        unexplained.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert unexplained == []


def test_tests_share_helpers_through_factories_not_other_test_files():
    """Shared test code lives in tests/factories.py and tests/helpers.py: a test module that
    imports another one runs (and couples to) that module's tests."""
    tests = Path(__file__).parent
    offenders = [str(path.relative_to(tests)) for path in tests.rglob("*.py")
                 if re.search(r"^\s*(from|import) tests(\.browser)?\.test_", path.read_text(),
                              re.MULTILINE)]
    assert offenders == []
