"""Forms of the maintenance pages. Times are entered in the console's time zone."""

from datetime import datetime

from django import forms
from django.utils import timezone

from monitoring.models import Module

from . import maintenance
from .models import MaintenanceType

LOCAL_INPUT = "%Y-%m-%dT%H:%M"


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self):
        super().__init__(format=LOCAL_INPUT)


def slot_choices(now=None) -> list[tuple[str, str]]:
    """The next designated slots of every type that has them, outside their notice periods:
    "weekly|<start iso>|<end iso>" → "Standard Weekly · Sun 29 Nov 02:00–06:00"."""
    choices = [("", "— choose times below instead —")]
    for type_ in MaintenanceType.objects.exclude(rrule=""):
        for start, end in maintenance.next_slots(type_, now):
            local_start, local_end = timezone.localtime(start), timezone.localtime(end)
            label = f"{type_.name} · {local_start:%a %d %b %Y %H:%M}–{local_end:%H:%M %Z}"
            choices.append((f"{type_.key}|{start.isoformat()}|{end.isoformat()}", label))
    return choices


class WindowForm(forms.Form):
    slot = forms.ChoiceField(
        required=False,
        label="Designated slot",
        help_text="000 'Standard Maintenance Windows': pick a slot, or give a type and times.",
    )
    type = forms.ModelChoiceField(
        queryset=MaintenanceType.objects.all(), to_field_name="key", required=False
    )
    title = forms.CharField(max_length=200)
    start = forms.DateTimeField(
        required=False, widget=LocalDateTimeInput(), input_formats=[LOCAL_INPUT]
    )
    end = forms.DateTimeField(
        required=False, widget=LocalDateTimeInput(), input_formats=[LOCAL_INPUT]
    )
    modules = forms.ModelMultipleChoiceField(
        queryset=Module.objects.order_by("kind", "name"),
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
        help_text="The window's scope: their alerts are silenced while it runs.",
    )
    activities = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    impact = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, label="Expected impact"
    )
    availability_target = forms.CharField(
        max_length=200, required=False, help_text="Empty: the type's target from 000"
    )
    contact = forms.CharField(max_length=200, required=False, label="Operations contact")
    emergency_reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        label="Emergency reason",
        help_text="Emergency path only: the critical issue this addresses.",
    )

    def __init__(self, *args, now=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slot"].choices = slot_choices(now)
        zone = timezone.localtime(now or timezone.now()).tzname()
        self.fields["start"].help_text = self.fields["end"].help_text = f"Console time ({zone})"
        for name, field in self.fields.items():
            if name == "modules":
                continue
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs.setdefault("class", css)

    def clean(self):
        data = super().clean()
        slot = data.get("slot")
        if slot:
            key, start, end = slot.split("|")
            data["type"] = MaintenanceType.objects.get(key=key)
            data["start"] = datetime.fromisoformat(start)
            data["end"] = datetime.fromisoformat(end)
        else:
            for name in ("type", "start", "end"):
                if not data.get(name) and name not in self.errors:
                    self.add_error(name, "Required unless a designated slot is chosen.")
        return data


class RescheduleForm(forms.Form):
    """New times for a window that has not started (console time)."""

    start = forms.DateTimeField(widget=LocalDateTimeInput(), input_formats=[LOCAL_INPUT])
    end = forms.DateTimeField(widget=LocalDateTimeInput(), input_formats=[LOCAL_INPUT])
    reason = forms.CharField(max_length=500, required=False)
    emergency_reason = forms.CharField(
        max_length=2000,
        required=False,
        help_text="Emergency path only: empty keeps the window's reason.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs.setdefault("class", "form-control form-control-sm")


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=500)


class AnnouncementForm(forms.Form):
    subject = forms.CharField(max_length=300)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 10}))


class TickForm(forms.Form):
    done = forms.BooleanField(required=False)
    note = forms.CharField(max_length=500, required=False)


class RollbackForm(forms.Form):
    criteria = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple, required=False, label="Criteria met"
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    steps = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Steps taken")
    verification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), label="Verification of pre-maintenance state"
    )

    def __init__(self, *args, criteria=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["criteria"].choices = [(c, c) for c in criteria]
