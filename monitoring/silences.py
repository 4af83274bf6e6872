"""Silences: create and expire (001 "Silences and Inhibition"). The API, the pages and
maintenance windows all go through these two functions."""

import re

from django.db import models, transaction
from django.utils import timezone

from console import audit, live

from .models import Silence


class SilenceError(ValueError):
    """Refused with a message for the user (the API answers 400, a form shows it), naming
    the field at fault in Alertmanager's spelling."""

    def __init__(self, message: str, field: str = "matchers"):
        super().__init__(message)
        self.field = field


def check_matchers(matchers: list[dict]) -> list[dict]:
    """Alertmanager's matcher shape: name, value, isRegex, isEqual. Refuses none at all,
    a bad regex, and matchers that would silence every alert."""
    if not matchers:
        raise SilenceError("At least one matcher.")
    cleaned = []
    for matcher in matchers:
        name = str(matcher.get("name", "")).strip()
        if not name:
            raise SilenceError("Every matcher needs a label name.")
        value = str(matcher.get("value", ""))
        is_regex = bool(matcher.get("isRegex", False))
        if is_regex:
            try:
                re.compile(value)
            except re.error as exc:
                raise SilenceError(f"Invalid regex for {name}: {exc}") from None
        cleaned.append(
            {
                "name": name,
                "value": value,
                "isRegex": is_regex,
                "isEqual": bool(matcher.get("isEqual", True)),
            }
        )
    if all(m["value"] == "" or (m["isRegex"] and m["value"] in (".*", ".+")) for m in cleaned):
        raise SilenceError("Matchers that match every alert are refused.")
    return cleaned


def create_silence(
    by, matchers: list[dict], starts_at, ends_at, comment: str, created_by_name: str = ""
) -> Silence:
    """`by` may be None for a silence the console makes itself (a maintenance window), which
    then names itself in `created_by_name`."""
    matchers = check_matchers(matchers)
    if not comment.strip():
        raise SilenceError("Say why (it is shown on every silenced alert).", "comment")
    if ends_at <= starts_at:
        raise SilenceError("The end must be after the start.", "endsAt")
    if ends_at <= timezone.now():
        raise SilenceError("The end must be in the future.", "endsAt")
    with transaction.atomic():
        silence = Silence.objects.create(
            matchers=matchers,
            starts_at=starts_at,
            ends_at=ends_at,
            comment=comment,
            created_by=by,
            created_by_name=created_by_name or (by.get_username() if by else "console"),
        )
        audit.record("silence.create", actor=by, obj=silence, after=describe(silence))
        live.publish("alerts", "alerts.changed")
    return silence


def expire_silence(by, silence: Silence) -> Silence:
    """Ends a silence now (kept for history). Expiring an expired silence is refused."""
    with transaction.atomic():
        silence = Silence.objects.select_for_update().get(pk=silence.pk)
        now = timezone.now()
        if silence.state(now) == "expired":
            raise SilenceError("That silence has already expired.", "endsAt")
        before = {"endsAt": silence.ends_at.isoformat()}
        silence.ends_at = max(now, silence.starts_at)
        silence.save(update_fields=["ends_at"])
        audit.record(
            "silence.expire",
            actor=by,
            obj=silence,
            before=before,
            after={"endsAt": silence.ends_at.isoformat()},
        )
        live.publish("alerts", "alerts.changed")
    return silence


def describe(silence: Silence) -> dict:
    return {
        "matchers": silence.matchers,
        "startsAt": silence.starts_at.isoformat(),
        "endsAt": silence.ends_at.isoformat(),
        "createdBy": silence.created_by_name,
        "comment": silence.comment,
    }


def warn_expiring(now=None, limit: int = 100) -> int:
    """Tell the authors of silences about to expire, once each (`expiry_warned_at`), in the
    console inbox and by email, `SILENCE_EXPIRY_WARNING` before the end (issue 6). Silences
    made with less than that left are not warned about (their author just chose the end),
    nor those the console made itself (a maintenance window: no author to tell)."""
    from django.conf import settings

    from incidents import notify
    from incidents.models import Notification

    now = now or timezone.now()
    lead = settings.SILENCE_EXPIRY_WARNING
    warned = 0
    with transaction.atomic():
        due = (
            Silence.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                expiry_warned_at__isnull=True,
                created_by__isnull=False,
                ends_at__gt=now,
                ends_at__lte=now + lead,
                created_at__lt=models.F("ends_at") - lead,
            )
            .select_related("created_by")
            .order_by("ends_at")[:limit]
        )
        for silence in due:
            minutes = max(1, round((silence.ends_at - now).total_seconds() / 60))
            matchers = ", ".join(_matcher_text(m) for m in silence.matchers)
            subject = f"Silence {silence.pk} ({matchers}) expires in {minutes} min"
            body = (
                f"Your silence {silence.pk} ends at "
                f"{timezone.localtime(silence.ends_at):%Y-%m-%d %H:%M %Z}.\n"
                f"Matchers: {matchers}\nComment: {silence.comment}\n\n"
                "Alerts it mutes will notify again when it ends. To keep them quiet, make a "
                "new silence before then."
            )
            notify.queue_users(
                None,
                [silence.created_by],
                "silence_expiring",
                subject,
                body,
                Notification.Audience.SILENCE,
                link=_silence_link(silence),
            )
            silence.expiry_warned_at = now
            silence.save(update_fields=["expiry_warned_at"])
            audit.record(
                "silence.expiry_warned", obj=silence, after={"endsAt": str(silence.ends_at)}
            )
            warned += 1
    return warned


def _matcher_text(matcher: dict) -> str:
    op = (
        ("=~" if matcher.get("isRegex") else "=")
        if matcher.get("isEqual", True)
        else ("!~" if matcher.get("isRegex") else "!=")
    )
    return f'{matcher["name"]}{op}"{matcher["value"]}"'


def _silence_link(silence: Silence) -> str:
    """The silence in the API until the Alerts page (another part of issue 6) lists them."""
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse("monitoring:alerts") + f"#silence-{silence.pk}"
    except NoReverseMatch:
        return reverse("api:silence-detail", args=[silence.pk])
