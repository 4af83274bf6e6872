"""Policy data (checklists, escalation contacts) is edited here; schedules, the log and
handoffs are shown read-only: they change through the pages and the API, which check the rules
(overlaps, gaps, sign-off) and write the audit trail."""

from django.contrib import admin
from django.forms.models import model_to_dict

from console import audit

from .models import (
    ChecklistItem,
    ChecklistRun,
    ChecklistTemplate,
    ChecklistTick,
    EscalationContact,
    Handoff,
    LogEntry,
    Notice,
    Override,
    RotaGap,
    RotaWeek,
    Shift,
)


class AuditedAdmin(admin.ModelAdmin):
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit.record(
            f"admin.{'change' if change else 'add'}",
            actor=request.user,
            obj=obj,
            after={name: str(form.cleaned_data.get(name)) for name in form.changed_data},
        )

    def delete_model(self, request, obj):
        # The row as it was is kept in the audit entry (issue 12, data safety).
        audit.record("admin.delete", actor=request.user, obj=obj, before=model_to_dict(obj))
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        # "Delete selected" too: one audited deletion per row.
        for obj in queryset:
            self.delete_model(request, obj)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ChecklistItemInline(admin.TabularInline):
    model = ChecklistItem
    extra = 0
    fields = ["position", "key", "title", "description", "evidence"]


@admin.register(ChecklistTemplate)
class ChecklistTemplateAdmin(AuditedAdmin):
    list_display = ["name", "key", "window_start", "window_end", "source"]
    inlines = [ChecklistItemInline]


@admin.register(EscalationContact)
class EscalationContactAdmin(AuditedAdmin):
    list_display = ["position", "name", "title", "user", "phone", "email"]


@admin.register(Shift)
class ShiftAdmin(ReadOnlyAdmin):
    list_display = ["starts_at", "ends_at", "primary", "secondary", "reminded_at"]
    date_hierarchy = "starts_at"


@admin.register(RotaWeek)
class RotaWeekAdmin(ReadOnlyAdmin):
    list_display = ["starts_at", "ends_at", "primary", "secondary"]


@admin.register(Override)
class OverrideAdmin(ReadOnlyAdmin):
    list_display = ["starts_at", "ends_at", "slot", "user", "replaces", "shift", "reason"]


@admin.register(RotaGap)
class RotaGapAdmin(ReadOnlyAdmin):
    list_display = ["starts_at", "ends_at", "detected_at", "resolved_at"]


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "kind", "text", "read_at"]
    list_filter = ["kind"]


@admin.register(ChecklistRun)
class ChecklistRunAdmin(ReadOnlyAdmin):
    list_display = ["day", "template", "status", "started_by", "completed_at", "window_end_at"]
    list_filter = ["template", "status"]


@admin.register(ChecklistTick)
class ChecklistTickAdmin(ReadOnlyAdmin):
    list_display = ["run", "item", "result", "by", "at", "incident"]


@admin.register(LogEntry)
class LogEntryAdmin(ReadOnlyAdmin):
    list_display = ["at", "kind", "author", "status", "text"]
    list_filter = ["kind", "status"]
    search_fields = ["text"]


@admin.register(Handoff)
class HandoffAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "outgoing", "incoming", "status"]
    list_filter = ["kind", "status"]
