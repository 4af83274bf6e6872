"""Sign-in events for the audit trail. Django's auth offers only signals for these."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.utils import timezone

from . import audit
from .middleware import IdleTimeoutMiddleware


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs):
    # The absolute session lifetime counts from here (console.middleware.IdleTimeoutMiddleware).
    if request is not None and hasattr(request, "session"):
        request.session[IdleTimeoutMiddleware.SIGNED_IN_KEY] = timezone.now().timestamp()
    audit.record("auth.login", actor=user, obj=user)


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        audit.record("auth.logout", actor=user, obj=user)


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username", ""))[:150]
    audit.record(
        "auth.login_failed",
        object_type="auth.user",
        object_repr=username,
        after={"username": username},
    )
