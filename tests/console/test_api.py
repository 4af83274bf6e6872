import pytest
from django.core.management import call_command

from console import audit
from console.models import ApiToken, hash_token


def _token(user, capsys) -> str:
    call_command("create_api_token", user.username, "--name", "test")
    return capsys.readouterr().out.strip()


def test_create_api_token_prints_once_and_stores_only_the_hash(operator, capsys):
    raw = _token(operator, capsys)
    token = ApiToken.objects.get(user=operator)
    assert token.key_hash == hash_token(raw)
    assert raw not in {token.key_hash, token.prefix, token.name}


@pytest.mark.django_db
def test_create_api_token_for_unknown_user_fails_clearly():
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="No user named"):
        call_command("create_api_token", "ghost")


def test_bearer_token_authenticates(client, operator, capsys):
    raw = _token(operator, capsys)
    response = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    assert response.json() == {
        "username": "operator",
        "roles": ["Operator"],
        "primary_role": "Operator",
    }


@pytest.mark.parametrize(
    "header",
    ["", "Bearer nope", "Bearer", "Bearer a b", "Token abc", "Bearer \u00e9\u00e9"],
)
def test_api_refuses_missing_or_wrong_tokens_with_json(client, operator, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get("/api/v1/me/", **extra)
    assert response.status_code in (401, 403)
    assert "detail" in response.json()


def test_revoked_token_is_refused(client, operator, capsys):
    from django.utils import timezone

    raw = _token(operator, capsys)
    ApiToken.objects.filter(user=operator).update(revoked_at=timezone.now())
    response = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_session_auth_works_for_the_browser(client, operator):
    client.force_login(operator)
    assert client.get("/api/v1/me/").json()["username"] == "operator"


def test_audit_api_needs_the_audit_permission(client, viewer, outsider):
    audit.record("x.y", object_repr="api-visible")
    client.force_login(outsider)
    assert client.get("/api/v1/audit/").status_code == 403
    client.force_login(viewer)
    body = client.get("/api/v1/audit/", {"action": "x."}).json()
    assert body["count"] == 1 and body["results"][0]["object_repr"] == "api-visible"


def test_audit_api_bad_filter_is_a_400_with_detail(client, viewer):
    client.force_login(viewer)
    response = client.get("/api/v1/audit/", {"since": "yesterday-ish"})
    assert response.status_code == 400
    assert response.json()["detail"] == "Invalid input."


def test_openapi_schema_and_docs_are_served(client, operator):
    assert client.get("/api/schema/").status_code in (401, 403)
    client.force_login(operator)
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/me/" in schema.content and b"bearerAuth" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
