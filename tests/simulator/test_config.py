"""Module configuration: validated reloads, versions and checksums."""

import pytest

from simulator.errors import Invalid


def test_reload_that_changes_something_bumps_the_version(pipeline):
    config = pipeline.gamma.config
    checksum = config.checksum
    result = pipeline.gamma.reload_config({"max_delivery_retries": 5})
    assert (result["previous_version"], result["version"]) == ("1.0.0", "1.0.1")
    assert result["changed"] == ["max_delivery_retries"]
    assert config.checksum != checksum
    same = pipeline.gamma.reload_config({"max_delivery_retries": 5})
    assert same["version"] == "1.0.1" and same["changed"] == []
    assert pipeline.gamma.reload_config(None)["version"] == "1.0.1"


def test_reload_can_add_a_source_which_starts_disabled(pipeline):
    result = pipeline.alpha.reload_config({"sources": {"new_api_source": {"type": "rest_api"}}})
    assert "sources.new_api_source.type" in result["changed"]
    assert pipeline.alpha.describe_source("new_api_source")["status"] == "disabled"
    pipeline.alpha.set_source_enabled("new_api_source", True)
    assert pipeline.alpha.describe_source("new_api_source")["status"] == "connected"


@pytest.mark.parametrize(
    ("module", "body"),
    [
        ("alpha", []),
        ("alpha", {"ingestion_rate": "fast"}),
        ("alpha", {"ingestion_rate": True}),
        ("alpha", {"ingestion_rate": -1}),
        ("alpha", {"buffer_capacity": 10.5}),
        ("alpha", {"colour": "red"}),
        ("alpha", {"sources": {"x": {"enabled": True}}}),
        ("alpha", {"sources": {"bad id!": {"type": "file"}}}),
        ("alpha", {"sources": {"api_source_1": {"type": "carrier_pigeon"}}}),
        ("alpha", {"sources": {"api_source_1": {"enabled": "yes"}}}),
        ("alpha", {"sources": []}),
        ("beta", {"stale_fallback": 1}),
        ("gamma", {"destinations": {"partner_feed": {"max_rate": -5}}}),
    ],
)
def test_reload_refuses_bad_values_and_applies_nothing(pipeline, module, body):
    target = pipeline.module(module)
    before = target.config.as_dict()
    with pytest.raises(Invalid):
        target.reload_config(body)
    assert target.config.as_dict() == before
    assert target.config.version == "1.0.0"


def test_a_partly_bad_reload_applies_nothing(pipeline):
    with pytest.raises(Invalid):
        pipeline.alpha.reload_config({"ingestion_rate": 10, "buffer_capacity": 1})
    assert pipeline.alpha.config.values["ingestion_rate"] == 1000
