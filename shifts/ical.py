"""A person's shifts, on-call weeks and overrides as an iCalendar feed (RFC 5545), written with
the `icalendar` library: line folding, escaping and UTC date-times are easy to get subtly wrong
by hand, and calendar clients are strict about them."""

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from icalendar import Calendar, Event

from .models import Override, RotaWeek, Shift

PAST = timedelta(days=30)
AHEAD = timedelta(days=120)


def _event(uid: str, summary: str, start, end, description: str, url: str) -> Event:
    event = Event()
    event.add("uid", uid)
    event.add("summary", summary)
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("dtstamp", timezone.now())
    event.add("description", description)
    event.add("url", url)
    return event


def feed_for(user, url: str) -> bytes:
    now = timezone.now()
    lo, hi = now - PAST, now + AHEAD
    cal = Calendar()
    cal.add("prodid", "-//Pipeline Ops Console//Shifts//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"{user.get_username()}: shifts and on-call")
    span = Q(starts_at__lt=hi, ends_at__gt=lo)
    for shift in Shift.objects.filter(span).filter(Q(primary=user) | Q(secondary=user)):
        role = "primary" if shift.primary_id == user.pk else "secondary"
        cal.add_component(
            _event(
                f"shift-{shift.pk}-{user.pk}@ops-console",
                f"Shift ({role})",
                shift.starts_at,
                shift.ends_at,
                shift.notes or f"You are the {role} operator.",
                url,
            )
        )
    for week in RotaWeek.objects.filter(span).filter(Q(primary=user) | Q(secondary=user)):
        role = "primary" if week.primary_id == user.pk else "secondary"
        cal.add_component(
            _event(
                f"oncall-{week.pk}-{user.pk}@ops-console",
                f"On call ({role})",
                week.starts_at,
                week.ends_at,
                f"Weekly on-call rotation: you are {role} on call.",
                url,
            )
        )
    for override in Override.objects.filter(span, user=user).select_related("replaces"):
        covered = override.replaces.get_username() if override.replaces else "nobody"
        what = "shift" if override.shift_id else "on call"
        cal.add_component(
            _event(
                f"override-{override.pk}@ops-console",
                f"Covering {what} ({override.slot}) for {covered}",
                override.starts_at,
                override.ends_at,
                override.reason,
                url,
            )
        )
    return cal.to_ical()
