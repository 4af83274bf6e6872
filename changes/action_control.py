"""Change control on runbook actions (issue 10 item 4; 001 "Change Management").

A disruptive action (pause, drain, source disable, configuration reload, breaker reset, DLQ
purge: `Action.disruptive` in monitoring/actions.py) needs a linked change when either

1. a change freeze is in force on the module (`services.active_freeze`), or
2. the module is in production and no maintenance window is running on it
   (`maintenance.windows_for_modules`);

the linked change (`CHG-…`, given with the action) must then be one that covers the module
now: an approved or scheduled change whose window holds this moment, or one in progress
(`services.approved_change_for`'s rule), or an emergency change with its verbal approval
recorded (001 "Emergency Change Process": implemented on the on-call manager's word, its
formal request follows). Who may run which action at all is `monitoring.ActionRole` (data).

A module is in production unless its labels say otherwise (`environment`, admin-editable on
the module): the pipeline's modules are production; a staging module is labelled so.
"""

from django.utils import timezone

from .models import Change, ChangeType, Status

PRODUCTION = "production"


def in_production(module) -> bool:
    return str((module.labels or {}).get("environment", PRODUCTION)).lower() == PRODUCTION


def why_change_needed(module, at) -> str | None:
    """Why a disruptive action on `module` needs a change now, or None if it does not."""
    from . import maintenance, services

    freeze = services.active_freeze(at, module.name)
    if freeze is not None:
        return (
            f"the change freeze {freeze.name!r} is in force until "
            f"{timezone.localtime(freeze.ends_at):%Y-%m-%d %H:%M}"
        )
    if in_production(module) and not maintenance.windows_for_modules([module.pk]):
        return f"{module.name} is in production and no maintenance window is running on it"
    return None


def covers(change: Change, module_name: str, at) -> bool:
    """Whether `change` lets a disruptive action run on the module at `at`."""
    if not change.affected_modules.filter(name=module_name).exists():
        return False
    if change.status == Status.IN_PROGRESS:
        return True
    if change.type == ChangeType.EMERGENCY:
        return change.status == Status.APPROVED and change.verbal_approver_id is not None
    start, end = change.window
    return (
        change.status in (Status.APPROVED, Status.SCHEDULED)
        and start is not None
        and start <= at < end
    )


def check(action, ctx) -> str | None:
    """The PRECHECK_HOOKS entry: a refusal naming the reason, or None."""
    from . import services

    at = timezone.now()
    module = ctx.module
    number = ctx.change_id
    change = Change.objects.filter(number=number).first() if number else None
    if number and change is None:
        return f"Change control: there is no change {number}."
    if change is not None and not covers(change, module.name, at):
        return (
            f"Change control: {change.number} ({change.get_status_display()}) does not cover "
            f"{module.name} now; link an approved change whose window is open, one in "
            "progress, or an emergency change with its verbal approval."
        )
    if change is not None or not action.disruptive:
        return None
    reason = why_change_needed(module, at)
    if reason is None:
        return None
    hint = services.approved_change_for(module.name, at)
    suggestion = f" ({hint.number} covers it now: give its id.)" if hint else ""
    return (
        f"Change control: {action.title.lower()} is disruptive and {reason}; it needs a "
        f"linked approved change or an emergency change (CHG-…).{suggestion}"
    )
