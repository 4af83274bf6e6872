from django import forms
from django.contrib.auth import get_user_model

from console import roles
from monitoring.models import Module

from .models import Change, ChangeEvent, ChangeType, StandardTemplate

DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def _style(form) -> None:
    """Bootstrap classes on every widget (the templates render fields as they come)."""
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, (forms.CheckboxSelectMultiple, forms.CheckboxInput)):
            continue
        css = (
            "form-select form-select-sm"
            if isinstance(widget, forms.Select)
            else "form-control form-control-sm"
        )
        widget.attrs.setdefault("class", css)


class BootstrapForm(forms.Form):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _style(self)


def _text(rows: int = 3, **attrs) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows, **attrs})


class ChangeForm(forms.ModelForm):
    """Every field of 001's change request form, plus type, impact and likelihood."""

    affected_modules = forms.ModelMultipleChoiceField(
        queryset=Module.objects.order_by("kind", "name"),
        to_field_name="name",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    template = forms.ModelChoiceField(
        queryset=StandardTemplate.objects.filter(active=True),
        required=False,
        label="Standard change (catalogue)",
        help_text="Standard changes are pre-approved and come from this catalogue.",
    )

    class Meta:
        model = Change
        fields = [
            "title",
            "type",
            "template",
            "priority",
            "description",
            "business_justification",
            "technical_details",
            "affected_modules",
            "affected_systems",
            "impact",
            "likelihood",
            "risk_assessment",
            "testing_performed",
            "implementation_plan",
            "rollback_plan",
            "success_criteria",
            "requires_downtime",
            "planned_start",
            "planned_end",
        ]
        widgets = {
            "description": _text(),
            "business_justification": _text(2),
            "technical_details": _text(),
            "affected_systems": _text(2),
            "risk_assessment": _text(2),
            "testing_performed": _text(2),
            "implementation_plan": _text(4),
            "rollback_plan": _text(3),
            "success_criteria": _text(2),
            "planned_start": DATETIME,
            "planned_end": DATETIME,
        }
        labels = {"planned_start": "Scheduled window: from", "planned_end": "to"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _style(self)
        self.fields["requires_downtime"].widget.attrs["class"] = "form-check-input"

    def clean(self):
        data = super().clean()
        if data.get("type") == ChangeType.STANDARD and not data.get("template"):
            self.add_error("template", "Pick the standard change from the catalogue.")
        return data


class ScheduleForm(BootstrapForm):
    start = forms.DateTimeField(widget=DATETIME)
    end = forms.DateTimeField(widget=DATETIME)
    override_reason = forms.CharField(
        required=False,
        widget=_text(2),
        help_text="Operations Lead or above: schedule despite the conflicts, saying why.",
    )

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            self.add_error("end", "The window must end after it starts.")
        return data


class DecisionForm(BootstrapForm):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    comment = forms.CharField(required=False, widget=_text(2))


class ReviewForm(BootstrapForm):
    passed = forms.TypedChoiceField(
        choices=[("1", "Passed"), ("0", "Failed")], coerce=lambda v: v == "1"
    )
    comment = forms.CharField(required=False, widget=_text(2))


class VerbalForm(BootstrapForm):
    approver = forms.ModelChoiceField(queryset=get_user_model().objects.none())
    note = forms.CharField(required=False, widget=_text(2))

    def __init__(self, *args, role: str = roles.ENG_MANAGER, **kwargs):
        super().__init__(*args, **kwargs)
        from console.models import Role

        rank = Role.objects.filter(group__name=role).values_list("rank", flat=True).first() or 0
        self.fields["approver"].queryset = (
            get_user_model()
            .objects.filter(groups__role__rank__gte=rank, is_active=True)
            .distinct()
            .order_by("username")
        )


class LogForm(BootstrapForm):
    kind = forms.ChoiceField(
        choices=[(k.value, k.label) for k in ChangeEvent.LOG_KINDS],
        initial=ChangeEvent.Kind.CHECKPOINT,
    )
    text = forms.CharField(widget=_text(2))


class CompleteForm(BootstrapForm):
    note = forms.CharField(required=False, widget=_text(2))


class FailForm(BootstrapForm):
    reason = forms.CharField(widget=_text(2))


class RollbackForm(BootstrapForm):
    trigger = forms.ChoiceField(choices=[])
    reason = forms.CharField(widget=_text(2))
    outcome = forms.CharField(
        required=False, widget=_text(2), help_text="Was the pre-change state restored?"
    )

    def __init__(self, *args, triggers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["trigger"].choices = [(t, t) for t in triggers] + [("Other", "Other")]


class PirForm(BootstrapForm):
    """001 "Immediate Review (within 24 hours)"."""

    stability = forms.CharField(label="Change stability verified", widget=_text(2))
    issues = forms.CharField(label="Issues encountered", required=False, widget=_text(2))
    monitoring = forms.CharField(
        label="Monitoring shows expected behaviour", required=False, widget=_text(2)
    )
    lessons = forms.CharField(label="Lessons learned", required=False, widget=_text(2))
    results = forms.CharField(label="Results", widget=_text(2))


class MinutesForm(BootstrapForm):
    held_at = forms.DateTimeField(widget=DATETIME)
    attendees = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    changes = forms.ModelMultipleChoiceField(
        queryset=Change.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    minutes = forms.CharField(widget=_text(5))

    def __init__(self, *args, changes=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["attendees"].queryset = (
            get_user_model()
            .objects.filter(groups__role__isnull=False, is_active=True)
            .distinct()
            .order_by("username")
        )
        self.fields["changes"].queryset = changes if changes is not None else Change.objects.all()


class CauseForm(BootstrapForm):
    incident = forms.CharField(max_length=20)
    note = forms.CharField(required=False, max_length=500)
