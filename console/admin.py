from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.forms.models import model_to_dict

from . import audit
from .models import ApiToken, AuditEntry, Role

admin.site.site_header = "Pipeline Ops Console — administration"
admin.site.site_title = "Ops Console admin"


def _summary(obj) -> dict:
    data = model_to_dict(obj)
    for secret in ("password", "key_hash", "token"):
        data.pop(secret, None)
    if "target" in data and hasattr(obj, "display_target"):  # a hook's URL (console.secrets)
        data["target"] = obj.display_target
    return data


class AuditedAdmin(admin.ModelAdmin):
    """Writes every admin save and delete to the audit trail."""

    def save_model(self, request, obj, form, change):
        before = _summary(type(obj).objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)
        action = f"{obj._meta.label_lower}.{'update' if change else 'create'}"
        audit.record(action, actor=request.user, obj=obj, before=before, after=_summary(obj))

    def delete_model(self, request, obj):
        before = _summary(obj)
        audit.record(f"{obj._meta.label_lower}.delete", actor=request.user, obj=obj, before=before)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["seq", "at", "actor_name", "action", "object_type", "object_repr", "source_ip"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_name", "action", "object_repr", "object_id", "request_id"]
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Role)
class RoleAdmin(AuditedAdmin):
    list_display = ["name", "rank", "source"]
    readonly_fields = ["group"]


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedAdmin):
    list_display = ["prefix", "user", "name", "created_at", "last_used_at", "revoked_at"]
    # The hash is never shown and tokens are issued by `manage.py create_api_token`.
    fields = ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["user", "prefix", "created_at", "last_used_at"]

    def has_add_permission(self, request):
        return False


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class AuditedUserAdmin(AuditedAdmin, UserAdmin):
    pass


@admin.register(Group)
class AuditedGroupAdmin(AuditedAdmin, GroupAdmin):
    pass


def _audit_axes_deletions() -> None:
    """django-axes' lockout records: deleting an access attempt is how an administrator
    unlocks an account, so it is audited like every other deletion (issue 12, data safety)."""
    from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    for model, base in (
        (AccessAttempt, AccessAttemptAdmin),
        (AccessFailureLog, AccessFailureLogAdmin),
        (AccessLog, AccessLogAdmin),
    ):
        if admin.site.is_registered(model):
            admin.site.unregister(model)
            admin.site.register(model, type(f"Audited{base.__name__}", (AuditedAdmin, base), {}))


_audit_axes_deletions()
