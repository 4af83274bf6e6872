from django.contrib.auth.models import Group, Permission
from guardian.shortcuts import assign_perm

from console.permissions import visible
from tests.factories import UserFactory


def test_visible_combines_global_and_object_permissions(roles):
    alpha, beta = Group.objects.create(name="alpha-team"), Group.objects.create(name="beta-team")
    groups = Group.objects.filter(pk__in=[alpha.pk, beta.pk])
    nobody = UserFactory(username="nobody")
    owner = UserFactory(username="owner")
    everyone = UserFactory(username="everyone")
    assign_perm("auth.change_group", owner, alpha)
    everyone.user_permissions.add(Permission.objects.get(codename="change_group"))
    assert list(visible(nobody, groups, "auth.change_group")) == []
    assert list(visible(owner, groups, "auth.change_group")) == [alpha]
    assert set(visible(everyone, groups, "auth.change_group")) == {alpha, beta}
