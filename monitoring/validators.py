from urllib.parse import urlsplit

from django.core.exceptions import ValidationError


def module_url(value: str) -> str:
    """A module is polled at <base URL>/health and /metrics: plain http(s) to a host, with no
    credentials, query or fragment (a token goes in the token field, never in the URL).

    Single-label hosts (`http://beta-svc:9100`, a container or cluster service name) are
    allowed, which Django's URLValidator refuses."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValidationError("Use an http:// or https:// address.")
    if not parts.hostname:
        raise ValidationError("The address needs a host name.")
    if any(c.isspace() for c in value):
        raise ValidationError("The address may not contain spaces.")
    if parts.username or parts.password:
        raise ValidationError("Put credentials in the token field, not in the address.")
    if parts.query or parts.fragment:
        raise ValidationError("The address may not have a query (?…) or fragment (#…).")
    try:
        parts.port  # noqa: B018 — raises on a port out of range
    except ValueError:
        raise ValidationError("The port is not a valid number.") from None
    return value.rstrip("/")
