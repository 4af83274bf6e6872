"""Two workers at once, on PostgreSQL: each due slot is claimed once; two people triggering
the same job, or running the same action, leave one run."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from console.errors import Refused
from monitoring import actions, jobs
from monitoring.models import ActionRun, Job, JobRun

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("without_change_control"),
]


def _together(fn, n=4):
    barrier = threading.Barrier(n)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(fn())
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_concurrent_scans_claim_each_slot_once(catalogue):
    now = timezone.now()
    Job.objects.update(next_run_at=now - timedelta(seconds=1))
    results, errors = _together(lambda: jobs.claim_due_jobs(now))
    assert errors == []
    claimed = [pk for batch in results for pk in batch]
    assert len(claimed) == len(set(claimed)) == Job.objects.count() == 35
    assert JobRun.objects.count() == 35


def test_concurrent_triggers_leave_one_run(operator, sim, modules, catalogue):
    results, errors = _together(lambda: jobs.trigger(operator, "alpha_source_sync"))
    assert len(results) == 1 and all(isinstance(e, Refused) for e in errors)
    assert JobRun.objects.filter(job__name="alpha_source_sync").count() == 1


def test_concurrent_action_clicks_call_the_module_once(operator, sim, modules, action_roles):
    results, errors = _together(
        lambda: actions.run(operator, "pause", modules["alpha"], {}, actions.new_key())
    )
    statuses = sorted(r.status for r, _ in results)
    # One pauses; any other either waited out as "already running" or found it paused.
    assert statuses.count("succeeded") == 1
    assert all(s == "refused" for s in statuses if s != "succeeded")
    assert all(isinstance(e, Refused) for e in errors)
    assert ActionRun.objects.filter(status="succeeded").count() == 1
