"""Forms for alert routing (issue 6): a route's edit form, the route tester's labels, and the
checks the admin shares. Matchers are written as Alertmanager writes them, one per line:
`severity="critical"`, `module!="beta"`, `instance=~"gamma-.*"`, `destination!~"partner_.*"`.
"""

import json
import re

from django import forms
from django.core.exceptions import ValidationError

from .models import Receiver, Route

_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$')
LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OPS = {"=": (False, True), "!=": (False, False), "=~": (True, True), "!~": (True, False)}


def clean_route_matchers(matchers) -> list[dict]:
    """Alertmanager's matcher objects (name, value, isRegex, isEqual), checked."""
    if not isinstance(matchers, list):
        raise ValidationError("A list of matchers.")
    cleaned = []
    for matcher in matchers:
        if not isinstance(matcher, dict) or not LABEL_NAME.match(str(matcher.get("name", ""))):
            raise ValidationError("Every matcher needs a label name (letters, digits, _).")
        value = str(matcher.get("value", ""))
        if matcher.get("isRegex"):
            try:
                re.compile(value)
            except re.error as exc:
                raise ValidationError(f"Invalid regex for {matcher['name']}: {exc}") from None
        cleaned.append(
            {
                "name": matcher["name"],
                "value": value,
                "isRegex": bool(matcher.get("isRegex", False)),
                "isEqual": bool(matcher.get("isEqual", True)),
            }
        )
    return cleaned


def clean_group_by(group_by) -> list[str] | None:
    if group_by is None:
        return None
    if not isinstance(group_by, list) or not all(
        isinstance(n, str) and (n == "..." or LABEL_NAME.match(n)) for n in group_by
    ):
        raise ValidationError('Label names, or ["..."] for all labels.')
    return group_by


def parse_matchers(text: str) -> list[dict]:
    matchers = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        found = _MATCHER.match(line)
        if found is None:
            raise ValidationError(
                f'Line {number}: write name="value", name!="value", name=~"regex" or name!~"regex".'
            )
        is_regex, is_equal = _OPS[found.group(2)]
        value = found.group(3).replace('\\"', '"').replace("\\\\", "\\")
        matchers.append(
            {"name": found.group(1), "value": value, "isRegex": is_regex, "isEqual": is_equal}
        )
    return clean_route_matchers(matchers)


def format_matchers(matchers: list[dict]) -> str:
    lines = []
    for m in matchers:
        op = {v: k for k, v in _OPS.items()}[(bool(m.get("isRegex")), m.get("isEqual", True))]
        value = m["value"].replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'{m["name"]}{op}"{value}"')
    return "\n".join(lines)


def parse_labels(text: str) -> dict[str, str]:
    """A JSON object, `{a="b", c="d"}` as Prometheus prints labels, or `a=b` lines/commas."""
    text = text.strip()
    if not text:
        raise ValidationError("Give at least one label.")
    if text.startswith("{") and '":' in text.replace(" ", ""):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"Not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValidationError("A JSON object of label names to values.")
        pairs = list(data.items())
    else:
        pairs = []
        for part in re.split(r"[,\n]", text.strip("{}")):
            if not part.strip():
                continue
            if "=" not in part:
                raise ValidationError(f"{part.strip()!r}: write name=value.")
            name, value = part.split("=", 1)
            pairs.append((name.strip(), value.strip().strip('"')))
    labels = {}
    for name, value in pairs:
        if not isinstance(name, str) or not LABEL_NAME.match(name):
            raise ValidationError(f"{name!r} is not a label name.")
        if not isinstance(value, str):
            raise ValidationError(f"The value of {name} must be a string.")
        labels[name] = value
    return labels


class RouteTestForm(forms.Form):
    labels = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "class": "form-control font-monospace"}),
        help_text="e.g. alertname=gamma_destination_down, severity=critical, module=gamma",
        max_length=5000,
    )

    def clean_labels(self) -> dict[str, str]:
        return parse_labels(self.cleaned_data["labels"])


class RouteForm(forms.ModelForm):
    """A route's settings; empty fields are inherited from the parent."""

    matchers_text = forms.CharField(
        label="Matchers",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "class": "form-control font-monospace"}),
        help_text='One per line: severity="critical", module!="beta", instance=~"gamma-.*"',
    )
    group_by_text = forms.CharField(
        label="Group by",
        required=False,
        help_text="Comma-separated label names (... for all); empty inherits",
    )

    class Meta:
        model = Route
        fields = [
            "name",
            "parent",
            "position",
            "receiver",
            "group_wait",
            "group_interval",
            "repeat_interval",
            "continue_matching",
            "enabled",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["receiver"].queryset = Receiver.objects.all()
        if self.instance.pk:
            self.fields["parent"].queryset = Route.objects.exclude(pk=self.instance.pk)
            self.initial["matchers_text"] = format_matchers(self.instance.matchers)
            if self.instance.group_by is not None:
                self.initial["group_by_text"] = ", ".join(self.instance.group_by)
        for field in self.fields.values():
            css = "form-check-input" if isinstance(field, forms.BooleanField) else "form-control"
            field.widget.attrs.setdefault("class", css)

    def clean_matchers_text(self) -> list[dict]:
        return parse_matchers(self.cleaned_data["matchers_text"])

    def clean_group_by_text(self) -> list[str] | None:
        text = self.cleaned_data["group_by_text"].strip()
        if not text:
            return None
        return clean_group_by([n.strip() for n in text.split(",") if n.strip()])

    def clean(self):
        data = super().clean()
        parent = data.get("parent")
        if self.instance.pk and parent is not None:
            seen, node = set(), parent
            while node is not None and node.pk not in seen:
                if node.pk == self.instance.pk:
                    self.add_error("parent", "A route cannot sit below itself.")
                    break
                seen.add(node.pk)
                node = node.parent
        if parent is None:
            others = Route.objects.filter(parent__isnull=True).exclude(pk=self.instance.pk)
            if others.exists():
                self.add_error("parent", "There is already a root route; choose a parent.")
            elif data.get("receiver") is None:
                self.add_error("receiver", "The root route needs a receiver.")
        return data

    def save(self, commit=True):
        route = super().save(commit=False)
        route.matchers = self.cleaned_data["matchers_text"]
        route.group_by = self.cleaned_data["group_by_text"]
        if commit:
            route.save()
        return route
