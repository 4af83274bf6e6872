"""Forms of the monitoring pages: a module's settings and an annotation."""

import re

from django import forms
from django.utils import timezone

from .models import Annotation, Module
from .validators import module_url

LABEL_LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def validate_module_url(value: str) -> str:
    return module_url(value)


class LabelsField(forms.CharField):
    """Labels as `key=value` lines (a dict in the model)."""

    widget = forms.Textarea(attrs={"rows": 3, "placeholder": "team=data\nregion=eu-west"})

    def prepare_value(self, value):
        if isinstance(value, dict):
            return "\n".join(f"{k}={v}" for k, v in value.items())
        return value

    def to_python(self, value) -> dict:
        labels = {}
        for number, line in enumerate((value or "").splitlines(), start=1):
            if not line.strip():
                continue
            match = LABEL_LINE.match(line)
            if not match:
                raise forms.ValidationError(
                    f"Line {number}: write labels as key=value (letters, digits and _ in keys)."
                )
            labels[match.group(1)] = match.group(2)
        return labels


class BootstrapMixin:
    """Bootstrap 5 classes on every widget (the templates loop over fields)."""

    def style(self) -> None:
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                css = "form-check-input"
            elif isinstance(widget, forms.Select):
                css = "form-select"
            else:
                css = "form-control"
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()

    def full_clean(self) -> None:
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                widget.attrs["class"] = f"{widget.attrs.get('class', '')} is-invalid".strip()


class ModuleForm(BootstrapMixin, forms.ModelForm):
    """Add or change a module. The token is write-only: never rendered back; left empty on an
    edit it keeps the stored one, and "clear token" removes it."""

    token = forms.CharField(
        required=False,
        strip=True,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Bearer token sent to the module, if it wants one. Never shown again.",
    )
    clear_token = forms.BooleanField(required=False, label="Remove the stored token")
    labels = LabelsField(required=False, help_text="One key=value per line.")

    class Meta:
        model = Module
        fields = ["name", "kind", "base_url", "token", "poll_interval", "enabled", "labels"]
        labels = {"base_url": "Base URL", "poll_interval": "Poll interval (seconds)"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial.pop("token", None)
        if self.instance.pk:
            # The name is the `module` label of every stored series: it cannot change.
            self.fields["name"].disabled = True
            if self.instance.token:
                self.fields[
                    "token"
                ].help_text = "A token is stored. Leave empty to keep it, or type a new one."
        else:
            del self.fields["clear_token"]
        self.fields["base_url"].widget.attrs["placeholder"] = "http://127.0.0.1:8081"
        self.fields[
            "poll_interval"
        ].help_text = "Default 5. Data older than two intervals is shown as stale."
        self.style()

    def clean_base_url(self) -> str:
        return validate_module_url(self.cleaned_data["base_url"])

    def changes(self) -> dict:
        """The cleaned values for services.create_module / update_module (token None = keep)."""
        data = {f: self.cleaned_data[f] for f in self.Meta.fields if f in self.cleaned_data}
        if self.instance.pk:
            if self.cleaned_data.get("clear_token"):
                data["token"] = ""
            elif not data.get("token"):
                data["token"] = None
        return data


class AnnotationForm(BootstrapMixin, forms.ModelForm):
    """A note on a module or metric for a time span ("threshold raised during backfill")."""

    starts_at = forms.DateTimeField(
        label="From", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    ends_at = forms.DateTimeField(
        label="Until",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Empty: still going on.",
    )

    class Meta:
        model = Annotation
        fields = ["module", "metric", "text", "starts_at", "ends_at"]
        labels = {"module": "Module", "metric": "Metric or panel", "text": "Note"}
        widgets = {
            "text": forms.TextInput(
                attrs={"placeholder": "e.g. threshold raised during backfill", "maxlength": 500}
            ),
        }

    def __init__(self, *args, metric_choices: list[str] | None = None, **kwargs):
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault(
            "starts_at", timezone.localtime().replace(second=0, microsecond=0)
        )
        super().__init__(*args, **kwargs)
        self.fields["module"].required = False
        self.fields["module"].empty_label = "Whole pipeline"
        self.fields["module"].queryset = Module.objects.order_by("name")
        self.metric_choices = metric_choices or []
        self.fields["metric"].help_text = "Empty: the whole module."
        self.fields["metric"].widget.attrs["list"] = "annotation-metrics"
        self.style()

    def clean(self):
        data = super().clean()
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if starts and ends and ends < starts:
            self.add_error("ends_at", "The end must not be before the start.")
        return data
