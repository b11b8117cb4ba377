"""Templates: what is spoken for a chat line or a stream event, and how amounts are said."""

from __future__ import annotations

import re
from typing import Any

DEFAULT_TEMPLATE = "{user} says {message}"
_SPACES = re.compile(r"\s+")
_DANGLING = " \t:;,-–—"
"""Separators left at the end when a field (usually ``{message}``) was empty."""
_SYMBOLS = {"USD": "$", "GBP": "£", "EUR": "€", "JPY": "¥", "CNY": "¥", "INR": "₹", "KRW": "₩"}
_NO_DECIMALS = frozenset({"JPY", "KRW", "CLP", "ISK", "HUF", "TWD", "VND", "IDR"})


class _Blank(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return ""


def render(template: str, **values: Any) -> str:
    """``template.format`` with unknown fields left empty; a broken template falls back to
    ``"{user} says {message}"`` (or the bare message) instead of losing the line. When a field is
    empty, separators it leaves at the end (``"...: "``) are removed."""
    try:
        out = template.format_map(_Blank(values))
    except (ValueError, IndexError, AttributeError, KeyError):
        out = (DEFAULT_TEMPLATE.format_map(_Blank(values)) if "user" in values
               else str(values.get("message", "")))
    out = _SPACES.sub(" ", out).strip()
    if any(v == "" for v in values.values()):
        out = out.rstrip(_DANGLING)
    return out


def format_amount(amount: float, currency: str = "") -> str:
    """An amount as it should be said: ``$5.00``, ``€3.50``, ``500 JPY`` -> ``¥500``,
    ``12.00 CAD``; without a currency a plain number (``100``, ``2.50``)."""
    code = currency.strip().upper()
    if code in _NO_DECIMALS:
        number = f"{amount:,.0f}"
    elif code or amount != int(amount):
        number = f"{amount:,.2f}"
    else:
        number = f"{int(amount):,}"
    if not code:
        return number
    symbol = _SYMBOLS.get(code)
    return f"{symbol}{number}" if symbol else f"{number} {code}"
