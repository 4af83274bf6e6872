from django.contrib import admin
from django.forms.models import model_to_dict

from console import audit

from . import maintenance as maintenance_services
from .models import (
    Approval,
    ApprovalLevel,
    CabMeeting,
    Change,
    ChangeEvent,
    ChangePolicy,
    ChecklistItem,
    ChecklistTemplateItem,
    ConfigVersion,
    Freeze,
    IncidentLink,
    MaintenanceChecklistItem,
    MaintenanceChecklistTemplate,
    MaintenanceRecurrence,
    MaintenanceReminder,
    MaintenanceReminderStep,
    MaintenanceRollback,
    MaintenanceType,
    MaintenanceWindow,
    Revision,
    RiskCell,
    StandardTemplate,
)


class AuditedAdmin(admin.ModelAdmin):
    """Policy data edited here is written to the audit trail like any other change."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit.record(
            f"{obj._meta.model_name}.{'changed' if change else 'added'}",
            actor=request.user,
            obj=obj,
            after={name: str(form.cleaned_data.get(name)) for name in form.changed_data},
        )

    def delete_model(self, request, obj):
        # The row as it was is kept in the audit entry (issue 12, data safety).
        audit.record(
            f"{obj._meta.model_name}.deleted",
            actor=request.user,
            obj=obj,
            before=model_to_dict(obj),
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        # "Delete selected" too: one audited deletion per row.
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(RiskCell)
class RiskCellAdmin(AuditedAdmin):
    list_display = ["impact", "likelihood", "risk"]


@admin.register(ApprovalLevel)
class ApprovalLevelAdmin(AuditedAdmin):
    list_display = ["risk", "label", "approver_role", "cab", "quorum_percent"]


@admin.register(StandardTemplate)
class StandardTemplateAdmin(AuditedAdmin):
    list_display = ["name", "impact", "likelihood", "active"]
    list_filter = ["active"]


@admin.register(ChecklistTemplateItem)
class ChecklistTemplateItemAdmin(AuditedAdmin):
    list_display = ["section", "position", "text", "active"]
    list_filter = ["section", "active"]


@admin.register(ChangePolicy)
class ChangePolicyAdmin(AuditedAdmin):
    list_display = ["__str__", "formal_request_hours", "review_hours", "verbal_approver_role"]


@admin.register(Freeze)
class FreezeAdmin(AuditedAdmin):
    list_display = ["name", "starts_at", "ends_at", "reason"]
    filter_horizontal = ["modules"]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        from console import live

        live.publish("changes", "freeze.changed", pk=form.instance.pk)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class EventInline(ReadOnlyInline):
    model = ChangeEvent
    fields = ["at", "kind", "actor_name", "text", "round"]


class ApprovalInline(ReadOnlyInline):
    model = Approval
    fields = ["round", "kind", "role", "user", "decision", "comment", "at"]


class RevisionInline(ReadOnlyInline):
    model = Revision
    fields = ["round", "submitted_at", "data"]


class ChangeChecklistInline(ReadOnlyInline):
    model = ChecklistItem
    fields = ["section", "text", "done_at", "done_by"]


@admin.register(Change)
class ChangeAdmin(admin.ModelAdmin):
    """Read-only here: every change goes through the services (history, approvals, audit)."""

    list_display = ["number", "title", "type", "risk", "status", "requester", "scheduled_start"]
    list_filter = ["type", "risk", "status"]
    search_fields = ["number", "title", "description"]
    inlines = [ApprovalInline, RevisionInline, ChangeChecklistInline, EventInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CabMeeting)
class CabMeetingAdmin(admin.ModelAdmin):
    """CAB minutes are a record: kept."""

    list_display = ["held_at", "recorded_by"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ConfigVersion)
class ConfigVersionAdmin(admin.ModelAdmin):
    list_display = ["module", "version", "first_seen_at", "last_seen_at", "change", "drift"]
    list_filter = ["module"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the drift history is kept

    @admin.display(boolean=True)
    def drift(self, obj):
        return obj.drift


@admin.register(IncidentLink)
class IncidentLinkAdmin(admin.ModelAdmin):
    """Unmarked on the incident's or the change's page (timeline and audit), not here."""

    list_display = ["incident", "change", "marked_by", "marked_at"]

    def has_delete_permission(self, request, obj=None):
        return False


# --- maintenance windows (issue 9) ---------------------------------------------------------------


@admin.register(MaintenanceType)
class MaintenanceTypeAdmin(AuditedAdmin):
    list_display = [
        "name",
        "key",
        "rrule",
        "slot_start",
        "slot_end",
        "max_minutes",
        "internal_notice_minutes",
        "external_notice_minutes",
        "approving_role",
        "emergency_path",
        "reschedule_resets_approval",
    ]


@admin.register(MaintenanceReminderStep)
class MaintenanceReminderStepAdmin(AuditedAdmin):
    list_display = ["key", "minutes_before", "audience", "label"]


@admin.register(MaintenanceChecklistTemplate)
class MaintenanceChecklistTemplateAdmin(AuditedAdmin):
    list_display = ["phase", "position", "text", "offset_minutes", "evidence"]
    list_filter = ["phase"]


@admin.action(description="Generate upcoming windows now")
def generate_windows(modeladmin, request, queryset):
    made = sum(len(maintenance_services.generate(r)) for r in queryset)
    modeladmin.message_user(request, f"{made} window(s) generated.")


@admin.register(MaintenanceRecurrence)
class MaintenanceRecurrenceAdmin(AuditedAdmin):
    list_display = ["title", "type", "rrule", "start_time", "end_time", "owner", "enabled"]
    filter_horizontal = ["modules"]
    actions = [generate_windows]


class ReminderInline(admin.TabularInline):
    model = MaintenanceReminder
    extra = 0
    can_delete = False
    readonly_fields = [
        "key",
        "label",
        "audience",
        "due_at",
        "state",
        "sent_at",
        "recipients",
        "note",
    ]
    fields = readonly_fields


class ChecklistInline(admin.TabularInline):
    model = MaintenanceChecklistItem
    extra = 0
    can_delete = False
    readonly_fields = ["phase", "position", "text", "due_at", "done_at", "done_by", "note"]
    fields = readonly_fields


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(admin.ModelAdmin):
    """Read-mostly: windows are scheduled, approved, started and ended through the services
    (the pages and the API), which check the rules and write the audit trail."""

    list_display = ["__str__", "type", "status", "start", "end", "owner", "approved_by"]
    list_filter = ["status", "type"]
    search_fields = ["title"]
    inlines = [ReminderInline, ChecklistInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # a window is cancelled, with a reason, on its page

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields] + ["modules"]


@admin.register(MaintenanceRollback)
class MaintenanceRollbackAdmin(admin.ModelAdmin):
    list_display = ["window", "decided_by", "decided_at"]
    readonly_fields = [
        "window",
        "criteria",
        "reason",
        "steps",
        "verification",
        "decided_by",
        "decided_at",
    ]

    def has_delete_permission(self, request, obj=None):
        return False
