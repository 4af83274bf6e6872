"""Number formats for the capacity, backup and report pages."""

from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def pct(value, places: int = 0) -> str:
    """A fraction as a percentage: 0.333 → "33 %"."""
    if value is None or value == "":  # "": a variable the page lacks (no DR policy loaded)
        return "—"
    return f"{value * 100:.{int(places)}f} %"


@register.filter
def rate(value) -> str:
    if value is None or value == "":  # "": a variable the page lacks (no DR policy loaded)
        return "—"
    return f"{value:,.0f}"


@register.filter
def span(value: timedelta | None) -> str:
    """A duration the way an operator reads it: "3 d 4 h", "2 h 15 min", "40 s"."""
    if value is None or value == "":  # "": a variable the page lacks (no DR policy loaded)
        return "—"
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days} d {hours} h" if hours else f"{sign}{days} d"
    if hours:
        return f"{sign}{hours} h {minutes} min" if minutes else f"{sign}{hours} h"
    if minutes:
        return f"{sign}{minutes} min"
    return f"{sign}{secs} s"
