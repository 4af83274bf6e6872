"""A report mailed on a schedule to a list of addresses (the reports themselves are built from
the other apps' data on request; see reports/registry.py)."""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models


class ReportMailing(models.Model):
    """One report, its recipients and its cadence; `next_send_at` is what the scan reads."""

    class Cadence(models.TextChoices):
        DAILY = "daily"
        WEEKLY = "weekly"
        MONTHLY = "monthly"

    report = models.CharField(max_length=60, help_text="A report key from the registry")
    recipients = models.TextField(help_text="E-mail addresses, comma- or line-separated")
    cadence = models.CharField(max_length=10, choices=Cadence.choices)
    # The mailing scan selects enabled rows whose next_send_at has passed; indexed for it.
    next_send_at = models.DateTimeField(db_index=True)
    enabled = models.BooleanField(default=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        "auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["report", "next_send_at"]
        permissions = [("view_reports", "Can view and download reports")]

    def __str__(self) -> str:
        return f"{self.report} {self.cadence} to {self.recipients[:40]}"

    def addresses(self) -> list[str]:
        return [a.strip() for a in self.recipients.replace("\n", ",").split(",") if a.strip()]

    def clean(self):
        from .registry import REPORTS

        if self.report not in {r.key for r in REPORTS}:
            raise ValidationError({"report": f"Unknown report {self.report!r}."})
        addresses = self.addresses()
        if not addresses:
            raise ValidationError({"recipients": "Give at least one address."})
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                raise ValidationError({"recipients": f"{address!r} is not an address."}) from None
