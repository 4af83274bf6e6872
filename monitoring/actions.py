"""Runbook actions (001 Runbooks A–E) as guided, checked calls to a module's admin endpoints.

Every action follows 004 "Runbook Automation" (pre-execution safety checks, post-execution
validation, audit logging):

1. permission: the user's role must be at or above the action's row in `ActionRole`
   (monitoring/fixtures/actions.json, editable in the admin; purge takes Operations Lead);
2. one run per (action, module) at a time, and one per idempotency key: a double-click or a
   resent form returns the first run, it never calls the module twice;
3. pre-check: the module is asked for the state the action needs (a breaker must be OPEN to
   reset, ingestion running to pause, ...), then every hook in `PRECHECK_HOOKS` may refuse
   (change control plugs in there: see `PRECHECK_HOOKS`);
4. the call; a module that does not answer, or answers an error, makes the run FAILED with
   the module's own message;
5. post-validation: the module is asked again whether the action took effect; a call that
   succeeded but does not validate is UNVERIFIED, never "succeeded";
6. the outcome goes to the audit trail, to live pages, and — when the action was started
   from an incident — onto the incident's timeline.
"""

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from console import audit, live, roles
from console.errors import Refused

from .models import ActionRole, ActionRun, Module
from .module_admin import Answer, call

log = logging.getLogger(__name__)
TOPIC = "actions"
PERMISSION = "monitoring.add_actionrun"


@dataclass
class Check:
    ok: bool
    summary: str
    data: dict = field(default_factory=dict)


@dataclass
class Context:
    """What an action's checks and call see."""

    module: Module
    params: dict
    by: Any = None
    incident: Any = None

    @property
    def target(self) -> str:
        return str(self.params.get("target", ""))

    @property
    def change_id(self) -> str:
        """The change (CHG-…) the action is run under, if one is given (change control)."""
        return str(self.params.get("change", "")).strip().upper()

    def get(self, path: str) -> Answer:
        return call(self.module, "GET", path)


@dataclass(frozen=True)
class Action:
    key: str
    title: str
    runbook: str
    kinds: tuple[str, ...]
    description: str
    impact: str
    precheck: Callable[[Context], Check]
    perform: Callable[[Context], tuple[str, str, Any]]  # method, path, body
    postcheck: Callable[[Context, Answer, Check], Check]
    target: str = ""  # what `target` names: source | cache | destination | ""
    disruptive: bool = False
    read_only: bool = False
    # Irreversible (issue 12, data safety): refused without a reason, which the run and its
    # audit entry keep.
    needs_reason: bool = False

    def applies_to(self, module: Module) -> bool:
        return module.kind in self.kinds or "any" in self.kinds


# Pre-check hooks every action passes: each takes (action, context) and returns a refusal
# message or None. Change control (issue 10 item 4: a freeze, or a production module outside
# a maintenance window, needs an approved or emergency change) is one entry here:
# changes.action_control.check, appended in that app's ready(). The guided page shows a
# refusal with the pre-check; `run` refuses with it (409) before anything is sent.
PRECHECK_HOOKS: list[Callable[[Action, Context], str | None]] = []


def _refused(answer: Answer, what: str) -> Check:
    """The module did not answer, or answered an error: the run FAILS with its message."""
    return Check(False, f"could not read {what}: {answer.message}", {"module_error": True})


# --- run state: pause / resume / drain (001 "State Backup"; 003 pause/resume) -----------------


def _state(ctx: Context) -> tuple[Answer, str]:
    answer = ctx.get("/admin/status")
    state = answer.data.get("state", "") if answer.ok and isinstance(answer.data, dict) else ""
    return answer, state


def _state_pre(allowed: tuple[str, ...], verb: str):
    def check(ctx: Context) -> Check:
        answer, state = _state(ctx)
        if not answer.ok:
            return _refused(answer, "the module's state")
        data = {"state": state, "queued": answer.data.get("queued")}
        if state not in allowed:
            return Check(False, f"{ctx.module} is {state}; it cannot {verb} from there", data)
        return Check(True, f"{ctx.module} is {state}", data)

    return check


def _state_post(expected: tuple[str, ...]):
    def check(ctx: Context, answer: Answer, pre: Check) -> Check:
        after, state = _state(ctx)
        if not after.ok:
            return _refused(after, "the module's state afterwards")
        ok = state in expected
        return Check(
            ok,
            f"{ctx.module} is now {state}" + ("" if ok else f", not {'/'.join(expected)}"),
            {"state": state},
        )

    return check


