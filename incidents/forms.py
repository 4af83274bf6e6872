from django import forms
from django.contrib.auth import get_user_model

from monitoring.models import Module

from .models import DetectionSource, Escalation, Responder, Review, Severity


class DeclareForm(forms.Form):
    title = forms.CharField(max_length=200)
    severity = forms.ChoiceField(choices=Severity.choices, widget=forms.RadioSelect)
    summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    impact = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    affected_modules = forms.ModelMultipleChoiceField(
        queryset=Module.objects.order_by("kind", "name"),
        to_field_name="name",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    detection_source = forms.ChoiceField(
        choices=DetectionSource.choices, initial=DetectionSource.OBSERVATION
    )
    channel_url = forms.URLField(required=False, label="Communication channel link")


class ResolveForm(forms.Form):
    resolution_summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class SeverityForm(forms.Form):
    severity = forms.ChoiceField(choices=Severity.choices)
    reason = forms.CharField(required=False, max_length=500)


class EscalateForm(forms.Form):
    trigger = forms.ChoiceField(choices=[(t.value, t.label) for t in Escalation.MANUAL])
    reason = forms.CharField(max_length=1000)


class NoteForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class ResponderForm(forms.Form):
    user = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        to_field_name="username",
    )
    role = forms.ChoiceField(
        choices=[c for c in Responder.Role.choices if c[0] != Responder.Role.ESCALATION]
    )


class UpdateForm(forms.Form):
    subject = forms.CharField(max_length=300)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}))


class ReviewForm(forms.ModelForm):
    class Meta:
        model = Review
        fields = list(Review.REQUIRED_FIELDS)
        widgets = {name: forms.Textarea(attrs={"rows": 4}) for name in Review.REQUIRED_FIELDS}


class ActionItemForm(forms.Form):
    description = forms.CharField(max_length=300)
    owner = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        to_field_name="username",
    )
    due_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
