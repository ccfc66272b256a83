"""axe-core accessibility audit (WCAG 2.1 A/AA plus best practice) inside a Playwright page."""
from __future__ import annotations

from pathlib import Path

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page) -> list:
    """Run axe-core on the page and return its violations as (rule id, help, first targets).

    The script is evaluated rather than added as a <script> tag: the page's CSP (script-src
    'self') rightly refuses inline scripts, and evaluate() is not subject to it.
    """
    assert AXE.exists(), "axe-core missing: `make test` installs it with npm"
    page.evaluate("() => { %s\n}" % AXE.read_text(encoding="utf-8"))
    result = page.evaluate("axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', "
                           "'wcag21aa', 'best-practice']})")
    return [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]]
