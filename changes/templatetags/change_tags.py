from django import template

register = template.Library()

STATUS = {
    "draft": "secondary",
    "submitted": "info",
    "technical_review": "info",
    "cab_review": "warning",
    "approved": "primary",
    "rejected": "danger",
    "scheduled": "primary",
    "in_progress": "warning",
    "completed": "success",
    "rolled_back": "danger",
    "failed": "danger",
    "reviewed": "success",
    "closed": "dark",
}
RISK = {"standard": "success", "normal": "info", "high_risk": "warning", "critical": "danger"}


@register.filter
def change_status_class(status: str) -> str:
    return STATUS.get(status, "secondary")


@register.filter
def risk_class(risk: str) -> str:
    return RISK.get(risk, "secondary")
