from django import template

register = template.Library()


@register.filter
def summary(value) -> str:
    """A before/after dict as `key: value · key: value`, for tables (escaped by the caller)."""
    if isinstance(value, dict):
        return " · ".join(f"{key}: {summary(item)}" for key, item in value.items())
    if isinstance(value, list):
        return ", ".join(summary(item) for item in value)
    return "" if value is None else str(value)
