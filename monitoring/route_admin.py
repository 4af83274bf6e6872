"""Alert routing in the admin (issue 6): receivers and routes are data the admin owns once
seeded (every change audited); alert groups are state the notification scan keeps, read-only."""

from django import forms
from django.contrib import admin

from console.admin import AuditedAdmin

from .models import AlertGroup, AlertGroupMember, Receiver, Route
from .route_forms import clean_group_by, clean_route_matchers


@admin.register(Receiver)
class ReceiverAdmin(AuditedAdmin):
    list_display = ["name", "page_oncall", "send_resolved", "description"]
    filter_horizontal = ["channels"]


class RouteAdminForm(forms.ModelForm):
    class Meta:
        model = Route
        fields = [
            "name",
            "parent",
            "position",
            "matchers",
            "receiver",
            "group_by",
            "group_wait",
            "group_interval",
            "repeat_interval",
            "continue_matching",
            "enabled",
            "source",
        ]

    def clean_matchers(self):
        return clean_route_matchers(self.cleaned_data["matchers"])

    def clean_group_by(self):
        return clean_group_by(self.cleaned_data["group_by"])


@admin.register(Route)
class RouteAdmin(AuditedAdmin):
    form = RouteAdminForm
    list_display = [
        "name",
        "parent",
        "position",
        "receiver",
        "group_wait",
        "group_interval",
        "repeat_interval",
        "continue_matching",
        "enabled",
    ]
    list_filter = ["enabled", "receiver"]


class MemberInline(admin.TabularInline):
    model = AlertGroupMember
    extra = 0
    can_delete = False
    readonly_fields = ["alert", "added_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(AlertGroup)
class AlertGroupAdmin(admin.ModelAdmin):
    list_display = ["route", "labels", "next_flush_at", "last_notified_at", "created_at"]
    list_filter = ["route"]
    inlines = [MemberInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
