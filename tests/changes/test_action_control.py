"""Change control on runbook actions (issue 10 item 4): a disruptive action during a change
freeze, or on a production module outside a maintenance window, needs a linked change that
covers the module now (approved with its window open, in progress, or an emergency change with
its verbal approval). The hook is changes.action_control.check, registered in ready()."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from changes import action_control, maintenance, services
from changes.models import Freeze
from console.errors import Refused
from console.models import AuditEntry
from monitoring import actions
from monitoring.models import ActionRun

from .factories import window

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)  # a Monday
SUNDAY = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
ACTIONS = Path(__file__).resolve().parents[2] / "monitoring" / "fixtures" / "actions.json"


@pytest.fixture(autouse=True)
def _monday():
    with time_machine.travel(T0, tick=False):
        yield


@pytest.fixture
def action_roles(db):
    actions.load_roles_table(json.loads(ACTIONS.read_text())["roles"])


@pytest.fixture
def op(people, action_roles):
    return people["operator"]


def _run(user, key, module, **params):
    """Run an action; the modules of these tests do not answer, so a run that passes change
    control ends FAILED ("cannot connect"): what matters here is whether it ran at all."""
    record, _ = actions.run(user, key, module, params, actions.new_key())
    return record


def _scheduled(approved, people, start, hours=2, **kwargs):
    change = approved(**kwargs)
    services.schedule(people["operator"], change.pk, start, start + timedelta(hours=hours))
    change.refresh_from_db()
    return change


def test_the_hook_is_registered_once():
    assert actions.PRECHECK_HOOKS.count(action_control.check) == 1


def test_disruptive_action_on_production_outside_a_window_is_refused(op, modules):
    with pytest.raises(Refused) as refused:
        _run(op, "pause", modules["beta"])
    assert refused.value.code == 409
    assert "no maintenance window is running" in refused.value.detail
    assert "needs a linked approved change or an emergency change" in refused.value.detail
    assert not ActionRun.objects.exists()


@pytest.mark.parametrize("key", ["pause", "drain", "config_reload"])
def test_every_disruptive_action_is_controlled(people, action_roles, modules, key):
    assert actions.ACTIONS[key].disruptive
    with pytest.raises(Refused, match="Change control"):
        _run(people["oncall"], key, modules["beta"])


def test_non_disruptive_actions_run_without_a_change(op, modules):
    assert not actions.ACTIONS["resume"].disruptive
    assert _run(op, "resume", modules["beta"]).status == ActionRun.Status.FAILED  # it ran


def test_a_module_not_in_production_needs_no_change(op, modules):
    modules["beta"].labels = {"environment": "staging"}
    modules["beta"].save()
    assert _run(op, "pause", modules["beta"]).status == ActionRun.Status.FAILED


def test_a_running_maintenance_window_lets_it_run(op, mpolicy, modules, people):
    made = window(people["opslead"], [modules["gamma"]], start=SUNDAY, hours=4)
    with time_machine.travel(SUNDAY + timedelta(minutes=5), tick=False):
        assert maintenance.scan_windows()["started"] == 1
        assert _run(op, "pause", modules["gamma"]).status == ActionRun.Status.FAILED
        with pytest.raises(Refused, match="no maintenance window"):
            _run(op, "pause", modules["beta"])  # the window is Gamma's only
    assert made.pk


def test_a_freeze_needs_a_change_even_in_a_window_or_off_production(op, modules):
    modules["beta"].labels = {"environment": "staging"}
    modules["beta"].save()
    freeze = Freeze.objects.create(
        name="Quarter end", starts_at=T0 - timedelta(hours=1), ends_at=T0 + timedelta(days=2)
    )
    with pytest.raises(Refused, match="change freeze 'Quarter end' is in force"):
        _run(op, "pause", modules["beta"])
    freeze.modules.add(modules["gamma"])  # now a freeze on Gamma only
    assert _run(op, "pause", modules["beta"]).status == ActionRun.Status.FAILED


def test_an_approved_change_whose_window_is_open_covers_it(op, approved, people, modules, roles):
    from incidents import policy as incident_policy
    from incidents import services as incidents
    from incidents.models import TimelineEntry

    incident_policy.load()
    start = T0 + timedelta(hours=2)
    change = _scheduled(approved, people, start)
    with time_machine.travel(start + timedelta(minutes=10), tick=False):
        # Without the id the refusal names the change that would cover it.
        with pytest.raises(Refused, match=f"{change.number} covers it now"):
            _run(op, "pause", modules["beta"])
        incident = incidents.declare(
            people["oncall"], title="Beta stuck", severity="P3", summary="s",
            affected_modules=["beta"],
        )  # fmt: skip
        record, _ = actions.run(
            op, "pause", modules["beta"], {"change": change.number}, actions.new_key(), incident
        )
    assert record.params["change"] == change.number
    entry = AuditEntry.objects.get(action="action.pause", object_id=str(record.pk))
    assert entry.after["change"] == change.number
    note = TimelineEntry.objects.get(incident=incident, kind=TimelineEntry.Kind.RUNBOOK)
    assert f"on beta under {change.number}" in note.text


def test_a_change_that_does_not_cover_the_module_now_is_refused(op, approved, people, modules):
    start = T0 + timedelta(hours=2)
    change = _scheduled(approved, people, start)
    with pytest.raises(Refused, match="does not cover beta now"):
        _run(op, "pause", modules["beta"], change=change.number)  # its window is not open yet
    with time_machine.travel(start + timedelta(minutes=10), tick=False):
        with pytest.raises(Refused, match="does not cover gamma now"):
            _run(op, "pause", modules["gamma"], change=change.number)  # another module
    with pytest.raises(Refused, match="there is no change CHG-2026-1116-999"):
        _run(op, "pause", modules["beta"], change="CHG-2026-1116-999")


def test_a_change_in_progress_covers_it(op, approved, people, modules):
    start = T0 + timedelta(hours=2)
    change = _scheduled(approved, people, start)
    for item in change.checklist.all():
        services.set_checklist_item(people["operator"], change.pk, item.pk, True)
    with time_machine.travel(start + timedelta(minutes=1), tick=False):
        services.start(people["operator"], change.pk)
    # In progress, it covers the module until it finishes, whatever its window says.
    with time_machine.travel(start + timedelta(hours=3), tick=False):
        assert _run(op, "pause", modules["beta"], change=change.number).status == "failed"
        services.complete(people["operator"], change.pk)
        with pytest.raises(Refused, match="does not cover"):
            _run(op, "pause", modules["beta"], change=change.number)


def test_an_emergency_change_needs_its_verbal_approval(op, raise_change, people, modules):
    change = raise_change(type="emergency", by=people["oncall"], modules_=("gamma",))
    with pytest.raises(Refused, match="does not cover gamma"):
        _run(op, "pause", modules["gamma"], change=change.number)  # a draft
    services.record_verbal_approval(people["oncall"], change.pk, people["engmanager"])
    run = _run(op, "pause", modules["gamma"], change=change.number)
    assert run.status == "failed"
    # The run is on the change's own timeline too, naming who ran it and the outcome.
    event = change.events.get(kind="action")
    assert event.data["run"] == run.pk and event.actor == op
    assert f"on gamma under {change.number}: Failed" in event.text


def test_purge_takes_operations_lead_whatever_the_change(op, raise_change, people, modules):
    change = raise_change(type="emergency", by=people["oncall"], modules_=("gamma",))
    services.record_verbal_approval(people["oncall"], change.pk, people["engmanager"])
    with pytest.raises(PermissionDenied, match="Operations Lead"):
        _run(op, "dlq_purge", modules["gamma"], scope="all", change=change.number)
    record = _run(
        people["opslead"],
        "dlq_purge",
        modules["gamma"],
        scope="all",
        reason="poison batch",
        change=change.number,
    )
    assert record.status == "failed"  # ran (the module is down)


# --- API and pages ---------------------------------------------------------------------------


def test_api_refuses_with_409_and_links_the_change(client, op, raise_change, people, modules):
    client.force_login(op)
    body = {"action": "pause", "module": "gamma", "idempotency_key": "k1"}
    refused = client.post("/api/v1/actions/", body, content_type="application/json")
    assert refused.status_code == 409 and "Change control" in refused.json()["detail"]
    change = raise_change(type="emergency", by=people["oncall"], modules_=("gamma",))
    services.record_verbal_approval(people["oncall"], change.pk, people["engmanager"])
    body["change"] = change.number.lower()  # typed in lower case: normalised
    ran = client.post("/api/v1/actions/", body, content_type="application/json")
    assert ran.status_code == 201 and ran.json()["params"]["change"] == change.number
    inside = {**body, "idempotency_key": "k2", "params": {"change": change.number.lower()}}
    del inside["change"]
    again = client.post("/api/v1/actions/", inside, content_type="application/json")
    assert again.status_code == 201 and again.json()["params"]["change"] == change.number


def test_action_page_refuses_without_a_change_and_runs_with_one(
    client, op, raise_change, people, modules
):
    client.force_login(op)
    url = reverse("monitoring:action", args=["gamma", "pause"])
    # (The module does not answer, so the page's pre-check stops at the module's state; the
    # run below is refused by change control before the module is asked.)
    assert 'id="change-control"' in client.get(url).content.decode()
    run_url = reverse("monitoring:action_run", args=["gamma", "pause"])
    refused = client.post(run_url, {"idempotency_key": "a", "confirm": "yes"}, follow=True)
    assert "no maintenance window is running" in refused.content.decode()
    assert not ActionRun.objects.exists()
    change = raise_change(type="emergency", by=people["oncall"], modules_=("gamma",))
    services.record_verbal_approval(people["oncall"], change.pk, people["engmanager"])
    checked = client.get(url, {"change": change.number}).content.decode()
    assert f'name="change" value="{change.number}"' in checked
    response = client.post(
        run_url, {"idempotency_key": "b", "confirm": "yes", "change": change.number}
    )
    record = ActionRun.objects.get()
    assert response["Location"] == reverse("monitoring:action_result", args=[record.pk])
    result = client.get(response["Location"]).content.decode()
    assert 'id="action-change"' in result and change.number in result
