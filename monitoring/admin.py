"""Monitoring in the admin: modules (token write-only), thresholds (the manual's bands, data
the admin owns once seeded), annotations; status history and polls read-only."""

from django import forms
from django.contrib import admin

from console.admin import AuditedAdmin

from .forms import validate_module_url
from .models import (
    Annotation,
    MetricStatus,
    Module,
    PipelineState,
    Poll,
    Runbook,
    StatusChange,
    Threshold,
)


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


@admin.register(Runbook)
class RunbookAdmin(AuditedAdmin):
    """Runbook pages (001 "Runbook Appendix", "Common Incident Scenarios"); seeded once, then
    edited here. The body is shown escaped on its page."""

    list_display = ["title", "slug", "kind", "source", "updated_at"]
    list_filter = ["kind"]
    search_fields = ["slug", "title", "body"]
    ordering = ["kind", "position"]


# --- capacity, backups and DR drills (issue 11) -----------------------------------------------

from .models import (  # noqa: E402
    BackupClass,
    BackupRun,
    CapacityPlan,
    CapacityThreshold,
    DrDrill,
    DrillType,
    DrPolicy,
)


@admin.register(CapacityPlan)
class CapacityPlanAdmin(AuditedAdmin):
    list_display = [
        "kind",
        "throughput_metric",
        "sustained_max",
        "instances",
        "capacity_per_instance",
        "target_utilization",
        "growth_factor",
    ]


@admin.register(CapacityThreshold)
class CapacityThresholdAdmin(AuditedAdmin):
    list_display = ["resource", "measure", "direction", "warning", "critical", "enabled"]
    list_editable = ["warning", "critical", "enabled"]


@admin.register(BackupClass)
class BackupClassAdmin(AuditedAdmin):
    list_display = ["name", "category", "frequency", "interval", "rto", "rpo", "next_due_at"]
    readonly_fields = ["last_success_at", "last_verified_at"]


@admin.register(BackupRun)
class BackupRunAdmin(admin.ModelAdmin):
    """Runs are reported through the API or the backup job, never typed in."""

    list_display = ["backup_class", "kind", "status", "started_at", "finished_at", "reported_by"]
    list_filter = ["backup_class", "kind", "status"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(DrillType)
class DrillTypeAdmin(AuditedAdmin):
    list_display = ["name", "frequency", "interval", "duration", "scope"]


@admin.register(DrPolicy)
class DrPolicyAdmin(AuditedAdmin):
    list_display = [
        "__str__",
        "rto_target",
        "rpo_target",
        "success_rate_target",
        "max_since_last_drill",
    ]


@admin.register(DrDrill)
class DrDrillAdmin(admin.ModelAdmin):
    """Drills change state through the backups page (audited there); read-only here."""

    list_display = ["drill_type", "scheduled_for", "status", "performed_at"]
    list_filter = ["drill_type", "status"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Batch jobs and runbook actions (issue 10) ------------------------------------------------
from .models import ActionRole, ActionRun, DegradedMode, Job, JobRun  # noqa: E402


@admin.register(Job)
class JobAdmin(AuditedAdmin):
    """The catalogue is data (000 "Batch Processing Schedules"); suspend and resume go
    through the Jobs page so that the module is told and the reason recorded."""

    list_display = [
        "name",
        "module",
        "schedule_text",
        "cron",
        "status",
        "next_run_at",
        "backup_class",
    ]
    list_filter = ["module", "cadence", "status"]
    search_fields = ["name", "description"]
    readonly_fields = [
        "status",
        "status_reason",
        "suspension_key",
        "status_changed_by",
        "status_changed_at",
        "next_run_at",
        "last_run",
    ]

    def save_model(self, request, obj, form, change):
        from django.utils import timezone

        from . import jobs

        if not obj.suspended:  # the form validated the cron (Job.clean)
            obj.next_run_at = jobs.next_run(obj.cron, timezone.now())
        super().save_model(request, obj, form, change)


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    list_display = ["job", "scheduled_for", "trigger", "status", "started_at", "duration_seconds"]
    list_filter = ["status", "trigger", "job__module"]
    date_hierarchy = "scheduled_for"


@admin.register(ActionRole)
class ActionRoleAdmin(AuditedAdmin):
    list_display = ["action", "min_role", "source"]


@admin.register(ActionRun)
class ActionRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "action", "module", "target", "status", "requested_by_name"]
    list_filter = ["action", "module", "status"]


@admin.register(DegradedMode)
class DegradedModeAdmin(ReadOnlyAdmin):
    list_display = ["module", "started_at", "started_by", "ended_at", "ended_by"]


from . import route_admin  # noqa: E402,F401  (alert routing, issue 6)
