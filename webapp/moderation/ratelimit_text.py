"""Rate limits as staff read them: ``"100 per hour;10 per minute"`` (Flask-Limiter's notation,
as stored on an API key) becomes "100 na godzinę; 10 na minutę" in the UI language."""
from __future__ import annotations

from flask_babel import gettext as _, ngettext
from limits import parse_many


def _per_one(granularity: str, amount: int) -> str | None:
    texts = {"second": _("%(amount)d per second", amount=amount),
             "minute": _("%(amount)d per minute", amount=amount),
             "hour": _("%(amount)d per hour", amount=amount),
             "day": _("%(amount)d per day", amount=amount),
             "month": _("%(amount)d per month", amount=amount),
             "year": _("%(amount)d per year", amount=amount)}
    return texts.get(granularity)


def _per_many(granularity: str, amount: int, num: int) -> str | None:
    # The plural form follows the number of periods ("na 2 godziny", "na 5 godzin").
    texts = {"second": lambda: ngettext("%(amount)d per %(num)d second",
                                        "%(amount)d per %(num)d seconds", num, amount=amount),
             "minute": lambda: ngettext("%(amount)d per %(num)d minute",
                                        "%(amount)d per %(num)d minutes", num, amount=amount),
             "hour": lambda: ngettext("%(amount)d per %(num)d hour",
                                      "%(amount)d per %(num)d hours", num, amount=amount),
             "day": lambda: ngettext("%(amount)d per %(num)d day",
                                     "%(amount)d per %(num)d days", num, amount=amount),
             "month": lambda: ngettext("%(amount)d per %(num)d month",
                                       "%(amount)d per %(num)d months", num, amount=amount),
             "year": lambda: ngettext("%(amount)d per %(num)d year",
                                      "%(amount)d per %(num)d years", num, amount=amount)}
    text = texts.get(granularity)
    return text() if text else None


def describe(spec: str | None) -> str:
    """``spec`` (e.g. ``"100 per hour;10 per minute"``, ``"5/2 hours"``) in words of the current
    locale, the limits joined with "; ". A text the ``limits`` library cannot parse (or an
    unknown period) comes back unchanged, so nothing is hidden from the admin."""
    if not spec:
        return ""
    try:
        items = parse_many(spec)
    except ValueError:
        return spec
    words = []
    for item in items:
        name = item.GRANULARITY.name
        text = (_per_one(name, item.amount) if item.multiples == 1
                else _per_many(name, item.amount, item.multiples))
        if text is None:
            return spec
        words.append(text)
    return "; ".join(words)
