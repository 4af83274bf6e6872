"""Alert routing and notification, as Alertmanager does it (001 "Alert Routing"; issue 6).

A firing alert goes down the route tree (`match`) to one or more routes; on each it joins the
alert group of its `group_by` labels (`on_fired`). Groups are flushed by a due-time scan
(`scan_due`, beat every 5 s) over `AlertGroup.next_flush_at`, never by countdown tasks:

- a new group waits `group_wait` before its first notification (to collect the rest of a
  storm, and to let an inhibiting alert arrive);
- after each flush the next one is `group_interval` later for as long as the group holds
  alerts; new alerts, and resolutions, are told at that next flush;
- a flush sends when the group holds a firing alert the receiver was not told about, or (with
  the receiver's `send_resolved`) a resolution of one it was told about, or when
  `repeat_interval` has passed since the last notification and alerts are still firing —
  Alertmanager's dedup rules (notify/notify.go, DedupStage.needsUpdate).

Silenced and inhibited alerts are left out of what is sent while muted, but unlike
Alertmanager the resolution of an alert the receiver was told about is sent even when the
alert was muted since: the receiver hears the end of what it heard the start of. Muting is
derived when flushing (`alerting.annotate`), so a silence made or expired takes effect at the
next flush. One flush is one message per receiver target: a storm is one notification.
"""

import hashlib
import json
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from console import audit, live

from .alerting import active_silences, annotate
from .models import Alert, AlertGroup, AlertGroupMember, AlertState, Receiver, Route

log = logging.getLogger(__name__)

# Alertmanager's defaults for a root route that does not say (its configuration docs).
DEFAULT_GROUP_WAIT = 30
DEFAULT_GROUP_INTERVAL = 5 * 60
DEFAULT_REPEAT_INTERVAL = 4 * 60 * 60
ALL_LABELS = "..."


# --- the route tree ---------------------------------------------------------------------------


def matchers_match(matchers: list[dict], labels: dict[str, str]) -> bool:
    """Every matcher holds (Alertmanager's =, !=, =~, !~; regexes anchored; a missing label
    is the empty string)."""
    for matcher in matchers:
        actual = labels.get(matcher["name"], "")
        if matcher.get("isRegex"):
            hit = re.fullmatch(matcher["value"], actual) is not None
        else:
            hit = actual == matcher["value"]
        if hit != matcher.get("isEqual", True):
            return False
    return True


@dataclass
class Node:
    """A route with what it inherits resolved."""

    route: Route
    receiver: Receiver | None
    group_by: list[str]
    group_wait: int
    group_interval: int
    repeat_interval: int
    path: list[str]
    children: list["Node"] = field(default_factory=list)

    def group_labels(self, labels: dict[str, str]) -> dict[str, str]:
        if ALL_LABELS in self.group_by:
            return dict(labels)
        return {name: labels[name] for name in self.group_by if name in labels}


def group_key(group_labels: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(group_labels, sort_keys=True).encode()).hexdigest()[:32]


def tree(routes: list[Route] | None = None) -> Node | None:
    """The routes as a tree from the root (the route without a parent), with inherited
    settings resolved. Disabled routes are in it (their groups still flush); `match` skips
    them, and a disabled route takes its subtree with it."""
    if routes is None:
        routes = list(Route.objects.select_related("receiver"))
    by_parent: dict[int | None, list[Route]] = defaultdict(list)
    for route in sorted(routes, key=lambda r: (r.position, r.pk)):
        by_parent[route.parent_id].append(route)
    if not by_parent[None]:
        return None

    def build(route: Route, parent: Node | None) -> Node:
        def pick(value, inherited, default):
            if value is not None:
                return value
            return inherited if parent is not None else default

        node = Node(
            route=route,
            receiver=route.receiver or (parent.receiver if parent else None),
            group_by=pick(route.group_by, parent and parent.group_by, []),
            group_wait=pick(route.group_wait, parent and parent.group_wait, DEFAULT_GROUP_WAIT),
            group_interval=pick(
                route.group_interval, parent and parent.group_interval, DEFAULT_GROUP_INTERVAL
            ),
            repeat_interval=pick(
                route.repeat_interval,
                parent and parent.repeat_interval,
                DEFAULT_REPEAT_INTERVAL,
            ),
            path=[*(parent.path if parent else []), route.name],
        )
        node.children = [build(child, node) for child in by_parent[route.pk]]
        return node

    return build(by_parent[None][0], None)


