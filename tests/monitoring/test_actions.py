"""Runbook actions against the real simulator: every action's pre-check, call and
post-validation; permissions from the role table; a module that is down; double-clicks;
purge honesty; the incident timeline; the pre-check hook list."""

import pytest
from django.core.exceptions import PermissionDenied

from console.errors import Refused
from console.models import AuditEntry
from monitoring import actions
from monitoring.models import ActionRun, Module
from tests.monitoring.jobs_support import step
from tests.simulator.support import call

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("without_change_control")]


@pytest.fixture
def lead(opslead, action_roles):
    return opslead


@pytest.fixture
def op(operator, action_roles):
    return operator


def run(user, key, module, **params):
    record, _ = actions.run(user, key, module, params, actions.new_key())
    return record


def state(sim, name):
    return call("GET", sim.urls()[name] + "/admin/status").json["state"]


@pytest.mark.parametrize(
    "key, start, end",
    [
        ("pause", "running", "paused"),
        ("drain", "running", "draining"),
    ],
)
def test_state_action_checks_before_and_after(op, sim, modules, key, start, end):
    record = run(op, key, modules["beta"])
    assert record.status == "succeeded", record.message
    assert record.precheck["summary"] == f"beta is {start}"
    assert record.postcheck["data"]["state"] == state(sim, "beta") == end
    again = run(op, key, modules["beta"])  # the pre-check now refuses: nothing is sent
    assert again.status == "refused" and "cannot" in again.message
    resumed = run(op, "resume", modules["beta"])
    assert resumed.status == "succeeded" and state(sim, "beta") == "running"


def test_resume_refused_when_already_running(op, sim, modules):
    assert run(op, "resume", modules["alpha"]).status == "refused"


def test_source_disable_enable_and_test(op, sim, modules):
    alpha = modules["alpha"]
    record = run(op, "source_disable", alpha, target="file_source_1")
    assert record.status == "succeeded" and "disabled" in record.message
    assert run(op, "source_disable", alpha, target="file_source_1").status == "refused"
    assert run(op, "source_enable", alpha, target="file_source_1").status == "succeeded"
    assert run(op, "source_test", alpha, target="api_source_1").status == "succeeded"
    call("POST", sim.urls()["alpha"] + "/admin/faults", {"scenario": "source-failure"})
    tested = run(op, "source_test", alpha, target="api_source_1")
    assert tested.status == "unverified" and "not reachable" in tested.message
    assert run(op, "source_test", alpha, target="nope").status == "failed"  # module's 404


def test_config_reload_validates_the_version_and_reports_module_errors(lead, sim, modules):
    record = run(lead, "config_reload", modules["alpha"], changes={"ingestion_rate": 3000})
    assert record.status == "succeeded" and "ingestion_rate" in record.message
    assert call("GET", sim.urls()["alpha"] + "/admin/config").json["version"] == "1.0.1"
    bad = run(lead, "config_reload", modules["alpha"], changes={"ingestion_rate": -5})
    assert bad.status == "failed" and bad.message.startswith("alpha answered: HTTP 400")


def test_config_reload_needs_on_call_or_above(op, modules):
    with pytest.raises(PermissionDenied, match="On-call Engineer"):
        run(op, "config_reload", modules["alpha"])


def test_cache_refresh(op, sim, modules):
    record = run(op, "cache_refresh", modules["beta"], target="customer_db")
    assert record.status == "succeeded" and "customer_db refreshing" in record.message
    assert run(op, "cache_refresh", modules["beta"], target="nope").status == "refused"


def test_action_that_does_not_apply_to_the_module_is_refused(op, modules):
    with pytest.raises(Refused):
        run(op, "cache_refresh", modules["alpha"], target="customer_db")


def _destination_outage(sim):
    gamma = sim.urls()["gamma"]
    call("POST", gamma + "/admin/faults", {"scenario": "destination-down"})
    step(sim, 30)


def test_breaker_reset_and_dlq_replay_after_a_destination_outage(op, sim, modules):
    gamma = modules["gamma"]
    assert run(op, "breaker_reset", gamma, target="partner_feed").status == "refused"  # CLOSED
    _destination_outage(sim)
    down = run(op, "breaker_reset", gamma, target="analytics_warehouse")
    assert down.status == "refused" and "still down" in down.message
    early = run(op, "dlq_replay", gamma, scope="retry_eligible")
    assert early.status == "refused" and "OPEN" in early.message
    call("DELETE", sim.urls()["gamma"] + "/admin/faults/destination-down")
    reset = run(op, "breaker_reset", gamma, target="analytics_warehouse")
    assert reset.status == "succeeded" and reset.postcheck["data"]["state"] == "HALF_OPEN"
    step(sim, 5)
    size = call("GET", sim.urls()["gamma"] + "/admin/dlq/stats").json["size"]
    assert size > 0
    replay = run(op, "dlq_replay", gamma, scope="retry_eligible")
    assert replay.status == "succeeded", replay.message
    replayed = replay.postcheck["data"]["replayed"]
    assert replayed > 0 and replay.postcheck["data"]["size_after"] == size - replayed


