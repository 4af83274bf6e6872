"""Who may do what: every URL pattern of the console and the API, by method, with the
personas allowed (README "Roles and permissions"; console/fixtures/roles.json).

`tests/security/test_authz_matrix.py` walks the URL configuration and fails on a pattern
missing here (or an entry here that no longer matches a pattern), then requests every
(pattern, method) as every persona. To add a URL: add its entry under its name, with the
rule per method and, when its route takes arguments, `kw` naming the world objects
(`tests/security/world.py`) that fill them.
"""

from dataclasses import dataclass, field

from console import roles

from .world import ANONYMOUS, NO_ROLE, ROLES

RANKED = [r for r in ROLES if r != roles.CAB]  # CAB Member ranks 5, between Viewer and Operator


def at_least(role: str) -> frozenset[str]:
    """`role` and every role ranked above it (console.roles.at_least); CAB Member ranks 5."""
    order = [roles.VIEWER, roles.CAB, *RANKED[1:]]
    return frozenset(order[order.index(role) :])


PUBLIC = frozenset([ANONYMOUS, NO_ROLE, *ROLES])  # no sign-in needed
SIGNED_IN = frozenset([NO_ROLE, *ROLES])  # any signed-in user, with or without a role
VIEW = frozenset(ROLES)  # every role: each holds the view permissions
OPERATOR = at_least(roles.OPERATOR)  # Operator and above: the add/change permissions
ONCALL = at_least(roles.ONCALL)
SENIOR = at_least(roles.SENIOR)
OPS_LEAD = at_least(roles.OPS_LEAD)
ENG_MANAGER = at_least(roles.ENG_MANAGER)
DIRECTOR = at_least(roles.DIRECTOR)
CAB_OR_DIRECTOR = DIRECTOR | {roles.CAB}
NOBODY = frozenset()  # no persona of the matrix (e.g. staff only)


@dataclass(frozen=True)
class Url:
    """One URL pattern: the personas allowed per method, and how to fill its arguments."""

    methods: dict[str, frozenset[str]]
    # Route argument → key of `World.objects` (or a literal when wrapped in `Literal`).
    kw: dict[str, object] = field(default_factory=dict)
    # The object is looked up among those the persona may see: a persona without any role
    # gets 404 rather than 403 (STYLE: "fetching an object the user may not see is a 404").
    hides: bool = False
    # Not requested, with the reason (still listed, so a new URL cannot slip past).
    skip: str = ""
    # What an allowed GET answers when it is not 200 (e.g. a redirect).
    ok: tuple[int, ...] = (200,)
    # What a refusal answers besides 403 (e.g. 409 "not yours to edit").
    denied_with: tuple[int, ...] = (403,)
    # Known gap, with its reason: the view validates the body (or looks up what it names, or
    # answers with a message on a redirect) before it checks the role, so a denied persona
    # gets some refusal (any 4xx, X-Refused-Status or an error message), not a 403 first.
    lenient: str = ""
    # The request signs the persona out (its redirect to the sign-in page is the success).
    signs_out: bool = False


@dataclass(frozen=True)
class Literal:
    value: object


def get(rule, **extra) -> Url:
    return Url({"GET": rule}, **extra)


def post(rule, **extra) -> Url:
    return Url({"POST": rule}, **extra)


def get_post(rule, post_rule=None, **extra) -> Url:
    return Url({"GET": rule, "POST": post_rule or rule}, **extra)


INC = {"number": "incident"}
REVIEWED = {"number": "reviewed"}  # resolved, with a review and an action item
CHG = {"number": "change"}
WIN = {"pk": "window"}
HANDOFF = {"pk": "handoff"}
# Acting on an incident: its commander and responders (guardian) or Operations Lead and above
# (incidents.act_incident). Declaring engages the initial responders, who are the Operators
# (001 "Escalation Matrix"), so an Operator acts on a new incident too.
INC_ACT = OPS_LEAD | {roles.OPERATOR}
LOOKS_UP = "looks up what the body names before the role"
# Who approves depends on the change's risk level and state (CAB, approver), which the
# service decides after reading the decision.
APPROVER = "the approver depends on the change's risk and state"
# A handoff is edited and signed by its two people only; anyone else is told it is not theirs.
OWN = {"denied_with": (403, 409)}

