from django.contrib import admin

# --- maintenance windows (issue 9) ---------------------------------------------------------------
from . import maintenance as maintenance_services
from .models import (
    MaintenanceChecklistItem,
    MaintenanceChecklistTemplate,
    MaintenanceRecurrence,
    MaintenanceReminder,
    MaintenanceReminderStep,
    MaintenanceRollback,
    MaintenanceType,
    MaintenanceWindow,
)


@admin.register(MaintenanceType)
class MaintenanceTypeAdmin(admin.ModelAdmin):
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
    ]


@admin.register(MaintenanceReminderStep)
class MaintenanceReminderStepAdmin(admin.ModelAdmin):
    list_display = ["key", "minutes_before", "audience", "label"]


@admin.register(MaintenanceChecklistTemplate)
class MaintenanceChecklistTemplateAdmin(admin.ModelAdmin):
    list_display = ["phase", "position", "text", "offset_minutes", "evidence"]
    list_filter = ["phase"]


@admin.action(description="Generate upcoming windows now")
def generate_windows(modeladmin, request, queryset):
    made = sum(len(maintenance_services.generate(r)) for r in queryset)
    modeladmin.message_user(request, f"{made} window(s) generated.")


@admin.register(MaintenanceRecurrence)
class MaintenanceRecurrenceAdmin(admin.ModelAdmin):
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
