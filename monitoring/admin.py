"""Monitoring in the admin: modules (token write-only), thresholds (the manual's bands, data
the admin owns once seeded), annotations; status history and polls read-only."""

from django import forms
from django.contrib import admin

from console.admin import AuditedAdmin

from .forms import validate_module_url
from .models import Annotation, MetricStatus, Module, PipelineState, Poll, StatusChange, Threshold


class ModuleAdminForm(forms.ModelForm):
    token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: never shown. Leave empty to keep the stored token.",
    )
    clear_token = forms.BooleanField(required=False, label="Remove the stored token")

    class Meta:
        model = Module
        fields = ["name", "kind", "base_url", "token", "poll_interval", "enabled", "labels"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stored_token = self.instance.token if self.instance.pk else ""
        self.initial.pop("token", None)

    def clean_base_url(self) -> str:
        return validate_module_url(self.cleaned_data["base_url"])

    def clean(self):
        data = super().clean()
        if self.instance.pk and not data.get("token") and not data.get("clear_token"):
            data["token"] = self._stored_token
        elif data.get("clear_token"):
            data["token"] = ""
        return data


@admin.register(Module)
class ModuleAdmin(AuditedAdmin):
    form = ModuleAdminForm
    list_display = [
        "name",
        "kind",
        "base_url",
        "poll_interval",
        "enabled",
        "status",
        "last_success_at",
    ]
    list_filter = ["kind", "enabled", "status"]
    search_fields = ["name", "base_url"]
    readonly_fields = [
        "status",
        "status_changed_at",
        "last_polled_at",
        "last_success_at",
        "consecutive_failures",
        "next_poll_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "kind", "base_url", "token", "clear_token"]}),
        ("Polling", {"fields": ["poll_interval", "enabled", "labels"]}),
        ("State (read-only)", {"fields": readonly_fields}),
    ]

    def get_readonly_fields(self, request, obj=None):
        # The name is the `module` label of every stored series.
        return [*self.readonly_fields, "name"] if obj else self.readonly_fields

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [
                (None, {"fields": ["name", "kind", "base_url", "token"]}),
                ("Polling", {"fields": ["poll_interval", "enabled", "labels"]}),
            ]
        return self.fieldsets


@admin.register(Threshold)
class ThresholdAdmin(AuditedAdmin):
    list_display = [
        "key",
        "scope",
        "name",
        "unit",
        "normal_text",
        "warning_text",
        "critical_text",
        "enabled",
    ]
    list_filter = ["scope", "enabled"]
    search_fields = ["key", "name", "expr"]
    ordering = ["scope", "position"]


@admin.register(Annotation)
class AnnotationAdmin(AuditedAdmin):
    list_display = ["text", "module", "metric", "starts_at", "ends_at", "author"]
    list_filter = ["module"]
    search_fields = ["text", "metric"]
    raw_id_fields = ["author"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """History the system writes; nobody edits it by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(StatusChange)
class StatusChangeAdmin(ReadOnlyAdmin):
    list_display = ["at", "subject", "module", "threshold", "from_status", "to_status", "reason"]
    list_filter = ["subject", "module", "to_status"]


@admin.register(MetricStatus)
class MetricStatusAdmin(ReadOnlyAdmin):
    list_display = ["threshold", "module", "value", "level", "evaluated_at", "changed_at"]
    list_filter = ["level", "module"]


@admin.register(Poll)
class PollAdmin(ReadOnlyAdmin):
    list_display = ["module", "started_at", "ok", "duration_ms", "http_status", "samples", "error"]
    list_filter = ["module", "ok"]
    date_hierarchy = "started_at"


@admin.register(PipelineState)
class PipelineStateAdmin(ReadOnlyAdmin):
    list_display = ["status", "changed_at"]


from . import route_admin  # noqa: E402,F401  (alert routing, issue 6)
