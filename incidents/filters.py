import django_filters
from django import forms
from django.db.models import Q

from console.filters import datetime_range
from monitoring.models import Module

from .models import Incident, Severity, Status


class IncidentFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    status = django_filters.MultipleChoiceFilter(
        choices=Status.choices, widget=forms.CheckboxSelectMultiple
    )
    severity = django_filters.MultipleChoiceFilter(
        choices=Severity.choices, widget=forms.CheckboxSelectMultiple
    )
    module = django_filters.ModelChoiceFilter(
        field_name="affected_modules",
        queryset=Module.objects.order_by("name"),
        to_field_name="name",
        label="Module",
        widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
    )
    since, until = datetime_range("declared_at", "Declared from", "Declared to")

    class Meta:
        model = Incident
        fields = ["q", "status", "severity", "module", "since", "until"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(number__icontains=value)
            | Q(title__icontains=value)
            | Q(summary__icontains=value)
            | Q(impact__icontains=value)
        )
