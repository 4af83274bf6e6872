from datetime import timedelta

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField

from .models import AuditEntry

# The zones in use run from UTC-12 to UTC+14. Python accepts offsets up to ±23:59 but
# PostgreSQL refuses those beyond ±15:59 (a 500 that SQLite never shows).
MAX_UTC_OFFSET = timedelta(hours=14)


class TimeField(IsoDateTimeField):
    """ISO 8601 date-time whose UTC offset, if any, is one a zone can have."""

    def to_python(self, value):
        parsed = super().to_python(value)
        offset = parsed.utcoffset() if parsed is not None else None
        if offset is not None and abs(offset) > MAX_UTC_OFFSET:
            raise forms.ValidationError("The UTC offset must be between -14:00 and +14:00.")
        return parsed


class TimeFilter(django_filters.IsoDateTimeFilter):
    field_class = TimeField


def datetime_range(field: str, from_label: str, to_label: str):
    """A pair of filters, `field` from … to …, with browser date-time pickers."""
    return tuple(
        TimeFilter(
            field_name=field,
            lookup_expr=lookup,
            label=label,
            widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        )
        for lookup, label in (("gte", from_label), ("lte", to_label))
    )


class AuditFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(field_name="actor_name", lookup_expr="iexact", label="Actor")
    action = django_filters.CharFilter(lookup_expr="istartswith", label="Action")
    object_type = django_filters.CharFilter(lookup_expr="iexact", label="Object type")
    object_id = django_filters.CharFilter(lookup_expr="exact", label="Object id")
    since, until = datetime_range("at", "From", "To")

    class Meta:
        model = AuditEntry
        fields = ["actor", "action", "object_type", "object_id", "since", "until"]
