"""Configuration versions seen in module metrics (001 "Configuration Drift Detection")."""

from django.db import models

from .change import Change


class ConfigVersion(models.Model):
    """A module's running configuration version as read from its metrics
    (`<module>_config_info{version,checksum}`), one row per version seen in a row (001
    "Configuration Drift Detection"). `change` is the change in progress when it appeared;
    none means drift, and `alert_fingerprint` names the alert raised for it."""

    module = models.ForeignKey(
        "monitoring.Module", on_delete=models.CASCADE, related_name="config_versions"
    )
    version = models.CharField(max_length=100)
    checksum = models.CharField(max_length=100, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    change = models.ForeignKey(
        Change, null=True, blank=True, on_delete=models.SET_NULL, related_name="config_versions"
    )
    baseline = models.BooleanField(
        default=False, help_text="The first version seen for the module (nothing to compare)"
    )
    alert_fingerprint = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-first_seen_at", "-pk"]
        indexes = [models.Index(fields=["module", "-first_seen_at"])]

    def __str__(self) -> str:
        return f"{self.module_id} {self.version}"

    @property
    def drift(self) -> bool:
        return not self.baseline and self.change_id is None
