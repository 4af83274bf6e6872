"""Who may see what: global permissions (from roles) plus guardian's object permissions."""

from django.db.models import QuerySet
from guardian.shortcuts import get_objects_for_user


def visible(user, queryset: QuerySet, perm: str) -> QuerySet:
    """The part of `queryset` that `user` may act on with `perm` ("app.codename").

    A role's global permission covers every object; otherwise guardian's per-object grants
    decide (e.g. the commander of one incident). Fetching outside this set is a 404.
    """
    if not user.is_authenticated:
        return queryset.none()
    return get_objects_for_user(
        user, perm, klass=queryset, use_groups=True, with_superuser=True, accept_global_perms=True
    )
