from datetime import timedelta

import factory
from django.utils import timezone

from shifts.models import LogEntry, RotaWeek, Shift
from tests.factories import UserFactory


class ShiftFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Shift

    starts_at = factory.LazyFunction(timezone.now)
    ends_at = factory.LazyAttribute(lambda s: s.starts_at + timedelta(hours=8))
    primary = factory.SubFactory(UserFactory)
    reminder_due_at = factory.LazyAttribute(lambda s: s.ends_at - timedelta(minutes=15))


class RotaWeekFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RotaWeek

    starts_at = factory.LazyFunction(timezone.now)
    ends_at = factory.LazyAttribute(lambda w: w.starts_at + timedelta(days=7))
    primary = factory.SubFactory(UserFactory)


class LogEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LogEntry

    kind = LogEntry.Kind.NOTE
    text = factory.Sequence(lambda n: f"Observation {n}")
    author = factory.SubFactory(UserFactory)
