from django import forms
from django.contrib import admin

from console.admin import AuditedAdmin

from .models import (
    ActionItem,
    Breach,
    CommunicationTemplate,
    Escalation,
    EscalationStep,
    Incident,
    Notification,
    NotificationChannel,
    Responder,
    Review,
    SeverityPolicy,
    TimelineEntry,
    WatchdogRun,
)


@admin.register(SeverityPolicy)
class SeverityPolicyAdmin(AuditedAdmin):
    list_display = [
        "severity",
        "name",
        "ack_minutes",
        "response_minutes",
        "mitigation_minutes",
        "update_minutes",
        "executive_minutes",
        "stakeholder_minutes",
        "resolution_minutes",
        "review_required",
    ]


@admin.register(EscalationStep)
class EscalationStepAdmin(AuditedAdmin):
    list_display = ["severity", "step", "after_minutes", "role"]
    list_filter = ["severity"]


@admin.register(CommunicationTemplate)
class CommunicationTemplateAdmin(AuditedAdmin):
    list_display = ["kind", "subject"]


class NotificationChannelForm(forms.ModelForm):
    """A hook's URL is its secret: once stored it is never rendered back (the field comes up
    empty with the masked form in its help; left empty it keeps the stored URL)."""

    class Meta:
        model = NotificationChannel
        fields = ["name", "kind", "target", "enabled", "severities", "events"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stored = self.instance.target if self.instance.pk else ""
        if self.instance.pk and self.instance.is_hook:
            self.initial["target"] = ""
            self.fields["target"].required = False
            self.fields["target"].help_text = (
                f"A hook URL is stored ({self.instance.display_target}); it is never shown. "
                "Leave empty to keep it, or type a new one."
            )

    def clean_target(self) -> str:
        return self.cleaned_data.get("target") or self._stored


@admin.register(NotificationChannel)
class NotificationChannelAdmin(AuditedAdmin):
    form = NotificationChannelForm
    list_display = ["name", "kind", "display_target", "enabled"]


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TimelineInline(ReadOnlyInline):
    model = TimelineEntry
    fields = ["at", "kind", "actor_name", "text"]


class EscalationInline(ReadOnlyInline):
    model = Escalation
    fields = ["key", "role", "trigger", "reason", "due_at", "fired_at", "notified"]


class ResponderInline(ReadOnlyInline):
    model = Responder
    fields = ["user", "role", "added_at", "added_by"]


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    """Read-only here: every change goes through the services (timeline, audit, clocks)."""

    list_display = ["number", "title", "severity", "status", "commander", "declared_at"]
    list_filter = ["severity", "status"]
    search_fields = ["number", "title", "summary"]
    inlines = [ResponderInline, EscalationInline, TimelineInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """The delivery record: kept (issue 12, data safety), never edited."""

    list_display = [
        "incident",
        "kind",
        "audience",
        "display_target",
        "state",
        "attempts",
        "created_at",
    ]
    list_filter = ["kind", "state", "audience"]
    # Never the stored target: a hook's URL is its secret.
    exclude = ["target"]
    readonly_fields = ["display_target"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ActionItemInline(admin.TabularInline):
    model = ActionItem
    extra = 0


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    """A post-incident review is part of the incident's record: kept, never deleted here."""

    list_display = ["incident", "required", "due_on", "state"]
    inlines = [ActionItemInline]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Breach)
class BreachAdmin(admin.ModelAdmin):
    """History the clocks write (issue 12, data safety: kept)."""

    list_display = ["incident", "timer", "due_at", "recorded_at"]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(WatchdogRun)
class WatchdogRunAdmin(admin.ModelAdmin):
    """History the watchdog writes (kept)."""

    list_display = ["name", "at", "overdue_found", "refired"]

    def has_delete_permission(self, request, obj=None):
        return False
