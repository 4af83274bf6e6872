from django.contrib import admin

from console.admin import AuditedAdmin

from .models import ReportMailing


@admin.register(ReportMailing)
class ReportMailingAdmin(AuditedAdmin):
    list_display = ["report", "cadence", "recipients", "next_send_at", "last_sent_at", "enabled"]
    list_filter = ["report", "cadence", "enabled"]
    readonly_fields = ["last_sent_at", "created_by"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