# --- sources (Runbook A.3) ---------------------------------------------------------------------


def _source_pre(want_status: tuple[str, ...] | None):
    def check(ctx: Context) -> Check:
        if not ctx.target:
            return Check(False, "choose a source")
        answer = ctx.get(f"/admin/sources/{quote(ctx.target)}/status")
        if not answer.ok:
            return _refused(answer, f"source {ctx.target}")
        status = answer.data.get("status")
        data = {"status": status, "rate_per_second": answer.data.get("rate_per_second")}
        if want_status and status not in want_status:
            return Check(False, f"{ctx.target} is {status}", data)
        return Check(True, f"{ctx.target} is {status}", data)

    return check


def _source_post(expected: tuple[str, ...]):
    def check(ctx: Context, answer: Answer, pre: Check) -> Check:
        after = ctx.get(f"/admin/sources/{quote(ctx.target)}/status")
        if not after.ok:
            return _refused(after, f"source {ctx.target} afterwards")
        status = after.data.get("status")
        ok = status in expected
        return Check(ok, f"{ctx.target} is now {status}", {"status": status})

    return check


def _test_post(ctx: Context, answer: Answer, pre: Check) -> Check:
    data = answer.data or {}
    if data.get("reachable"):
        return Check(True, f"{ctx.target} reachable in {data.get('latency_ms')} ms", data)
    return Check(False, f"{ctx.target} not reachable: {data.get('error')}", data)


# --- configuration reload ----------------------------------------------------------------------


def _config_pre(ctx: Context) -> Check:
    changes = ctx.params.get("changes") or {}
    if not isinstance(changes, dict):
        return Check(False, "changes must be a JSON object")
    answer = ctx.get("/admin/config")
    if not answer.ok:
        return _refused(answer, "the running configuration")
    version = answer.data.get("version")
    return Check(True, f"configuration version {version}", {"version": version})


def _config_post(ctx: Context, answer: Answer, pre: Check) -> Check:
    after = ctx.get("/admin/config")
    if not after.ok:
        return _refused(after, "the configuration afterwards")
    version = after.data.get("version")
    reported = answer.data or {}
    if reported.get("changed") and version == pre.data.get("version"):
        return Check(False, f"reload reported changes but the version is still {version}")
    if version != reported.get("version"):
        return Check(
            False, f"module reports version {version}, the reload said {reported.get('version')}"
        )
    changed = ", ".join(reported.get("changed") or []) or "nothing changed"
    return Check(
        True, f"version {pre.data.get('version')} → {version} ({changed})", {"version": version}
    )


# --- caches (Runbook B.2) ----------------------------------------------------------------------


def _cache_pre(ctx: Context) -> Check:
    if not ctx.target:
        return Check(False, "choose a cache (or all)")
    answer = ctx.get("/admin/cache/status")
    if not answer.ok:
        return _refused(answer, "the cache status")
    caches = {c["name"]: c for c in answer.data.get("caches", [])}
    if ctx.target != "all" and ctx.target not in caches:
        return Check(False, f"no cache {ctx.target}; there are {', '.join(sorted(caches))}")
    data = {"hit_rate": answer.data.get("hit_rate"), "caches": sorted(caches)}
    return Check(True, f"hit rate {answer.data.get('hit_rate')}", data)


def _cache_post(ctx: Context, answer: Answer, pre: Check) -> Check:
    after = ctx.get("/admin/cache/refresh/status")
    if not after.ok:
        return _refused(after, "the refresh status")
    names = pre.data.get("caches", []) if ctx.target == "all" else [ctx.target]
    states = {n: (after.data.get("caches", {}).get(n) or {}).get("status") for n in names}
    ok = all(s in ("refreshing", "idle") for s in states.values()) and any(
        s == "refreshing" for s in states.values()
    )
    return Check(ok, "refreshing: " + ", ".join(f"{n} {s}" for n, s in states.items()), states)


# --- circuit breakers (Runbook C.3) ------------------------------------------------------------


def _breaker(ctx: Context) -> tuple[Answer, dict | None]:
    answer = ctx.get("/admin/circuit-breakers/status")
    if not answer.ok:
        return answer, None
    for item in answer.data.get("circuit_breakers", []):
        if item.get("destination") == ctx.target:
            return answer, item
    return answer, None


