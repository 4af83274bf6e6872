"""How a stored secret is shown once saved (ASVS 5.0 8.2.x, 13.3.x): never in full.

A webhook URL carries its credential in its path or query (Slack's `/services/T…/B…/secret`),
so pages, the API, timelines and the audit trail show only its scheme and host."""

from urllib.parse import urlsplit


def masked_url(url: str) -> str:
    """`https://hooks.example/services/T0/B0/xyz` → `https://hooks.example/…`."""
    if not url:
        return ""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.hostname:
        return "…"
    host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    return f"{parts.scheme}://{host}/…"


def without(text: str, secret: str, shown: str) -> str:
    """`text` with every occurrence of `secret` replaced by `shown` (error messages that quote
    the URL they failed on)."""
    return text.replace(secret, shown) if secret else text
