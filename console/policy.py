"""Loads the policy data seeded from the manuals (console/fixtures/*.json) into the database.

Idempotent: running it again brings descriptions and ranks back to the files but never removes
a permission or member that an administrator added in the admin.
"""

import json
from fnmatch import fnmatch
from pathlib import Path

from django.contrib.auth.models import Group, Permission
from django.db import transaction

from . import audit
from .models import Role

POLICY_DIR = Path(__file__).resolve().parent / "fixtures"


def _permissions(patterns: list[str]) -> list[Permission]:
    found = []
    perms = Permission.objects.select_related("content_type")
    for perm in perms:
        label = f"{perm.content_type.app_label}.{perm.codename}"
        if any(fnmatch(label, pattern) for pattern in patterns):
            found.append(perm)
    return found


@transaction.atomic
def load_roles(path: Path = POLICY_DIR / "roles.json") -> list[Role]:
    data = json.loads(path.read_text())
    roles = []
    for item in data["roles"]:
        group, _ = Group.objects.get_or_create(name=item["name"])
        role, created = Role.objects.get_or_create(group=group)
        before = None if created else {"rank": role.rank, "description": role.description}
        role.rank = item["rank"]
        role.description = item["description"]
        role.source = item.get("source", "")
        role.save()
        group.permissions.add(*_permissions(item.get("permissions", [])))
        after = {"rank": role.rank, "description": role.description}
        if before != after:
            audit.record("role.seed", obj=role, before=before, after=after)
        roles.append(role)
    return roles