def _breaker_pre(ctx: Context) -> Check:
    if not ctx.target:
        return Check(False, "choose a destination")
    answer, item = _breaker(ctx)
    if not answer.ok:
        return _refused(answer, "the circuit breakers")
    if item is None:
        return Check(False, f"no breaker for {ctx.target}")
    dest = ctx.get(f"/admin/destinations/{quote(ctx.target)}/status")
    status = dest.data.get("status") if dest.ok and isinstance(dest.data, dict) else "unknown"
    data = {"state": item["state"], "destination_status": status}
    if item["state"] != "OPEN":
        return Check(False, f"the breaker is {item['state']}; only an OPEN breaker is reset", data)
    # C.3 step 2b: verify the destination is available before closing the circuit.
    if status == "down":
        return Check(False, f"{ctx.target} is still down; resetting would trip again", data)
    return Check(True, f"breaker OPEN, destination {status}", data)


def _breaker_post(ctx: Context, answer: Answer, pre: Check) -> Check:
    after, item = _breaker(ctx)
    if item is None:
        return _refused(after, "the breaker afterwards")
    ok = item["state"] in ("HALF_OPEN", "CLOSED")
    return Check(
        ok,
        f"breaker now {item['state']} (C.3: watch it go through HALF_OPEN)",
        {"state": item["state"]},
    )


# --- dead letter queue (Runbook C.2) -----------------------------------------------------------


def _selection(ctx: Context, allow_all: bool) -> dict | None:
    ids = ctx.params.get("entry_ids")
    if ids:
        return {"entry_ids": [str(i) for i in ids][:10000]}
    scope = ctx.params.get("scope")
    if scope == "retry_eligible":
        return {"filter": {"retry_eligible": True}}
    if scope == "permanent":
        return {"filter": {"retry_eligible": False}}
    if scope == "all" and allow_all:
        return {"all": True}
    return None


def _dlq_pre(allow_all: bool):
    def check(ctx: Context) -> Check:
        if _selection(ctx, allow_all) is None:
            return Check(False, "choose entries, or a scope")
        answer = ctx.get("/admin/dlq/stats")
        if not answer.ok:
            return _refused(answer, "the DLQ stats")
        data = {
            "size": answer.data.get("size"),
            "retry_eligible": answer.data.get("retry_eligible"),
        }
        if not data["size"]:
            return Check(False, "the DLQ is empty", data)
        if not allow_all:
            # Replaying into an OPEN breaker sends the records straight back (C.2 step 4 is
            # for transient failures that have cleared).
            breakers = ctx.get("/admin/circuit-breakers/status")
            if breakers.ok:
                open_ = [
                    b["destination"]
                    for b in breakers.data.get("circuit_breakers", [])
                    if b.get("state") == "OPEN"
                ]
                data["open_breakers"] = open_
                if open_:
                    return Check(
                        False,
                        f"breakers still OPEN for {', '.join(open_)}; "
                        "replayed records would fail again",
                        data,
                    )
        return Check(True, f"{data['size']} entries, {data['retry_eligible']} retry-eligible", data)

    return check


def _dlq_post(counted: str):
    def check(ctx: Context, answer: Answer, pre: Check) -> Check:
        reported = answer.data or {}
        done = int(reported.get(counted) or 0)
        missing = reported.get("not_found") or []
        after = ctx.get("/admin/dlq/stats")
        if not after.ok:
            return _refused(after, "the DLQ stats afterwards")
        size = after.data.get("size")
        summary = f"{counted} {done}; DLQ {pre.data.get('size')} → {size}"
        if missing:
            summary += f"; {len(missing)} already gone: {', '.join(missing[:10])}"
        # New failures may arrive meanwhile, so the size need only not have grown by more
        # than arrived; what the module says it removed is the figure we report.
        return Check(True, summary, {counted: done, "not_found": missing, "size_after": size})

    return check


def _export_pre(ctx: Context) -> Check:
    if ctx.params.get("format", "json") not in ("json", "csv"):
        return Check(False, "format must be json or csv")
    answer = ctx.get("/admin/dlq/stats")
    if not answer.ok:
        return _refused(answer, "the DLQ stats")
    return Check(True, f"{answer.data.get('size')} entries", {"size": answer.data.get("size")})


def _export_post(ctx: Context, answer: Answer, pre: Check) -> Check:
    return Check(True, f"exported {len(answer.text)} bytes", {"bytes": len(answer.text)})


