"""Configuration drift: versions read from `<module>_config_info` in monitoring's store."""

from datetime import timedelta

import pytest
from django.utils import timezone

from changes import drift, services
from changes.models import ConfigVersion
from monitoring.models import Alert, AlertState
from monitoring.store import store_samples


def _poll(module, version, at, checksum="abc"):
    store_samples(
        module,
        [(f"{module.name}_config_info", {"version": version, "checksum": checksum}, 1.0, "info")],
        at,
    )


@pytest.fixture(autouse=True)
def _fresh_series_cache():
    """Series ids are cached per process; each test's rolled-back rows must not linger."""
    from monitoring.store import forget_series_cache

    forget_series_cache()
    yield
    forget_series_cache()


@pytest.fixture
def beta(modules):
    return modules["beta"]


def test_first_version_is_a_baseline(beta):
    now = timezone.now()
    _poll(beta, "1", now)
    assert drift.record_config_versions(now) == {"seen": 1, "new": 1, "drift": 0}
    row = ConfigVersion.objects.get()
    assert (row.version, row.baseline, row.drift) == ("1", True, False)
    assert not Alert.objects.exists()


def test_version_change_without_a_change_in_progress_raises_a_drift_alert(beta):
    now = timezone.now()
    _poll(beta, "1", now - timedelta(seconds=10))
    drift.record_config_versions(now - timedelta(seconds=10))
    _poll(beta, "2", now, checksum="def")
    assert drift.record_config_versions(now)["drift"] == 1
    row = ConfigVersion.objects.order_by("-first_seen_at").first()
    assert row.version == "2" and row.drift
    alert = Alert.objects.get(name="ConfigDrift")
    assert alert.state == AlertState.FIRING
    # The console's own scan found it: not claimed as sent by an Alertmanager.
    assert alert.source == Alert.Source.CONSOLE
    assert alert.labels["module"] == "beta" and alert.labels["version"] == "2"
    assert alert.fingerprint == row.alert_fingerprint
    # The same version again: nothing new.
    _poll(beta, "2", now + timedelta(seconds=5), checksum="def")
    assert drift.record_config_versions(now + timedelta(seconds=5)) == {
        "seen": 1,
        "new": 0,
        "drift": 0,
    }
    assert Alert.objects.count() == 1


def test_version_change_during_a_change_in_progress_is_attributed(beta, approved, people):
    now = timezone.now()
    _poll(beta, "1", now - timedelta(minutes=2))
    drift.record_config_versions(now - timedelta(minutes=2))
    _poll(beta, "2", now - timedelta(minutes=1))
    drift.record_config_versions(now - timedelta(minutes=1))  # drift: no change running
    change = approved()
    start = timezone.now() + timedelta(hours=1)
    services.schedule(people["operator"], change.pk, start, start + timedelta(hours=1))
    change.checklist.update(done_at=now)
    services.start(people["operator"], change.pk)
    _poll(beta, "3", now)
    assert drift.record_config_versions(now)["drift"] == 0
    row = ConfigVersion.objects.get(version="3")
    assert row.change_id == change.pk and not row.drift
    assert change.events.filter(text__contains="config version 2 → 3").exists()
    # Deploying through the change process remediates the earlier drift.
    assert Alert.objects.get(name="ConfigDrift").state == AlertState.RESOLVED


def test_a_change_on_another_module_does_not_cover_drift(beta, approved, people):
    now = timezone.now()
    _poll(beta, "1", now - timedelta(minutes=1))
    drift.record_config_versions(now - timedelta(minutes=1))
    change = approved(modules_=("gamma",))
    start = timezone.now() + timedelta(hours=1)
    services.schedule(people["operator"], change.pk, start, start + timedelta(hours=1))
    change.checklist.update(done_at=now)
    services.start(people["operator"], change.pk)
    _poll(beta, "2", now)
    assert drift.record_config_versions(now)["drift"] == 1


def test_modules_without_the_metric_are_skipped(modules):
    assert drift.record_config_versions(timezone.now()) == {"seen": 0, "new": 0, "drift": 0}


def test_beat_task_runs_the_scan(beta):
    from changes.tasks import scan_config_versions

    _poll(beta, "7", timezone.now())
    assert scan_config_versions() == {"seen": 1, "new": 1, "drift": 0}
