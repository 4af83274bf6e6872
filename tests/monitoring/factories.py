import factory
from django.utils import timezone

from monitoring.models import Module, Threshold


class ModuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Module
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"mod{n}")
    kind = Module.Kind.GAMMA
    base_url = "http://127.0.0.1:9"
    poll_interval = 5


class ThresholdFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Threshold

    key = factory.Sequence(lambda n: f"threshold-{n}")
    scope = Module.Kind.GAMMA
    name = factory.Sequence(lambda n: f"Threshold {n}")
    expr = "sum(demo_gauge)"


class AlertFactory(factory.django.DjangoModelFactory):
    """A firing alert of a rule-less source unless told otherwise (issue 6 pages)."""

    class Meta:
        model = "monitoring.Alert"

    fingerprint = factory.Sequence(lambda n: f"{n:016x}")
    name = "gamma_destination_down"
    severity = "high"
    labels = factory.LazyAttribute(
        lambda a: {
            "alertname": a.name,
            "severity": a.severity,
            "module": "gamma",
            "destination": "analytics_warehouse",
        }
    )
    annotations = factory.LazyAttribute(lambda a: {"summary": f"{a.name} summary"})
    state = "firing"
    value = 0.0
    active_since = factory.LazyFunction(timezone.now)
    fired_at = factory.LazyFunction(timezone.now)
    last_evaluated_at = factory.LazyFunction(timezone.now)


def write_hourly_counter(module, metric: str, rates, end, labels=None) -> None:
    """Hourly roll-ups of a counter growing at `rates` (rec/s, one per hour, oldest first)
    ending at `end` (an hour boundary), and the 1h watermark that makes readers use them."""
    from datetime import timedelta

    from monitoring.models import Rollup1h, RollupWatermark, Series
    from monitoring.store import labels_key

    labels = {"module": module.name, **(labels or {})}
    series, _ = Series.objects.get_or_create(
        module=module,
        name=metric,
        labels_key=labels_key(labels),
        defaults={"labels": labels, "kind": "counter"},
    )
    start = end - timedelta(hours=len(rates))
    counter, rows = 0.0, []
    for i, rate in enumerate(rates):
        before = counter
        counter += rate * 3600
        rows.append(
            Rollup1h(
                series=series,
                ts=start + timedelta(hours=i),
                min=before,
                max=counter,
                sum=counter,
                count=720,
                last=counter,
            )
        )
    Rollup1h.objects.bulk_create(rows)
    RollupWatermark.objects.update_or_create(resolution="1h", defaults={"upto": end})