def _export_path(ctx: Context) -> tuple[str, str, Any]:
    query = {"format": ctx.params.get("format", "json")}
    if ctx.params.get("scope") == "retry_eligible":
        query["retry_eligible"] = "true"
    return "GET", "/admin/dlq/export?" + urlencode(query), None


_ALPHA, _BETA, _GAMMA, _ANY = ("alpha",), ("beta",), ("gamma",), ("any",)

ACTIONS: dict[str, Action] = {
    a.key: a
    for a in [
        Action(
            "pause", "Pause the module", "001 State Backup; 003 pause/resume", _ANY,
            "Stops the module working (Alpha stops polling its sources).",
            "Nothing moves through it; upstream fills its queue, Alpha's sources are refused "
            "as throttled. Resume soon.",
            _state_pre(("running", "draining", "drained"), "pause"),
            lambda c: ("POST", "/admin/pause", None),
            _state_post(("paused",)),
            disruptive=True,
        ),
        Action(
            "resume", "Resume the module", "001 State Backup; 003 pause/resume", _ANY,
            "Puts a paused, draining or drained module back to work.",
            "Queued records flow again; expect a short burst of throughput.",
            _state_pre(("paused", "draining", "drained"), "resume"),
            lambda c: ("POST", "/admin/resume", None),
            _state_post(("running",)),
        ),
        Action(
            "drain", "Drain the module", "001 State Backup", _ANY,
            "Takes nothing new and works off what it holds, then reports drained.",
            "Upstream backs up while it drains; use before a restart or backup.",
            _state_pre(("running", "paused"), "drain"),
            lambda c: ("POST", "/admin/drain", None),
            _state_post(("draining", "drained")),
            disruptive=True,
        ),
        Action(
            "source_disable", "Disable a source", "001 Runbook A.3", _ALPHA,
            "Stops ingesting from one source (its configuration version moves).",
            "That source's records are not collected until it is enabled again.",
            _source_pre(("connected", "failing")),
            lambda c: ("POST", f"/admin/sources/{quote(c.target)}/disable", None),
            _source_post(("disabled",)),
            target="source", disruptive=True,
        ),
        Action(
            "source_enable", "Enable a source", "001 Runbook A.1 step 6", _ALPHA,
            "Starts ingesting from a disabled source.",
            "Ingestion rises by the source's share of the rate.",
            _source_pre(("disabled",)),
            lambda c: ("POST", f"/admin/sources/{quote(c.target)}/enable", None),
            _source_post(("connected", "failing")),
            target="source",
        ),
        Action(
            "source_test", "Test a source", "001 Runbook A.1 step 4", _ALPHA,
            "Checks that the source answers, and how fast.", "None: read-only.",
            _source_pre(None),
            lambda c: ("POST", f"/admin/sources/{quote(c.target)}/test", None),
            _test_post,
            target="source", read_only=True,
        ),
        Action(
            "config_reload", "Reload configuration", "001 Runbook A.3 step 2", _ANY,
            "Applies the given changes (all validated first; a bad one applies nothing).",
            "Settings change at once for every record after the reload.",
            _config_pre,
            lambda c: ("POST", "/admin/config/reload", c.params.get("changes") or None),
            _config_post,
            disruptive=True,
        ),
        Action(
            "cache_refresh", "Refresh an enrichment cache", "001 Runbook B.2", _BETA,
            "Empties a cache (or all) and reloads it from its source.",
            "Hit rates dip and enrichment slows while it refills (B.2: 30-60 minutes).",
            _cache_pre,
            lambda c: ("POST", f"/admin/cache/refresh/{quote(c.target)}", None),
            _cache_post,
            target="cache",
        ),
        Action(
            "breaker_reset", "Reset a circuit breaker", "001 Runbook C.3", _GAMMA,
            "Moves an OPEN breaker to HALF_OPEN now; trial records close it if the "
            "destination is back.",
            "If the destination is still failing the breaker opens again and more records "
            "go to the DLQ.",
            _breaker_pre,
            lambda c: ("POST", f"/admin/circuit-breakers/{quote(c.target)}/reset", None),
            _breaker_post,
            target="destination", disruptive=True,
        ),
        Action(
            "dlq_replay", "Replay DLQ entries", "001 Runbook C.2 step 4", _GAMMA,
            "Moves the chosen entries (or every retry-eligible one) back into delivery.",
            "Delivery load rises while they go out; entries that fail again return to the DLQ.",
            _dlq_pre(allow_all=False),
            lambda c: ("POST", "/admin/dlq/replay", _selection(c, allow_all=False)),
            _dlq_post("replayed"),
        ),
        Action(
            "dlq_export", "Export DLQ entries", "001 Runbook C.2 step 6", _GAMMA,
            "Downloads the entries as JSON or CSV for processing elsewhere.", "None: read-only.",
            _export_pre, _export_path, _export_post,
            read_only=True,
        ),
        Action(
            "dlq_purge", "Purge DLQ entries", "001 Runbook C.2 steps 5 and 7", _GAMMA,
            "Deletes the chosen entries for good; they count as rejected.",
            "Irreversible: the records are lost unless exported first.",
            _dlq_pre(allow_all=True),
            lambda c: ("POST", "/admin/dlq/purge", _selection(c, allow_all=True)),
            _dlq_post("purged"),
            disruptive=True, needs_reason=True,
        ),
    ]
}  # fmt: skip


