"""Who is acting and from where, for the current request or task (read by the audit trail)."""

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    source_ip: str | None = None


# The default is a frozen dataclass: immutable, so sharing it is safe.
current: ContextVar[RequestContext] = ContextVar(
    "console_request",
    default=RequestContext(),  # noqa: B039
)
