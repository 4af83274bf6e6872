"""A module's running configuration: typed settings, a version and a checksum.

The manual (001, "Configuration Change Tracking") stamps every configuration with a version,
and "Configuration Drift Detection" compares what is deployed against what should be; so
each module reports both a version, bumped by every reload that changes something, and a
checksum of the content, on ``/health`` and as ``<module>_config_info`` in ``/metrics``.
"""

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import Invalid

# Ids become URL path segments and Prometheus label values.
ITEM_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Setting:
    """One typed, bounded configuration value."""

    name: str
    kind: type
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    def parse(self, value: Any, where: str) -> Any:
        # bool is an int in Python; a JSON true must not pass as a rate of 1.
        if self.kind is bool:
            if not isinstance(value, bool):
                raise Invalid(f"{where} must be true or false", got=value)
            return value
        if self.kind is str:
            if not isinstance(value, str) or (self.choices and value not in self.choices):
                raise Invalid(f"{where} must be one of {list(self.choices)}", got=value)
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid(f"{where} must be a number", got=value)
        if self.kind is int and value != int(value):
            raise Invalid(f"{where} must be a whole number", got=value)
        number = self.kind(value)
        if self.minimum is not None and number < self.minimum:
            raise Invalid(f"{where} must be at least {self.minimum}", got=value)
        if self.maximum is not None and number > self.maximum:
            raise Invalid(f"{where} must be at most {self.maximum}", got=value)
        return number


class ModuleConfig:
    """Flat settings plus one keyed collection (sources, caches or destinations)."""

    def __init__(
        self,
        module: str,
        settings: tuple[Setting, ...],
        overrides: Mapping[str, Any] | None = None,
        item_kind: str = "",
        item_settings: tuple[Setting, ...] = (),
        items: Mapping[str, Mapping[str, Any]] | None = None,
        new_item_requires: tuple[str, ...] = (),
    ) -> None:
        self.module = module
        self._settings = {s.name: s for s in settings}
        self._item_settings = {s.name: s for s in item_settings}
        self.item_kind = item_kind
        self.new_item_requires = new_item_requires
        self.values: dict[str, Any] = {s.name: s.default for s in settings}
        self.values.update(overrides or {})
        self.items: dict[str, dict[str, Any]] = {}
        for item_id, item in (items or {}).items():
            self.items[item_id] = {s.name: s.default for s in item_settings} | dict(item)
        self.revision = 0
        self.reloads = 0
        self.checksum = self._checksum()

    @property
    def version(self) -> str:
        return f"1.0.{self.revision}"

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = dict(self.values)
        if self.item_kind:
            body[self.item_kind] = {k: dict(v) for k, v in self.items.items()}
        return body

    def describe(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "version": self.version,
            "checksum": self.checksum,
            "values": self.as_dict(),
        }

    def reload(self, changes: Any) -> dict[str, Any]:
        """Validate every change first, then apply them all; a bad change applies nothing."""
        if changes is None:
            changes = {}
        if not isinstance(changes, Mapping):
            raise Invalid("the reload body must be a JSON object of settings to change")
        staged_values, staged_items, changed = self._stage(changes)
        previous = self.version
        self.values.update(staged_values)
        for item_id, item in staged_items.items():
            self.items.setdefault(item_id, {}).update(item)
        self.reloads += 1
        checksum = self._checksum()
        if checksum != self.checksum:
            self.revision += 1
            self.checksum = checksum
        return {
            "module": self.module,
            "reloaded": True,
            "previous_version": previous,
            "version": self.version,
            "checksum": self.checksum,
            "changed": changed,
        }

    def set_item(self, item_id: str, key: str, value: Any) -> dict[str, Any]:
        return self.reload({self.item_kind: {item_id: {key: value}}})

    def _stage(
        self, changes: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]], list[str]]:
        values: dict[str, Any] = {}
        items: dict[str, dict[str, Any]] = {}
        changed: list[str] = []
        allowed = sorted(self._settings) + ([self.item_kind] if self.item_kind else [])
        for key, raw in changes.items():
            if key == self.item_kind and self.item_kind:
                items = self._stage_items(raw, changed)
                continue
            setting = self._settings.get(key)
            if setting is None:
                raise Invalid(f"unknown setting {key!r} for {self.module}", allowed=allowed)
            values[key] = setting.parse(raw, key)
            if values[key] != self.values[key]:
                changed.append(key)
        return values, items, changed

    def _stage_items(self, raw: Any, changed: list[str]) -> dict[str, dict[str, Any]]:
        if not isinstance(raw, Mapping):
            raise Invalid(f"{self.item_kind} must be an object keyed by id")
        staged: dict[str, dict[str, Any]] = {}
        for item_id, fields in raw.items():
            where = f"{self.item_kind}.{item_id}"
            if not isinstance(fields, Mapping):
                raise Invalid(f"{where} must be an object")
            current = self.items.get(item_id)
            if current is None:
                if not isinstance(item_id, str) or not ITEM_ID.match(item_id):
                    raise Invalid(f"{where}: ids are letters, digits, '_', '.', '-' (max 64)")
                missing = [k for k in self.new_item_requires if k not in fields]
                if missing:
                    raise Invalid(f"new {where} needs {missing}")
                current = {s.name: s.default for s in self._item_settings.values()}
            item: dict[str, Any] = {}
            for key, value in fields.items():
                setting = self._item_settings.get(key)
                if setting is None:
                    raise Invalid(
                        f"unknown setting {key!r} in {where}", allowed=sorted(self._item_settings)
                    )
                item[key] = setting.parse(value, f"{where}.{key}")
                if item_id not in self.items or item[key] != current.get(key):
                    changed.append(f"{where}.{key}")
            staged[item_id] = item if item_id in self.items else current | item
        return staged

    def _checksum(self) -> str:
        canonical = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]
