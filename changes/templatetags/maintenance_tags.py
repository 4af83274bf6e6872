"""Maintenance on every page (the banner) and on the war room of an incident it touches."""

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def running_maintenance(context) -> list:
    """The windows running now, for a signed-in user who may see them (one indexed query:
    `status = in_progress`)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if (
        user is None
        or not user.is_authenticated
        or not user.has_perm("changes.view_maintenancewindow")
    ):
        return []
    from changes import maintenance

    return list(maintenance.active_windows())


@register.simple_tag
def maintenance_for_incident(incident) -> list:
    """Running windows on any of the incident's affected modules."""
    from changes import maintenance

    ids = list(incident.affected_modules.values_list("pk", flat=True))
    return maintenance.windows_for_modules(ids) if ids else []


@register.filter
def minutes_text(minutes) -> str:
    """A notice or a cap as the manual says it ("48 h", "2 weeks")."""
    from changes.maintenance import _duration_text

    return _duration_text(int(minutes)) if minutes else ""
