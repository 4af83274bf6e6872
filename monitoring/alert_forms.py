"""Forms of the alert pages: a silence (matchers, span, comment) and an alert rule."""

from datetime import timedelta

import django_filters
from django import forms
from django.utils import timezone

from console.filters import datetime_range

from . import rules
from .forms import BootstrapMixin
from .models import Alert, AlertRule, AlertSeverity, AlertState
from .promql import PromQLError

# Alertmanager's four matcher operators, as (isEqual, isRegex).
OPERATORS = {"=": (True, False), "!=": (False, False), "=~": (True, True), "!~": (False, True)}


class MatcherForm(BootstrapMixin, forms.Form):
    name = forms.CharField(max_length=100, required=False)
    op = forms.ChoiceField(choices=[(op, op) for op in OPERATORS], initial="=")
    value = forms.CharField(max_length=500, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs["placeholder"] = "label, e.g. module"
        self.fields["value"].widget.attrs["placeholder"] = "value or regex"
        self.style()

    def matcher(self) -> dict | None:
        data = self.cleaned_data
        if not data.get("name", "").strip():
            return None
        is_equal, is_regex = OPERATORS[data["op"]]
        return {
            "name": data["name"].strip(),
            "value": data.get("value", ""),
            "isRegex": is_regex,
            "isEqual": is_equal,
        }


MatcherFormSet = forms.formset_factory(MatcherForm, extra=2, max_num=20, validate_max=True)


def matcher_initial(labels: dict[str, str]) -> list[dict]:
    """ "Silence like this alert": one equality matcher per label of the alert."""
    return [{"name": k, "op": "=", "value": v} for k, v in sorted(labels.items())]


def matcher_text(matcher: dict) -> str:
    op = {v: k for k, v in OPERATORS.items()}[
        (matcher.get("isEqual", True), matcher.get("isRegex", False))
    ]
    return f'{matcher["name"]}{op}"{matcher["value"]}"'


class SilenceForm(BootstrapMixin, forms.Form):
    """Start, end, comment; the matchers come in their own formset."""

    starts_at = forms.DateTimeField(
        label="Starts", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    ends_at = forms.DateTimeField(
        label="Ends", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        help_text="Why: shown on every alert it silences.",
    )

    def __init__(self, *args, **kwargs):
        now = timezone.localtime().replace(second=0, microsecond=0)
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("starts_at", now)
        kwargs["initial"].setdefault("ends_at", now + timedelta(hours=2))
        super().__init__(*args, **kwargs)
        self.style()


class AlertRuleForm(BootstrapMixin, forms.ModelForm):
    """Edit a rule; a bad PromQL expression is a form error, with the parser's reason."""

    class Meta:
        model = AlertRule
        fields = ["severity", "expr", "for_seconds", "summary", "runbook"]
        labels = {"expr": "Condition (PromQL)", "for_seconds": "Duration (seconds)"}
        widgets = {"expr": forms.Textarea(attrs={"rows": 3, "spellcheck": "false"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields[
            "for_seconds"
        ].help_text = (
            "How long the condition must hold before the alert fires (pending until then)."
        )
        self.fields["for_seconds"].max_value = 7 * 24 * 3600
        self.fields["for_seconds"].widget.attrs["max"] = 7 * 24 * 3600
        self.fields["runbook"].widget.attrs["list"] = "runbook-names"
        self.style()

    def clean_expr(self) -> str:
        try:
            return rules.check_expr(self.cleaned_data["expr"])
        except PromQLError as exc:
            raise forms.ValidationError(f"Not a usable PromQL expression: {exc}") from None

    def clean_for_seconds(self) -> int:
        value = self.cleaned_data["for_seconds"]
        if value > 7 * 24 * 3600:
            raise forms.ValidationError("At most a week (604800 seconds).")
        return value

    def changes(self) -> dict:
        return {f: self.cleaned_data[f] for f in self.Meta.fields}


class AlertFilter(django_filters.FilterSet):
    """The alert history's filters."""

    name = django_filters.CharFilter(lookup_expr="icontains", label="Name")
    module = django_filters.CharFilter(field_name="labels__module", label="Module")
    severity = django_filters.ChoiceFilter(choices=AlertSeverity.choices, label="Severity")
    state = django_filters.ChoiceFilter(choices=AlertState.choices, label="State")
    source = django_filters.ChoiceFilter(choices=Alert.Source.choices, label="Source")
    since, until = datetime_range("active_since", "Active from", "Active to")

    class Meta:
        model = Alert
        fields = ["name", "module", "severity", "state", "source", "since", "until"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.form.fields.values():
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs["class"] = f"{css} form-control-sm"
