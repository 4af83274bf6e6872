"""Roles are Django groups, described and ranked by `Role` rows seeded from the policy data."""

from django.contrib.auth.models import AbstractBaseUser

OPERATOR = "Operator"
ONCALL = "On-call Engineer"
SENIOR = "Senior Engineer"
OPS_LEAD = "Operations Lead"
ENG_MANAGER = "Engineering Manager"
DIRECTOR = "Director"
VP = "VP/CTO"
CAB = "CAB Member"
VIEWER = "Viewer"


def role_names(user: AbstractBaseUser) -> list[str]:
    if not user.is_authenticated:
        return []
    cached = getattr(user, "_role_names", None)
    if cached is None:
        cached = list(
            user.groups.filter(role__isnull=False)
            .order_by("-role__rank", "name")
            .values_list("name", flat=True)
        )
        user._role_names = cached
    return cached


def has_role(user: AbstractBaseUser, name: str) -> bool:
    return name in role_names(user)


def rank(user: AbstractBaseUser) -> int:
    """The user's highest rank over their roles (0 without one)."""
    if not user.is_authenticated:
        return 0
    from .models import Role

    ranks = Role.objects.filter(group__user=user).values_list("rank", flat=True)
    return max(ranks, default=0)


def at_least(user: AbstractBaseUser, name: str) -> bool:
    """True when the user holds a role ranked at or above `name` (e.g. "Operations Lead or
    above"); superusers always do."""
    if user.is_superuser:
        return True
    from .models import Role

    needed = Role.objects.filter(group__name=name).values_list("rank", flat=True).first()
    return needed is not None and rank(user) >= needed


def primary_role(user: AbstractBaseUser) -> str:
    names = role_names(user)
    if names:
        return names[0]
    return "Administrator" if user.is_superuser else "No role"
