from django.utils.functional import SimpleLazyObject


def on_call(request):
    """`on_call_now` for the page header (templates/base.html, #oncall-now), computed only
    when a page renders it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def lookup():
        from .services import on_call_now

        return on_call_now()

    return {"on_call_now": SimpleLazyObject(lookup)}