def match(node: Node, labels: dict[str, str]) -> list[Node]:
    """Alertmanager's Route.Match: depth first, the first matching child unless it says
    `continue`; a node none of whose children match is itself the match."""
    if not node.route.enabled or not matchers_match(node.route.matchers, labels):
        return []
    found: list[Node] = []
    for child in node.children:
        matched = match(child, labels)
        found.extend(matched)
        if matched and not child.route.continue_matching:
            break
    return found or [node]


def test_route(labels: dict[str, str], now: datetime | None = None) -> dict:
    """Which route(s) an alert with these labels would take (the tester on the routes page and
    `POST /api/v1/routes/test/`), with receiver, grouping and the silences muting it now."""
    now = now or timezone.now()
    root = tree()
    matches = []
    for node in match(root, labels) if root else []:
        group_labels = node.group_labels(labels)
        matches.append(
            {
                "route": node.route.name,
                "route_id": node.route.pk,
                "path": node.path,
                "receiver": node.receiver.name if node.receiver else None,
                "group_by": node.group_by,
                "group_labels": group_labels,
                "group_key": group_key(group_labels),
                "group_wait": node.group_wait,
                "group_interval": node.group_interval,
                "repeat_interval": node.repeat_interval,
                "continue": node.route.continue_matching,
            }
        )
    silenced_by = [s.pk for s in active_silences(now) if s.matches(labels)]
    return {"labels": labels, "matches": matches, "silenced_by": silenced_by}


# --- alerts into groups -----------------------------------------------------------------------


def on_fired(alert: Alert, now: datetime | None = None) -> None:
    """Put a newly firing alert in the group of each route it takes. Called inside the
    transaction that fired it; never raises (the alert must fire even if routing fails)."""
    try:
        with transaction.atomic():
            _add(alert, now or timezone.now())
    except Exception:
        log.exception("alert %s fired but could not be routed", alert.pk)


def _add(alert: Alert, now: datetime) -> None:
    root = tree()
    if root is None:
        return
    for node in match(root, alert.labels):
        if node.receiver is None:
            continue
        labels = node.group_labels(alert.labels)
        group, _ = AlertGroup.objects.get_or_create(
            route=node.route,
            key=group_key(labels),
            defaults={"labels": labels, "created_at": now},
        )
        # Blocking lock: a flush emptying this group right now must finish first, or it
        # would clear `next_flush_at` after we saw it set and strand the new member.
        group = AlertGroup.objects.select_for_update().get(pk=group.pk)
        AlertGroupMember.objects.get_or_create(group=group, alert=alert, defaults={"added_at": now})
        if group.next_flush_at is None:
            group.next_flush_at = now + timedelta(seconds=node.group_wait)
            group.save(update_fields=["next_flush_at"])


def on_resolved(alert: Alert, now: datetime | None = None) -> None:
    """A resolution is told at its groups' next flush, already scheduled while they hold the
    alert; this only repairs a group that somehow has none."""
    now = now or timezone.now()
    AlertGroup.objects.filter(members__alert=alert, next_flush_at__isnull=True).update(
        next_flush_at=now
    )


# --- flushing ---------------------------------------------------------------------------------


def scan_due(now: datetime | None = None, limit: int = 200) -> int:
    """Flush every group whose flush is due, one transaction each; a group another worker is
    flushing is skipped (it is that worker's), so no flush is sent twice."""
    now = now or timezone.now()
    flushed = 0
    for _ in range(limit):
        with transaction.atomic():
            group = (
                AlertGroup.objects.select_for_update(skip_locked=True)
                .filter(next_flush_at__lte=now)
                .order_by("next_flush_at")
                .first()
            )
            if group is None:
                break
            flush(group, now)
            flushed += 1
    return flushed


@dataclass
class Flush:
    firing: list[Alert]
    resolved: list[Alert]
    sent: bool