def test_purge_needs_operations_lead_and_reports_what_was_purged(op, lead, sim, modules):
    gamma = modules["gamma"]
    _destination_outage(sim)
    entries = call("GET", sim.urls()["gamma"] + "/admin/dlq/entries?limit=3").json["entries"]
    ids = [e["id"] for e in entries]
    with pytest.raises(PermissionDenied, match="Operations Lead"):
        run(op, "dlq_purge", gamma, entry_ids=ids, reason="Stale test data")
    with pytest.raises(Refused, match="cannot be undone: say why"):
        run(lead, "dlq_purge", gamma, entry_ids=ids)
    first = run(lead, "dlq_purge", gamma, entry_ids=ids[:2], reason="Stale test data")
    assert first.postcheck["data"]["purged"] == 2
    entry = AuditEntry.objects.get(action="action.dlq_purge", object_id=str(first.pk))
    assert entry.after["reason"] == "Stale test data"
    honest = run(lead, "dlq_purge", gamma, entry_ids=ids, reason="Rest of it")  # two gone
    assert honest.status == "succeeded"
    assert honest.postcheck["data"]["purged"] == 1
    assert honest.postcheck["data"]["not_found"] == ids[:2]
    assert "purged 1" in honest.message and "2 already gone" in honest.message


def test_module_down_is_recorded_as_failed_with_its_message(op, db):
    down = Module.objects.create(name="beta", kind="beta", base_url="http://127.0.0.1:9")
    record = run(op, "pause", down)
    assert record.status == "failed" and "cannot connect" in record.message
    assert AuditEntry.objects.filter(action="action.pause", object_id=str(record.pk)).exists()


def test_crashed_module_fails_the_action(op, sim, modules):
    call("POST", sim.urls()["control"] + "/modules/gamma/crash")
    record = run(op, "pause", modules["gamma"])
    assert record.status == "failed" and "cannot connect" in record.message


def test_double_click_runs_once(op, sim, modules):
    key = actions.new_key()
    first, _ = actions.run(op, "pause", modules["alpha"], {}, key)
    second, _ = actions.run(op, "pause", modules["alpha"], {}, key)
    assert first.pk == second.pk and ActionRun.objects.count() == 1
    assert first.status == "succeeded"


def test_one_run_in_flight_per_action_and_module(op, sim, modules):
    from django.utils import timezone

    ActionRun.objects.create(
        action="pause", module="alpha", idempotency_key="other", requested_by_name="someone",
        started_at=timezone.now(),
    )  # fmt: skip
    with pytest.raises(Refused, match="already running by someone"):
        run(op, "pause", modules["alpha"])
    assert state(sim, "alpha") == "running"


def test_precheck_hook_can_refuse(op, sim, modules, monkeypatch):
    monkeypatch.setattr(actions, "PRECHECK_HOOKS", [lambda action, ctx: "change freeze"])
    # The guided page's pre-check shows the refusal; the run is refused before it starts.
    _, check = actions.preview(op, "pause", modules["alpha"], {})
    assert not check.ok and check.summary == "change freeze"
    with pytest.raises(Refused, match="change freeze") as refused:
        run(op, "pause", modules["alpha"])
    assert refused.value.code == 409
    assert not ActionRun.objects.exists() and state(sim, "alpha") == "running"


def test_action_from_an_incident_is_on_its_timeline(op, sim, modules, roles):
    from incidents import services as incidents
    from incidents.models import TimelineEntry

    op.groups.add(roles["Operations Lead"].group)
    from django.core.management import call_command

    call_command("load_policy", verbosity=0)
    incident = incidents.declare(op, title="Gamma backlog", severity="P3", summary="DLQ growing")
    record, _ = actions.run(op, "pause", modules["alpha"], {}, actions.new_key(), incident)
    entry = TimelineEntry.objects.filter(incident=incident, kind="runbook").get()
    assert "Pause the module on alpha: Succeeded" in entry.text and entry.actor == op
    assert record.incident == incident


def test_dlq_export_is_read_only_and_counted(op, sim, modules):
    _destination_outage(sim)
    record, answer = actions.run(
        op, "dlq_export", modules["gamma"], {"format": "csv"}, actions.new_key()
    )
    assert record.status == "succeeded" and answer.text.startswith("id,")
    assert record.response["bytes"] == len(answer.text)


def test_an_unexpected_answer_is_recorded_as_failed_not_raised(op, sim, modules, monkeypatch):
    def broken(ctx, answer, pre):
        raise KeyError("state")

    action = actions.ACTIONS["pause"]
    monkeypatch.setitem(
        actions.ACTIONS, "pause", actions.Action(**{**action.__dict__, "postcheck": broken})
    )
    record = run(op, "pause", modules["alpha"])
    assert record.status == "failed" and "console error: KeyError" in record.message
