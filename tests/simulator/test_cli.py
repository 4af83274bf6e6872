"""``python -m simulator``: settings from flags and environment, the client commands, and a
real process playing a scenario."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.__main__ import main, parse_args
from simulator.settings import Settings, from_environment

ROOT = Path(__file__).resolve().parents[2]


def test_environment_variables_set_the_defaults():
    settings = from_environment(
        {"SIMULATOR_HOST": "0.0.0.0", "SIMULATOR_ALPHA_PORT": "9001", "SIMULATOR_RATE": "4500",
         "SIMULATOR_TOKEN": "t", "SIMULATOR_TIME_SCALE": "120", "SIMULATOR_ACCESS_LOG": "true"}
    )  # fmt: skip
    assert (settings.host, settings.alpha_port, settings.rate) == ("0.0.0.0", 9001, 4500.0)
    assert (settings.token, settings.time_scale, settings.access_log) == ("t", 120.0, True)
    assert from_environment({}) == Settings()


@pytest.mark.parametrize(
    "environ",
    [
        {"SIMULATOR_ALPHA_PORT": "eighty"},
        {"SIMULATOR_ALPHA_PORT": "70000"},
        {"SIMULATOR_RATE": "-5"},
        {"SIMULATOR_TIME_SCALE": "0"},
        {"SIMULATOR_ACCESS_LOG": "sometimes"},
        {"SIMULATOR_BETA_PORT": "8081"},
    ],
)
def test_bad_environment_values_fail_loudly(environ):
    with pytest.raises(SystemExit):
        from_environment(environ)


def test_flags_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("SIMULATOR_RATE", "1500")
    monkeypatch.setenv("SIMULATOR_GAMMA_PORT", "9003")
    _, settings = parse_args(["--rate", "2500"])
    assert (settings.rate, settings.gamma_port) == (2500.0, 9003)


def test_list_scenarios_prints_scripts_and_faults(capsys):
    assert main(["--list-scenarios"]) == 0
    out = capsys.readouterr().out
    assert "destination-outage" in out and "module-crash" in out


@pytest.mark.slow
def test_revive_and_clear_faults_talk_to_the_control_port(sim, capsys):
    port = str(sim.control.port)
    assert main(["--control-port", port, "--crash", "gamma"]) == 0
    assert not sim.pipeline.gamma.up
    assert main(["--control-port", port, "--revive", "gamma"]) == 0
    assert sim.pipeline.gamma.up
    sim.pipeline.apply_fault("alpha", {"scenario": "parse-error-storm"})
    assert main(["--control-port", port, "--clear-faults"]) == 0
    assert sim.pipeline.alpha.faults.names() == []
    assert main(["--control-port", port, "--status"]) == 0
    assert '"balanced": true' in capsys.readouterr().out


@pytest.mark.slow
def test_client_commands_need_the_token_when_one_is_set(guarded_sim, capsys):
    port = str(guarded_sim.control.port)
    assert main(["--control-port", port, "--status"]) == 1
    assert main(["--control-port", port, "--token", "test-token", "--status"]) == 0


def test_client_commands_report_a_simulator_that_is_not_there(capsys):
    assert main(["--control-port", "1", "--clear-faults"]) == 2
    assert "no simulator answering" in capsys.readouterr().err


@pytest.mark.slow
def test_a_real_process_plays_a_scenario_and_exits_with_balanced_books():
    process = subprocess.run(
        [sys.executable, "-m", "simulator", "--scenario", "smoke", "--exit-after-scenario",
         "--control-port", "0", "--alpha-port", "0", "--beta-port", "0", "--gamma-port", "0",
         "--rate", "3000"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert process.returncode == 0, process.stderr
    lines = process.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines[:4]] == ["alpha", "beta", "gamma", "control"]
    summary = json.loads(lines[-1])
    assert summary["scenario"] == "finished"
    assert summary["books"]["balanced"] and summary["books"]["ingested"] > 10000
