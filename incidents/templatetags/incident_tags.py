from django import template
from django.utils import timezone

register = template.Library()

SEVERITY_CLASS = {"P1": "danger", "P2": "warning", "P3": "info", "P4": "secondary"}
STATUS_CLASS = {
    "open": "danger",
    "investigating": "warning",
    "mitigating": "primary",
    "resolved": "success",
    "closed": "secondary",
}


@register.filter
def severity_class(value: str) -> str:
    return SEVERITY_CLASS.get(value, "secondary")


@register.filter
def status_class(value: str) -> str:
    return STATUS_CLASS.get(value, "secondary")


@register.filter
def countdown(due) -> str:
    """`4:59` left or `-1:02` overdue (h:mm:ss past an hour); static/incidents/incidents.js
    keeps ticking the same text in the browser."""
    if due is None:
        return ""
    seconds = int((due - timezone.now()).total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}:{minutes:02d}:{secs:02d}"
    return f"{sign}{minutes}:{secs:02d}"
