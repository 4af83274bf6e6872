from django import forms
from django.contrib.auth import get_user_model

from .models import Handoff, LogEntry, Slot

DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def _people():
    return get_user_model().objects.filter(is_active=True).order_by("username")


class PersonField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.get_username()


def _person(required=True):
    return PersonField(queryset=_people(), required=required)


class ShiftForm(forms.Form):
    starts_at = forms.DateTimeField(widget=DATETIME)
    ends_at = forms.DateTimeField(widget=DATETIME)
    primary = _person()
    secondary = _person(required=False)
    notes = forms.CharField(max_length=300, required=False)

    def clean(self):
        data = super().clean()
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            raise forms.ValidationError("The end must be after the start.")
        return data


class RotaWeekForm(forms.Form):
    starts_at = forms.DateTimeField(widget=DATETIME, help_text="A week from here")
    primary = _person()
    secondary = _person(required=False)


class OverrideForm(forms.Form):
    starts_at = forms.DateTimeField(widget=DATETIME)
    ends_at = forms.DateTimeField(widget=DATETIME)
    slot = forms.ChoiceField(choices=Slot.choices)
    user = _person()
    shift = forms.IntegerField(
        required=False, min_value=1, label="Shift # (leave empty for the on-call rota)"
    )
    reason = forms.CharField(max_length=300)


class LogEntryForm(forms.Form):
    kind = forms.ChoiceField(choices=LogEntry.Kind.choices)
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    justification = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    actions = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    verification = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    side_effects = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    root_cause = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    remediation = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    counterpart = forms.CharField(max_length=200, required=False)
    incident = forms.CharField(max_length=20, required=False, help_text="INC id")
    change_ref = forms.CharField(max_length=40, required=False)
    job_ref = forms.CharField(max_length=120, required=False)

    def clean_incident(self):
        from incidents.models import Incident

        number = self.cleaned_data["incident"].strip()
        if not number:
            return None
        incident = Incident.objects.filter(number=number).first()
        if incident is None:
            raise forms.ValidationError(f"No incident {number}.")
        return incident


class HandoffStartForm(forms.Form):
    incoming = _person()
    kind = forms.ChoiceField(choices=Handoff.Kind.choices, widget=forms.HiddenInput)