def flush(group: AlertGroup, now: datetime) -> Flush:
    """One flush of a locked group (the numbered steps are Alertmanager's).

    1. Split the members: firing and not muted, firing but muted, resolved.
    2. Decide (dedup): new firing alerts, resolutions the receiver should hear, or the repeat
       interval passed.
    3. Send one message, remember what the receiver now knows, drop the resolved members.
    4. Due again `group_interval` later while members remain; otherwise idle.
    """
    node = node_for(group.route_id)
    members = list(group.members.select_related("alert__incident"))
    alerts = annotate([m.alert for m in members], now)
    firing = {a.fingerprint: a for a in alerts if a.state == AlertState.FIRING and not _muted(a)}
    muted = {a.fingerprint for a in alerts if a.state == AlertState.FIRING and _muted(a)}
    # A fingerprint firing again (a new episode) is not also reported resolved.
    resolved = {
        a.fingerprint: a
        for a in alerts
        if a.state == AlertState.RESOLVED and a.fingerprint not in firing.keys() | muted
    }
    notified = set(group.notified_firing)
    receiver = node.receiver if node else None
    tell_resolved = (
        [resolved[fp] for fp in sorted(resolved.keys() & notified)]
        if receiver and receiver.send_resolved
        else []
    )
    repeat_due = group.last_notified_at is None or now >= group.last_notified_at + timedelta(
        seconds=node.repeat_interval if node else DEFAULT_REPEAT_INTERVAL
    )
    send = receiver is not None and (
        not firing.keys() <= notified or bool(tell_resolved) or (bool(firing) and repeat_due)
    )
    firing_list = sorted(firing.values(), key=lambda a: (a.name, a.fingerprint))
    if send:
        _notify(group, receiver, firing_list, tell_resolved, now)
        group.last_notified_at = now
    group.notified_firing = sorted(firing.keys() | (notified & muted))
    # Only what this flush saw resolved: an alert resolving meanwhile stays for the next one.
    done = [m.pk for m in members if m.alert.state == AlertState.RESOLVED]
    AlertGroupMember.objects.filter(pk__in=done).delete()
    remaining = len(members) - len(done)
    group.last_flush_at = now
    group.next_flush_at = (
        now + timedelta(seconds=node.group_interval if node else DEFAULT_GROUP_INTERVAL)
        if remaining
        else None
    )
    group.save(
        update_fields=["notified_firing", "last_notified_at", "last_flush_at", "next_flush_at"]
    )
    return Flush(firing_list, tell_resolved, send)


def paged_by_incident(alerts: list[Alert]) -> bool:
    """Whether every alert of a flush belongs to an incident whose escalation has engaged the
    On-call Engineer role (issue 6: a critical or high alert paged the on-call twice).

    An operator wants one page per problem. The incident's page is the one kept: it comes
    first (the incident opens when the alert fires, the route waits group_wait), it is the one
    that is acknowledged and escalates further when nobody answers, and its incident page
    shows the alert with a link to it. So the route does not page the on-call about alerts
    already covered that way (nor about their resolution: the incident's timeline records
    it); its other targets (chat, email) are still told, and the message names the incident.
    An alert with no such incident — none opened (below the policy's severity, set-up gap),
    or its incident closed while it still fires — still pages through its route.
    """
    from console import roles
    from incidents.models import Escalation, Status

    if not alerts or any(a.incident_id is None for a in alerts):
        return False
    ids = {a.incident_id for a in alerts}
    paged = set(
        Escalation.objects.filter(incident_id__in=ids, role=roles.ONCALL).values_list(
            "incident_id", flat=True
        )
    )
    closed = {Status.RESOLVED, Status.CLOSED}
    return all(
        a.incident_id in paged
        and (a.state == AlertState.RESOLVED or a.incident.status not in closed)
        for a in alerts
    )


def _muted(alert: Alert) -> bool:
    return bool(alert.silenced_by) or alert.inhibited


def node_for(route_id: int) -> Node | None:
    """The route with its inherited settings."""
    root = tree()
    stack = [root] if root else []
    while stack:
        node = stack.pop()
        if node.route.pk == route_id:
            return node
        stack.extend(node.children)
    return None


