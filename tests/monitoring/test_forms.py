"""Forms: module URLs, labels, the write-only token, annotation spans."""

import pytest
from django import forms as django_forms

from monitoring.forms import AnnotationForm, LabelsField, ModuleForm, validate_module_url
from monitoring.models import Module


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8081", "https://alpha.internal.example:443/", "http://[::1]:9100"],
)
def test_module_url_accepts_http_addresses(url):
    assert validate_module_url(url) == url.rstrip("/")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://host:21", "http://"),
        ("file:///etc/passwd", "http://"),
        ("http://", "host name"),
        ("http://user:secret@host:8081", "credentials"),
        ("http://host:8081/?token=1", "query"),
        ("http://host:8081/#x", "query"),
        ("http://host:99999", "port"),
    ],
)
def test_module_url_rejects_what_cannot_be_polled(url, message):
    with pytest.raises(django_forms.ValidationError, match=message):
        validate_module_url(url)


def test_labels_field_parses_key_value_lines():
    field = LabelsField(required=False)
    assert field.clean("team = data\n\nregion=eu-west\n") == {"team": "data", "region": "eu-west"}
    assert field.clean("") == {}
    with pytest.raises(django_forms.ValidationError, match="Line 2"):
        field.clean("team=data\nnot a label")
    assert field.prepare_value({"a": "1", "b": "2"}) == "a=1\nb=2"


def _data(**overrides):
    data = {
        "name": "delta",
        "kind": "other",
        "base_url": "http://127.0.0.1:9100",
        "poll_interval": 5,
        "enabled": "on",
        "labels": "",
        "token": "",
    }
    data.update(overrides)
    return data


@pytest.mark.django_db
def test_module_form_rejects_bad_names_urls_and_intervals():
    form = ModuleForm(_data(name="Bad Name", base_url="gopher://x", poll_interval=0))
    assert not form.is_valid()
    assert set(form.errors) == {"name", "base_url", "poll_interval"}


@pytest.mark.django_db
def test_module_form_never_renders_the_token():
    module = Module.objects.create(
        name="gamma", kind="gamma", base_url="http://127.0.0.1:8083", token="hunter2-token"
    )
    form = ModuleForm(instance=module)
    html = form.as_div()
    assert "hunter2-token" not in html
    assert "A token is stored" in html
    assert form.fields["name"].disabled
    bound = ModuleForm(_data(name="gamma", kind="gamma", token="typed"), instance=module)
    assert bound.is_valid(), bound.errors
    assert "typed" not in bound.as_div()


@pytest.mark.django_db
def test_module_form_token_changes_keep_replace_or_clear():
    module = Module.objects.create(
        name="gamma", kind="gamma", base_url="http://127.0.0.1:8083", token="old"
    )
    keep = ModuleForm(_data(kind="gamma"), instance=module)
    assert keep.is_valid() and keep.changes()["token"] is None
    replace = ModuleForm(_data(kind="gamma", token="new"), instance=module)
    assert replace.is_valid() and replace.changes()["token"] == "new"
    clear = ModuleForm(_data(kind="gamma", clear_token="on"), instance=module)
    assert clear.is_valid() and clear.changes()["token"] == ""
    new = ModuleForm(_data(token="fresh"))
    assert new.is_valid() and new.changes()["token"] == "fresh"
    assert "clear_token" not in new.fields


@pytest.mark.django_db
def test_annotation_form_needs_end_after_start():
    form = AnnotationForm(
        {"text": "backfill", "starts_at": "2026-11-20T10:00", "ends_at": "2026-11-20T09:59"}
    )
    assert not form.is_valid() and "ends_at" in form.errors
    ok = AnnotationForm({"text": "backfill", "starts_at": "2026-11-20T10:00", "ends_at": ""})
    assert ok.is_valid(), ok.errors
    assert ok.cleaned_data["module"] is None and ok.cleaned_data["ends_at"] is None