# --- who may run what --------------------------------------------------------------------------


def required_role(key: str) -> str | None:
    return ActionRole.objects.filter(action=key).values_list("min_role", flat=True).first()


def may_run(user, key: str) -> bool:
    if not user.has_perm(PERMISSION):
        return False
    needed = required_role(key)
    return needed is not None and roles.at_least(user, needed)


def load_roles_table(rows: list[dict]) -> str:
    created = 0
    for row in rows:
        _, was_created = ActionRole.objects.get_or_create(action=row["action"], defaults=row)
        created += was_created
    return f"{len(rows)} runbook action roles ({created} new)"


# --- the runner --------------------------------------------------------------------------------


def get_action(key: str, module: Module) -> Action:
    action = ACTIONS.get(key)
    if action is None:
        raise Refused(f"No action {key!r}.", 404)
    if not action.applies_to(module):
        raise Refused(f"{action.title} does not apply to {module} ({module.kind}).", 400)
    return action


def preview(by, key: str, module: Module, params: dict) -> tuple[Action, Check]:
    """The pre-check alone (the guided page shows it before asking for confirmation)."""
    action = get_action(key, module)
    ctx = Context(module, params, by)
    return action, _precheck(action, ctx)


def _precheck(action: Action, ctx: Context, hooks: bool = True) -> Check:
    check = action.precheck(ctx)
    if not check.ok or not hooks:
        return check
    refusal = _hook_refusal(action, ctx)
    return Check(False, refusal, check.data) if refusal else check


def _hook_refusal(action: Action, ctx: Context) -> str | None:
    for hook in PRECHECK_HOOKS:
        refusal = hook(action, ctx)
        if refusal:
            return refusal
    return None


def new_key() -> str:
    return uuid.uuid4().hex


def _record(run: ActionRun, status: str, message: str, **fields) -> ActionRun:
    run.status, run.message, run.finished_at = status, message[:2000], timezone.now()
    for name, value in fields.items():
        setattr(run, name, value)
    run.save()
    return run


def run(by, key: str, module: Module, params: dict, idempotency_key: str, incident=None):
    """Run an action end to end. Returns (ActionRun, the module's Answer or None)."""
    action = get_action(key, module)
    if not may_run(by, key):
        needed = required_role(key) or "a role the action table names"
        raise PermissionDenied(f"{action.title} needs {needed} or above.")
    if not idempotency_key or len(idempotency_key) > 80:
        raise Refused("A confirmation key is required (reload the page).", 400)
    if action.needs_reason and not str(params.get("reason") or "").strip():
        raise Refused(f"{action.title} cannot be undone: say why.", 400)
    existing = ActionRun.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing, None  # the same confirmation sent twice: the first run stands
    ctx = Context(module, params, by, incident)
    # The hooks are policy (change control), not the module's state: a refusal is the
    # caller's to fix (link a change), answered like a permission refusal, before any run.
    if refusal := _hook_refusal(action, ctx):
        raise Refused(refusal, 409)
    try:
        with transaction.atomic():
            record = ActionRun.objects.create(
                action=key,
                module=module.name,
                target=ctx.target,
                params=params,
                idempotency_key=idempotency_key,
                requested_by=by,
                requested_by_name=by.get_username(),
                incident=incident,
                started_at=timezone.now(),
            )
    except IntegrityError:
        existing = ActionRun.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing, None
        busy = ActionRun.objects.filter(
            action=key, module=module.name, status=ActionRun.Status.RUNNING
        ).first()
        who = f" by {busy.requested_by_name}" if busy else ""
        raise Refused(f"{action.title} on {module} is already running{who}.") from None
    answer = None
    try:
        pre = _precheck(action, ctx, hooks=False)
        record.precheck = {"ok": pre.ok, "summary": pre.summary, "data": pre.data}
        if not pre.ok and pre.data.get("module_error"):
            _record(record, ActionRun.Status.FAILED, f"Pre-check: {pre.summary}")
        elif not pre.ok:
            _record(record, ActionRun.Status.REFUSED, f"Pre-check: {pre.summary}")
        else:
            method, path, body = action.perform(ctx)
            answer = call(module, method, path, body)
            record.response = _response_summary(answer)
            if not answer.ok:
                _record(record, ActionRun.Status.FAILED, f"{module} answered: {answer.message}")
            else:
                post = action.postcheck(ctx, answer, pre)
                record.postcheck = {"ok": post.ok, "summary": post.summary, "data": post.data}
                status = ActionRun.Status.SUCCEEDED if post.ok else ActionRun.Status.UNVERIFIED
                _record(record, status, post.summary)
    except Exception as exc:  # never leave a run "running" behind: it blocks the next one
        # e.g. a module answering a shape we do not expect: recorded as failed, never claimed.
        log.exception("action %s on %s failed in the console", key, module)
        _record(record, ActionRun.Status.FAILED, f"console error: {type(exc).__name__}: {exc}")
    finally:
        _finish(action, record)
    return record, answer


