from datetime import timedelta

from django.utils import timezone

from changes import maintenance


def window(by, modules, type="weekly", start=None, hours=2, **extra):  # noqa: A002
    """Schedule a window through the service (as a user would): by default an Emergency-free
    weekly window three days ahead, outside its 48 h notice."""
    start = start or timezone.now() + timedelta(days=3)
    extra.setdefault("title", "Patch Gamma")
    return maintenance.schedule_window(
        by,
        type=type,
        start=start,
        end=start + timedelta(hours=hours),
        modules=modules,
        **extra,
    )
