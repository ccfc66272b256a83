"""Reading the portal's own Markdown documents with YAML front matter (``content/``).

A document is parsed with python-frontmatter and rendered with python-markdown ("extra"
extensions). The text is ours (committed to the repository), so the HTML is trusted; fields from
the front matter are plain strings and are autoescaped by the templates.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import frontmatter
import markdown
from markupsafe import Markup


class ContentError(ValueError):
    """A content file cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Document:
    """One Markdown file: ``meta`` is its front matter (dict), ``html`` the rendered body,
    ``text`` the raw Markdown body, ``path`` where it was read from."""

    path: Path
    meta: dict = field(compare=False)
    text: str
    html: Markup


def as_date(value, where: str) -> dt.date:
    """A front-matter date (YAML gives ``datetime.date`` for ``2024-04-16``; a quoted string is
    parsed as ISO). Raises :class:`ContentError` naming ``where`` otherwise."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ContentError(f"{where}: not a date (YYYY-MM-DD): {value!r}") from None


def render_markdown(text: str) -> Markup:
    """Markdown → HTML (python-markdown with the "extra" extensions: tables, footnotes, ...)."""
    return Markup(markdown.markdown(text, extensions=["extra", "sane_lists"]))


def _load(path: Path, mtime: float) -> Document:
    try:
        post = frontmatter.load(path)
    except Exception as e:  # noqa: BLE001 - YAML errors have many types; name the file
        raise ContentError(f"{path}: front matter cannot be read: {e}") from e
    return Document(path=path, meta=dict(post.metadata), text=post.content,
                    html=render_markdown(post.content))


_cached = lru_cache(maxsize=512)(_load)


def load(path: Path) -> Document:
    """Read and render one file; cached until the file changes (keyed on its mtime)."""
    return _cached(Path(path), Path(path).stat().st_mtime)


def load_dir(folder: Path) -> list[Document]:
    """Every ``*.md`` in ``folder`` (not recursive), sorted by file name; ``[]`` when missing."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [load(p) for p in sorted(folder.glob("*.md"))]


def statement(root: str | Path, name: str, lang: str, values) -> tuple[Document, str, Markup]:
    """A statement page (``content/<name>/<lang>.md``, Polish when ``lang`` is missing) with the
    tokens ``{key}`` replaced by ``values(text language)[key]`` (configuration such as the
    retention period) before rendering. Returns ``(document, language of the text, html)``.
    Raises :class:`ContentError` when not even the Polish file exists."""
    for candidate in (lang, "pl"):
        path = Path(root) / name / f"{candidate}.md"
        if path.is_file():
            doc = load(path)
            text = doc.text
            for key, value in values(candidate).items():
                text = text.replace("{" + key + "}", value)
            return doc, candidate, render_markdown(text)
    raise ContentError(f"{root}/{name}/pl.md is missing")