def _labels_text(labels: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _alert_line(alert: Alert) -> str:
    summary = alert.annotations.get("summary") or alert.name
    since = timezone.localtime(alert.active_since).strftime("%Y-%m-%d %H:%M:%S")
    end = (
        f", resolved {timezone.localtime(alert.resolved_at):%H:%M:%S}" if alert.resolved_at else ""
    )
    line = f"- {alert.name}: {summary} [{_labels_text(alert.labels)}] since {since}{end}"
    if alert.incident_id:  # the incident's page and this message point at each other
        number = alert.incident.number
        line += f" — incident {number} {reverse('incidents:detail', args=[number])}"
    return line


def message(
    group: AlertGroup, receiver: Receiver, firing: list[Alert], resolved: list[Alert]
) -> tuple[str, str, dict]:
    """Subject, text body and Alertmanager's webhook body (version 4) for one flush."""
    names = sorted({a.name for a in (firing or resolved)})
    status = f"FIRING:{len(firing)}" if firing else "RESOLVED"
    subject = f"[{status}] {', '.join(names)}"
    if group.labels:
        subject += f" ({_labels_text(group.labels)})"
    if firing and resolved:
        subject += f"; {len(resolved)} resolved"
    lines = []
    if firing:
        lines += [f"Firing ({len(firing)}):", *map(_alert_line, firing)]
    if resolved:
        lines += ["", f"Resolved ({len(resolved)}):", *map(_alert_line, resolved)]
    lines += ["", f"Route: {group.route.name}; receiver: {receiver.name}"]
    body = "\n".join(lines).strip()
    everything = firing + resolved
    common = dict(everything[0].labels) if everything else {}
    for alert in everything[1:]:
        common = {k: v for k, v in common.items() if alert.labels.get(k) == v}
    payload = {
        "version": "4",
        "groupKey": f"{group.route.name}:{group.key}",
        "status": "firing" if firing else "resolved",
        "receiver": receiver.name,
        "groupLabels": group.labels,
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": reverse("monitoring:alert_group", args=[group.pk]),
        "alerts": [
            {
                "status": "firing" if alert.state == AlertState.FIRING else "resolved",
                "labels": alert.labels,
                "annotations": alert.annotations,
                "startsAt": alert.active_since.isoformat(),
                "endsAt": alert.resolved_at.isoformat() if alert.resolved_at else None,
                "fingerprint": alert.fingerprint,
            }
            for alert in everything
        ],
    }
    return subject[:300], body, payload


def _notify(
    group: AlertGroup, receiver: Receiver, firing: list[Alert], resolved: list[Alert], now
) -> int:
    """Queue the flush's message on every target of the receiver (delivered by incidents'
    delivery scan, with its backoff and lease)."""
    from console import roles
    from incidents import notify
    from incidents.models import Notification

    subject, body, payload = message(group, receiver, firing, resolved)
    event = "firing" if firing else "resolved"
    extra = {
        "alert_group": group,
        "link": reverse("monitoring:alert_group", args=[group.pk]),
        "payload": payload,
    }
    audience = Notification.Audience.ALERTS
    rows = []
    covered = receiver.page_oncall and paged_by_incident(firing + resolved)
    if receiver.page_oncall and not covered:
        users = notify.role_members(roles.ONCALL)
        rows += notify.queue_users(None, users, event, subject, body, audience, **extra)
    channels = receiver.channels.filter(enabled=True).order_by("pk")
    rows += notify.queue_on(channels, event, subject, body, audience, **extra)
    audit.record(
        "alert_group.notify",
        obj=group,
        after={
            "receiver": receiver.name,
            "firing": [a.fingerprint for a in firing],
            "resolved": [a.fingerprint for a in resolved],
            "deliveries": len(rows),
            # The on-call page left to the incident's escalation (see paged_by_incident).
            "oncall_paged_by_incident": covered,
        },
    )
    live.publish("alerts", "alerts.changed")
    return len(rows)


# --- editing routes -------------------------------------------------------------------------


def describe_route(route: Route) -> dict:
    return {
        "name": route.name,
        "parent": route.parent.name if route.parent_id else None,
        "position": route.position,
        "matchers": route.matchers,
        "receiver": route.receiver.name if route.receiver_id else None,
        "group_by": route.group_by,
        "group_wait": route.group_wait,
        "group_interval": route.group_interval,
        "repeat_interval": route.repeat_interval,
        "continue": route.continue_matching,
        "enabled": route.enabled,
    }


def save_route(by, form) -> Route:
    """Save a valid RouteForm (add or change), audited and pushed to the routes page. The row
    is locked so that two people saving at once leave one of their versions, whole."""
    with transaction.atomic():
        before = None
        if form.instance.pk:
            current = Route.objects.select_for_update(of=("self",)).select_related(
                "parent", "receiver"
            )
            before = describe_route(current.get(pk=form.instance.pk))
        route = form.save()
        audit.record(
            "route.update" if before else "route.create",
            actor=by,
            obj=route,
            before=before,
            after=describe_route(route),
        )
        live.publish("alerts", "routes.changed")  # the routes page listens on `alerts`
    return route
