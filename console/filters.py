import django_filters
from django import forms

from .models import AuditEntry


def datetime_range(field: str, from_label: str, to_label: str):
    """A pair of filters, `field` from … to …, with browser date-time pickers."""
    return tuple(
        django_filters.IsoDateTimeFilter(
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