TABLE: dict[str, Url] = {
    # --- console ---------------------------------------------------------------------------
    "overview": get(SIGNED_IN),
    "login": get_post(PUBLIC, ok=(200, 302)),
    "logout": post(SIGNED_IN, signs_out=True),
    "audit": get(VIEW),
    "healthz": get(PUBLIC),
    "readyz": get(PUBLIC),
    "metrics": get(PUBLIC),
    "schema": get(SIGNED_IN, skip="OpenAPI schema: generating it takes seconds; signed-in only"),
    "api-docs": get(SIGNED_IN),
    "admin:*": get(NOBODY, skip="Django admin: staff only (checked by test_admin_is_staff_only)"),
    # --- incidents -------------------------------------------------------------------------
    "incidents:index": get(VIEW),
    "incidents:declare": get_post(OPERATOR),
    "incidents:figures": get(VIEW),
    "incidents:figures_chart": get(VIEW, kw={"name": Literal("ack")}),
    "incidents:inbox": get(SIGNED_IN),
    "incidents:mark_read": post(SIGNED_IN),
    "incidents:detail": get(VIEW, kw=INC, hides=True),
    "incidents:acknowledge": post(INC_ACT, kw=INC, hides=True),
    "incidents:investigate": post(INC_ACT, kw=INC, hides=True),
    "incidents:mitigate": post(INC_ACT, kw=INC, hides=True),
    "incidents:resolve": post(INC_ACT, kw=INC, hides=True),
    "incidents:close": post(INC_ACT, kw=INC, hides=True),
    "incidents:reopen": post(INC_ACT, kw=INC, hides=True),
    "incidents:severity": post(INC_ACT, kw=INC, hides=True),
    "incidents:escalate": post(INC_ACT, kw=INC, hides=True),
    "incidents:add_note": post(INC_ACT, kw=INC, hides=True),
    "incidents:add_responder": post(INC_ACT, kw=INC, hides=True),
    "incidents:update_modules": post(INC_ACT, kw=INC, hides=True),
    "incidents:confirm_data_loss": post(INC_ACT, kw=INC, hides=True),
    "incidents:post_update": get_post(INC_ACT, kw=INC, hides=True),
    "incidents:presence": post(VIEW, kw=INC, hides=True),
    "incidents:review": get_post(VIEW, INC_ACT, kw=REVIEWED, hides=True),
    "incidents:start_review": post(INC_ACT, kw=INC, hides=True),
    "incidents:review_report": get(VIEW, kw=REVIEWED, hides=True),
    "incidents:add_action_item": post(INC_ACT, kw=REVIEWED, hides=True),
    "incidents:set_action_item": post(INC_ACT, kw={**REVIEWED, "item": "action_item"}, hides=True),
    # --- changes ---------------------------------------------------------------------------
    "changes:index": get(VIEW),
    "changes:create": get_post(OPERATOR),
    "changes:cab": get(VIEW),
    "changes:cab_minutes": post(CAB_OR_DIRECTOR),
    "changes:weekly": get(VIEW),
    "changes:weekly_chart": get(VIEW),
    "changes:freezes": get(VIEW),
    "changes:incident_changes": get(VIEW, kw=INC),
    "changes:detail": get(VIEW, kw=CHG),
    "changes:edit": get_post(OPS_LEAD, kw=CHG),
    "changes:submit": post(OPS_LEAD, kw=CHG),
    "changes:begin_review": post(SENIOR, kw=CHG),
    "changes:review": post(SENIOR, kw=CHG),
    "changes:decide": post(OPS_LEAD, kw=CHG, lenient=APPROVER),
    "changes:cab_vote": post(frozenset([roles.CAB]), kw=CHG, lenient=APPROVER),
    "changes:revise": post(OPS_LEAD, kw=CHG),
    "changes:verbal": post(OPS_LEAD, kw=CHG),
    "changes:formal": post(OPS_LEAD, kw=CHG),
    "changes:conflicts": get(VIEW, kw=CHG),
    "changes:schedule": post(OPS_LEAD, kw=CHG),
    "changes:checklist": post(OPS_LEAD, kw={**CHG, "item": Literal(1)}),
    "changes:start": post(OPS_LEAD, kw=CHG),
    "changes:add_log": post(OPS_LEAD, kw=CHG),
    "changes:complete": post(OPS_LEAD, kw=CHG),
    "changes:fail": post(OPS_LEAD, kw=CHG),
    "changes:rollback": post(OPS_LEAD, kw=CHG),
    "changes:pir": post(OPS_LEAD, kw=CHG),
    "changes:close": post(OPS_LEAD, kw=CHG),
    "changes:mark_caused": post(OPS_LEAD, kw=CHG, lenient=LOOKS_UP),
    "changes:unmark_caused": post(OPS_LEAD, kw=CHG, lenient=LOOKS_UP),
    # --- maintenance windows ---------------------------------------------------------------
    "maintenance:calendar": get(VIEW),
    "maintenance:schedule": get_post(OPERATOR),
    "maintenance:banner": get(SIGNED_IN),
    "maintenance:detail": get(VIEW, kw=WIN, hides=True),
    "maintenance:approve": post(OPS_LEAD, kw=WIN, hides=True),  # the weekly type's approver
    "maintenance:cancel": post(OPS_LEAD, kw=WIN, hides=True),  # its owner or an approver
    "maintenance:reschedule": post(OPS_LEAD, kw=WIN, hides=True),
    "maintenance:end": post(OPERATOR, kw=WIN, hides=True),
    "maintenance:announcement": post(OPERATOR, kw=WIN, hides=True),
    "maintenance:send": post(OPERATOR, kw=WIN, hides=True),
    "maintenance:tick": post(OPERATOR, kw={**WIN, "item": Literal(1)}, hides=True),
    "maintenance:rollback": post(OPERATOR, kw=WIN, hides=True),
    "maintenance:status": get(PUBLIC),
    "maintenance:feed": get(PUBLIC),
    # --- shifts ----------------------------------------------------------------------------
    "shifts:index": get(VIEW),
    "shifts:notices_read": post(VIEW),
    "shifts:oncall_badge": get(SIGNED_IN),
    "shifts:calendar": get(VIEW),
    "shifts:shift_add": post(OPS_LEAD),
    "shifts:shift_swap": post(OPS_LEAD, lenient=LOOKS_UP),
    "shifts:rota_add": post(OPS_LEAD),
    "shifts:override_add": post(OPS_LEAD),
    "shifts:ical": get(PUBLIC, kw={"token": "ical"}),
    "shifts:checklist": get(VIEW, kw={"key": "checklist"}),
    "shifts:checklist_tick": post(OPERATOR, kw={"key": "checklist"}),
    "shifts:tick_incident": post(OPERATOR, kw={"pk": Literal(1)}),
    "shifts:log": get(VIEW),
    "shifts:log_add": post(OPERATOR),
    "shifts:log_close": post(OPERATOR, kw={"pk": "log"}),
    "shifts:handoff_start": get_post(VIEW, OPERATOR),
    "shifts:oncall_log": get_post(VIEW, OPERATOR),
    "shifts:handoff": get(VIEW, kw=HANDOFF),
    "shifts:handoff_draft": post(NOBODY, kw=HANDOFF, **OWN),
    "shifts:handoff_refresh": post(NOBODY, kw=HANDOFF, **OWN),
    "shifts:handoff_confirm": post(NOBODY, kw={**HANDOFF, "what": Literal("dashboard")}, **OWN),
    "shifts:handoff_test": post(NOBODY, kw=HANDOFF, **OWN),
    "shifts:handoff_received": post(NOBODY, kw={**HANDOFF, "notice": Literal(1)}, **OWN),
    "shifts:handoff_sign": post(NOBODY, kw=HANDOFF, **OWN),
    "shifts:summary": get(VIEW),
    # --- monitoring ------------------------------------------------------------------------
    "monitoring:index": get(VIEW),
    "monitoring:module_add": get_post(OPS_LEAD),
    "monitoring:module": get(VIEW, kw={"name": "module"}),
    "monitoring:module_edit": get_post(OPS_LEAD, kw={"name": "module"}),
    "monitoring:annotation_add": post(OPERATOR),
    # Its author only (or monitoring.change_annotation, which no role holds).
    "monitoring:annotation_end": post(NOBODY, kw={"pk": "annotation"}),
    "monitoring:chart": get(VIEW, kw={"key": "chart"}),
    "monitoring:jobs": get(VIEW),
    "monitoring:jobs_suspend_all": post(OPERATOR),
    "monitoring:jobs_resume_all": post(OPERATOR),
    "monitoring:job_detail": get(VIEW, kw={"name": "job"}),
    "monitoring:job_trigger": post(OPERATOR, kw={"name": "job"}),
    "monitoring:job_suspend": post(OPERATOR, kw={"name": "job"}),
    "monitoring:job_resume": post(OPERATOR, kw={"name": "job"}),
    "monitoring:actions": get(VIEW),
    "monitoring:action_result": get(VIEW, kw={"pk": "action_run"}),
    "monitoring:routes": get(VIEW),
    "monitoring:route_test": get_post(VIEW),
    "monitoring:route_add": get_post(OPS_LEAD),
    "monitoring:route_edit": get_post(OPS_LEAD, kw={"pk": "route"}),
    "monitoring:alert_group": get(VIEW, kw={"pk": "alert_group"}),
    "monitoring:degraded_activate": post(OPERATOR, kw={"module": "module"}),
    "monitoring:degraded_end": post(OPERATOR, kw={"module": "module"}),
    "monitoring:alerts": get(VIEW),
    "monitoring:alert": get(VIEW, kw={"pk": "alert"}),
    "monitoring:silences": get(VIEW),
    "monitoring:silence_add": get_post(OPERATOR),
    "monitoring:silence_expire": post(OPERATOR, kw={"pk": "silence"}),
    "monitoring:rules": get(VIEW),
    "monitoring:rule": get_post(VIEW, OPS_LEAD, kw={"name": "rule"}),
    "monitoring:rule_enabled": post(OPS_LEAD, kw={"name": "rule"}),
    "monitoring:rule_test": get_post(VIEW, kw={"name": "rule"}),
    "monitoring:runbooks": get(VIEW),
    "monitoring:runbook": get(VIEW, kw={"slug": "runbook"}),
    "monitoring:incident_alerts": get(VIEW, kw=INC, hides=True),
    "monitoring:incident_alert_link": post(INC_ACT, kw=INC, hides=True),
    "monitoring:incident_alert_unlink": post(INC_ACT, kw={**INC, "pk": "alert"}, hides=True),
    "monitoring:action": get(VIEW, kw={"module": "module", "key": Literal("pause")}),
    "monitoring:action_run": post(OPERATOR, kw={"module": "module", "key": Literal("pause")}),
    "capacity:index": get(VIEW),
    "capacity:calculator": get_post(VIEW),
    "capacity:chart": get(VIEW, kw={"kind": "capacity"}),
    "backups:index": get(VIEW),
    "backups:drill_schedule": post(SENIOR),
    "backups:drill_record": post(SENIOR, kw={"pk": "drill"}),
    "backups:drill_cancel": post(SENIOR, kw={"pk": "drill"}),
    # --- reports ---------------------------------------------------------------------------
    "reports:index": get(VIEW),
    "reports:detail": get(VIEW, kw={"key": Literal("weekly-change-review")}),
    "reports:download": get(VIEW, kw={"key": Literal("weekly-change-review")}),
    # --- API -------------------------------------------------------------------------------
    "api:me": get(SIGNED_IN),
    "api:audit": get(VIEW),
    "api:route-test": post(VIEW),
    "api:pipeline-status": get(VIEW),
    # monitoring.add_alert, which no role holds: the Alertmanager token's user.
    "api:alertmanager-intake": post(NOBODY),
    "api:backup-runs": post(OPS_LEAD),
    "api:job-list": get(VIEW),
    "api:job-detail": get(VIEW, kw={"name": "job"}),
    "api:job-runs": get(VIEW, kw={"name": "job"}),
    "api:job-trigger": post(OPERATOR, kw={"name": "job"}),
    "api:job-suspend": post(OPERATOR, kw={"name": "job"}),
    "api:job-resume": post(OPERATOR, kw={"name": "job"}),
    "api:action-list": Url({"GET": VIEW, "POST": OPERATOR}),
    "api:module-list": Url({"GET": VIEW, "POST": OPS_LEAD}),
    "api:module-detail": Url(
        {"GET": VIEW, "PUT": OPS_LEAD, "PATCH": OPS_LEAD}, kw={"name": "module"}
    ),
    "api:alert-list": get(VIEW),
    "api:alert-detail": get(VIEW, kw={"fingerprint": "fingerprint"}),
    "api:silence-list": Url({"GET": VIEW, "POST": OPERATOR}),
    "api:silence-detail": Url({"GET": VIEW, "DELETE": OPERATOR}, kw={"pk": "silence"}),
    "api:route-list": get(VIEW),
    "api:route-detail": get(VIEW, kw={"pk": "route"}),
    # Lists are restricted to what the caller may see: empty without a role.
    "api:incident-list": Url({"GET": SIGNED_IN, "POST": OPERATOR}),
    "api:incident-detail": get(VIEW, kw=INC, hides=True),
    **{
        f"api:incident-{action}": post(INC_ACT, kw=INC, hides=True)
        for action in (
            "acknowledge",
            "close",
            "escalate",
            "investigate",
            "mitigate",
            "notes",
            "reopen",
            "resolve",
            "responders",
            "severity",
            "updates",
        )
    },
    "api:change-list": Url({"GET": SIGNED_IN, "POST": OPERATOR}),
    "api:change-detail": get(VIEW, kw=CHG, hides=True),
    **{
        f"api:change-{action}": post(OPS_LEAD, kw=CHG, hides=True)
        for action in (
            "complete",
            "revise",
            "rollback",
            "schedule",
            "start",
            "submit",
            "verbal-approval",
        )
    },
    "api:change-approve": post(OPS_LEAD, kw=CHG, hides=True, lenient=APPROVER),
    "api:change-reject": post(OPS_LEAD, kw=CHG, hides=True, lenient=APPROVER),
    "api:change-review": post(SENIOR, kw=CHG, hides=True),
    "api:maintenance-window-list": Url({"GET": VIEW, "POST": OPERATOR}),
    "api:maintenance-window-detail": get(VIEW, kw=WIN),
    "api:maintenance-window-reschedule": post(OPS_LEAD, kw=WIN),
    "api:oncall-now": get(VIEW),
    "api:shift-list": Url({"GET": VIEW, "POST": OPS_LEAD}),
    "api:shift-detail": get(VIEW, kw={"pk": "shift"}),
    "api:rota-list": Url({"GET": VIEW, "POST": OPS_LEAD}),
    "api:rota-detail": get(VIEW, kw={"pk": "rota"}),
    "api:shift-log-list": Url({"GET": VIEW, "POST": OPERATOR}),
    "api:shift-log-detail": get(VIEW, kw={"pk": "log"}),
    "api:shift-log-close": post(OPERATOR, kw={"pk": "log"}),
    "api:handoff-list": Url({"GET": VIEW, "POST": OPERATOR}),
    "api:handoff-detail": Url({"GET": VIEW, "PATCH": NOBODY}, kw=HANDOFF, **OWN),
    "api:handoff-sign": post(NOBODY, kw=HANDOFF, **OWN),
}
