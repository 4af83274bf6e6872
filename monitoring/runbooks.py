"""Runbook pages (001 "Runbook Appendix" A–F and "Common Incident Scenarios"): seeding, finding
the page an alert rule's `runbook` names, and reading the manual's Markdown-ish text as blocks.

The text is never turned into HTML here: `blocks()` returns plain structures (headings, labels,
lists, code, paragraphs, with **bold** and `code` spans) that the template renders, so every
character of it goes through Django's autoescaping. The manual uses a small subset of Markdown;
a full Markdown renderer would need an HTML sanitiser after it to be safe, for nothing more.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.utils.text import slugify

from console import audit

from .models import Runbook

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "runbooks.json"
FIELDS = ("title", "kind", "summary", "body", "aliases", "source", "position")


@transaction.atomic
def load() -> str:
    """Created when missing, never overwritten: once seeded, the admin owns each page."""
    data = json.loads(FIXTURE.read_text())
    created = 0
    for row in data["runbooks"]:
        defaults = {k: row[k] for k in FIELDS if k in row}
        runbook, was_created = Runbook.objects.get_or_create(slug=row["slug"], defaults=defaults)
        if was_created:
            created += 1
            audit.record("runbook.seed", obj=runbook, after={"title": runbook.title})
    return f"{len(data['runbooks'])} runbooks ({created} new)"


@dataclass(frozen=True)
class Link:
    runbook: Runbook
    anchor: str = ""


def index() -> dict[str, Link]:
    """Every name an alert rule may use → its page: each slug, and each alias (one query)."""
    found: dict[str, Link] = {}
    pages = list(Runbook.objects.only("slug", "title", "aliases"))
    for runbook in pages:
        for name, section in (runbook.aliases or {}).items():
            found.setdefault(str(name), Link(runbook, str(section or "")))
    for runbook in pages:  # a page's own slug wins over another page's alias
        found[runbook.slug] = Link(runbook)
    return found


def find(name: str) -> Link | None:
    return index().get(name) if name else None


# --- the manual's text as blocks ---------------------------------------------------------------

_FENCE = re.compile(r"^(\s*)```\s*([\w+-]*)\s*$")
_HEADING = re.compile(r"^(#{3,6})\s+(.*)$")
_ORDERED = re.compile(r"^(\s*)(\d+)\.\s+(.*)$")
_CHECK = re.compile(r"^(\s*)[-*]\s+\[([ xX])\]\s+(.*)$")
_BULLET = re.compile(r"^(\s*)[-*]\s+(.*)$")
_LABEL = re.compile(r"^\*\*([^*]+)\*\*\s*$")
_INLINE = re.compile(r"(\*\*[^*]+\*\*|`[^`]+`)")
_SECTION = re.compile(r"^([A-Z])\.(\d+)\b")


@dataclass
class Item:
    spans: list[dict]
    checked: bool | None = None  # a checklist item: False unchecked, True checked
    children: list[dict] = field(default_factory=list)


def spans(text: str) -> list[dict]:
    """Inline **bold** and `code` of one line, as parts the template wraps in tags."""
    parts = []
    for piece in _INLINE.split(text):
        if not piece:
            continue
        if piece.startswith("**") and piece.endswith("**") and len(piece) > 4:
            parts.append({"text": piece[2:-2], "bold": True})
        elif piece.startswith("`") and piece.endswith("`") and len(piece) > 2:
            parts.append({"text": piece[1:-1], "code": True})
        else:
            parts.append({"text": piece})
    return parts


def anchor(title: str) -> str:
    """ "C.2 Processing Dead Letter Queue" → "c-2" (the alias targets); otherwise a slug."""
    match = _SECTION.match(title)
    return f"{match.group(1).lower()}-{match.group(2)}" if match else slugify(title)


def blocks(body: str) -> list[dict]:
    """The text as a list of blocks: heading, label, ol, ul, code, p. An indented line (a code
    fence, a bullet, a paragraph) under a list item belongs to that item."""
    lines = body.replace("\r\n", "\n").split("\n")
    out: list[dict] = []
    current_list: dict | None = None  # the open top-level list
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        last_item = current_list["items"][-1] if current_list and current_list["items"] else None
        target = last_item.children if (indent > 0 and last_item is not None) else out
        fence = _FENCE.match(line)
        if fence:
            code = []
            while i < len(lines) and not _FENCE.match(lines[i]):
                code.append(lines[i])
                i += 1
            i += 1  # the closing fence
            width = len(fence.group(1))
            text = "\n".join(c[width:] if c[:width].strip() == "" else c.lstrip() for c in code)
            target.append({"kind": "code", "lang": fence.group(2), "text": text})
            continue
        heading = _HEADING.match(line)
        if heading and indent == 0:
            current_list = None
            title = heading.group(2).strip()
            out.append({"kind": "heading", "text": title, "anchor": anchor(title)})
            continue
        label = _LABEL.match(line)
        if label and indent == 0:
            current_list = None
            out.append({"kind": "label", "text": label.group(1)})
            continue
        for kind, pattern in (("ol", _ORDERED), ("ul", _CHECK), ("ul", _BULLET)):
            match = pattern.match(line)
            if not match:
                continue
            text = match.group(3) if pattern is not _BULLET else match.group(2)
            item = Item(spans(text))
            if pattern is _CHECK:
                item.checked = match.group(2).lower() == "x"
            if indent > 0 and last_item is not None:
                children = last_item.children
                if not children or children[-1].get("kind") != kind:
                    children.append({"kind": kind, "items": [], "start": 1})
                children[-1]["items"].append(item)
            else:
                if current_list is None or current_list["kind"] != kind:
                    start = int(match.group(2)) if kind == "ol" else 1
                    current_list = {"kind": kind, "items": [], "start": start}
                    out.append(current_list)
                current_list["items"].append(item)
            break
        else:
            if indent == 0:
                current_list = None
                target = out
            target.append({"kind": "p", "spans": spans(line.strip())})
    return out


def sections(body: str) -> list[dict]:
    """The headings, for the page's table of contents."""
    return [b for b in blocks(body) if b["kind"] == "heading"]
