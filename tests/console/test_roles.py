import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command

from console import roles
from console.demo import DEMO_USERS
from console.models import Role

MANUAL_ROLES = {
    "Operator",
    "On-call Engineer",
    "Senior Engineer",
    "Operations Lead",
    "Engineering Manager",
    "Director",
    "VP/CTO",
    "CAB Member",
    "Viewer",
}


@pytest.mark.django_db
def test_load_policy_seeds_every_role_of_the_manuals_as_a_group():
    call_command("load_policy")
    assert set(Role.objects.values_list("group__name", flat=True)) == MANUAL_ROLES
    assert Group.objects.filter(name__in=MANUAL_ROLES).count() == 9


@pytest.mark.django_db
def test_load_policy_is_idempotent_and_keeps_admin_additions():
    call_command("load_policy")
    lead = Group.objects.get(name="Operations Lead")
    from django.contrib.auth.models import Permission

    extra = Permission.objects.get(codename="add_user")
    lead.permissions.add(extra)
    call_command("load_policy")
    assert Role.objects.count() == 9
    assert lead.permissions.filter(pk=extra.pk).exists()


def test_ranks_follow_the_line_of_command(roles):
    order = [
        roles[name].rank
        for name in (
            "Operator",
            "On-call Engineer",
            "Senior Engineer",
            "Operations Lead",
            "Engineering Manager",
            "Director",
            "VP/CTO",
        )
    ]
    assert order == sorted(order) and len(set(order)) == len(order)


def test_at_least_compares_the_highest_role(operator, opslead, outsider):
    assert roles.at_least(opslead, roles.OPS_LEAD)
    assert not roles.at_least(operator, roles.OPS_LEAD)
    assert not roles.at_least(outsider, roles.OPERATOR)
    director_group = Group.objects.get(name=roles.DIRECTOR)
    operator.groups.add(director_group)
    operator = User.objects.get(pk=operator.pk)
    assert roles.at_least(operator, roles.OPS_LEAD)
    assert roles.primary_role(operator) == roles.DIRECTOR


@pytest.mark.django_db
def test_seed_demo_creates_one_user_per_role_and_runs_twice(settings):
    call_command("load_policy")
    call_command("seed_demo", "--allow-non-embedded")
    call_command("seed_demo", "--allow-non-embedded")
    for username, role_name in DEMO_USERS:
        user = User.objects.get(username=username)
        assert list(user.groups.values_list("name", flat=True)) == [role_name]
        assert user.check_password("demo")


@pytest.mark.django_db
def test_seed_demo_refuses_a_production_setup(settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    call_command("load_policy")
    with pytest.raises(CommandError, match="production"):
        call_command("seed_demo")
    assert not User.objects.filter(username="operator").exists()


@pytest.mark.django_db
def test_migrations_create_no_users():
    """Demo users come only from the demo command, never from migrations or policy data."""
    call_command("load_policy")
    assert User.objects.count() == 0