def _response_summary(answer: Answer) -> dict:
    if isinstance(answer.data, (dict, list)) and len(answer.text) <= 20000:
        return {"status": answer.status, "body": answer.data}
    return {"status": answer.status, "bytes": len(answer.text), "error": answer.error}


def _finish(action: Action, record: ActionRun) -> None:
    audit.record(
        f"action.{action.key}",
        actor=record.requested_by,
        obj=record,
        after={
            "module": record.module,
            "target": record.target,
            "status": record.status,
            "message": record.message,
            "precheck": record.precheck.get("summary"),
            "postcheck": record.postcheck.get("summary"),
            "incident": record.incident.number if record.incident else None,
            **({"reason": record.params["reason"]} if record.params.get("reason") else {}),
            "change": record.params.get("change") or None,
        },
    )
    if record.incident_id:
        _note_on_incident(action, record)
    if record.params.get("change"):
        from changes import services as changes

        changes.note_action_run(
            record.params["change"], _run_text(action, record), record.requested_by, record.pk
        )
    live.publish(TOPIC, "actions.changed", run=record.pk)
    live.publish(f"module.{record.module}", "module.action", run=record.pk)


def _run_text(action: Action, record: ActionRun) -> str:
    target = f" ({record.target})" if record.target else ""
    change = f" under {record.params['change']}" if record.params.get("change") else ""
    return (
        f"Runbook action {action.title}{target} on {record.module}{change}: "
        f"{record.get_status_display()}. {record.message}"
    )


def _note_on_incident(action: Action, record: ActionRun) -> None:
    from incidents import services as incidents
    from incidents.models import TimelineEntry

    text = _run_text(action, record)
    try:
        incidents.add_note(
            record.requested_by, record.incident_id, text, kind=TimelineEntry.Kind.RUNBOOK
        )
    except PermissionDenied:
        # Not a responder on that incident: the console writes it, naming who ran it.
        incidents.add_note(
            None,
            record.incident_id,
            f"{text} (run by {record.requested_by_name})",
            kind=TimelineEntry.Kind.RUNBOOK,
        )


# A run still "running" after this long lost its worker mid-call; it must not block the next.
STALE_AFTER_SECONDS = 120


def expire_stale_runs() -> int:
    cutoff = timezone.now() - timedelta(seconds=STALE_AFTER_SECONDS)
    stale = ActionRun.objects.filter(status=ActionRun.Status.RUNNING, started_at__lt=cutoff)
    count = 0
    for record in stale:
        with transaction.atomic():
            locked = (
                ActionRun.objects.select_for_update(skip_locked=True)
                .filter(pk=record.pk, status=ActionRun.Status.RUNNING)
                .first()
            )
            if locked is None:
                continue
            _record(
                locked,
                ActionRun.Status.FAILED,
                "the console lost track of this run (worker stopped); "
                "check the module before retrying",
            )
            audit.record(
                f"action.{locked.action}",
                obj=locked,
                after={"status": locked.status, "message": locked.message},
            )
            count += 1
    return count
