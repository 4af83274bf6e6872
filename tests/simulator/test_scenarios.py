"""Scenario scripts play to the end, stepped, with the books balanced at every step."""

import pytest

from simulator.errors import NotFound
from simulator.faults import CATALOG
from simulator.scenarios import SCRIPTS, ScenarioRunner

from .support import run_checked


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_every_scenario_plays_to_the_end_with_the_books_balanced(pipeline, name):
    runner = ScenarioRunner(pipeline)
    runner.start(name)
    run_checked(pipeline, SCRIPTS[name].duration + 1, dt=0.25)
    status = runner.status()
    assert status["state"] == "finished"
    assert status["steps_done"] == status["steps_total"] == len(SCRIPTS[name].steps)
    assert [e for e in status["log"] if "error" in e] == []
    assert runner.finished.is_set()


def test_scripts_only_name_known_faults_and_modules():
    for script in SCRIPTS.values():
        for step in script.steps:
            assert step.module in ("alpha", "beta", "gamma")
            if step.action == "fault":
                assert step.module in CATALOG[step.body["scenario"]].modules


def test_destination_outage_script_shows_its_symptoms(pipeline):
    runner = ScenarioRunner(pipeline)
    runner.start("destination-outage")
    run_checked(pipeline, 30, dt=0.25)
    breaker = pipeline.gamma.destinations["analytics_warehouse"].breaker
    assert breaker.state.value == "OPEN"
    assert pipeline.books()["dlq"] > 0
    run_checked(pipeline, 121, dt=0.25)
    assert breaker.state.value == "CLOSED"
    assert pipeline.gamma.dlq.replayed_total > 0


def test_stopping_a_scenario_clears_its_faults(pipeline):
    runner = ScenarioRunner(pipeline)
    runner.start("beta-crash")
    run_checked(pipeline, 15, dt=0.25)
    assert not pipeline.beta.up
    assert runner.stop()["state"] == "stopped"
    assert pipeline.beta.up
    run_checked(pipeline, 5)
    assert runner.status()["steps_done"] == 1


def test_unknown_scenarios_are_not_found(pipeline):
    with pytest.raises(NotFound):
        ScenarioRunner(pipeline).start("asteroid-strike")
