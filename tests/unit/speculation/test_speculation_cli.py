"""`sq speculate plan` through click's test runner."""

import json
import math

import pytest
from click.testing import CliRunner
from speculation_helpers import F, S, path

from sq.service.cli import cli
from sq.service.cli import speculate as _registered  # noqa: F401

E1_INPUT = {
    "budget": 4,
    "batches": [
        {"id": "A", "state": "speculating", "deps": [], "probability": 0.9},
        {"id": "B", "state": "speculating", "deps": ["A"], "probability": 0.8},
        {"id": "C", "state": "speculating", "deps": ["A", "B"], "probability": None},
        {"id": "D", "state": "speculating", "deps": []},
    ],
    "path_sets": [],
}


def run(payload):
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return CliRunner().invoke(cli, ["speculate", "plan"], input=text)


def test_plan_funds_the_best_paths_within_the_budget():
    result = run(E1_INPUT)
    assert result.exit_code == 0, result.output
    actions = json.loads(result.stdout)["actions"]
    assert [(a["action"], a["head"], a["assumptions"]) for a in actions] == [
        ("build", "A", []),
        ("build", "D", []),
        ("build", "B", [["A", "succeeds"]]),
        ("build", "C", [["A", "succeeds"], ["B", "succeeds"]]),
    ]
    assert actions[2]["path_id"] == path("B", ("A", S)).id
    assert actions[3]["score"] == pytest.approx(math.log(0.9 * 0.8))


def test_plan_cancels_broken_paths_and_builds_the_consistent_one():
    broken = path("H", ("D", S))
    payload = {
        "budget": 2,
        "batches": [
            {"id": "D", "state": "failed", "deps": []},
            {"id": "H", "state": "speculating", "deps": ["D"]},
        ],
        "path_sets": [{"head": "H", "paths": [{"id": broken.id, "status": "building"}]}],
    }
    actions = json.loads(run(payload).stdout)["actions"]
    assert [(a["action"], a["path_id"], a["score"]) for a in actions] == [
        ("cancel", broken.id, None),
        ("build", path("H", ("D", F)).id, 0.0),
    ]


def test_plan_accepts_explicit_assumptions_and_respects_the_budget():
    running = path("H", ("D", S))
    payload = {
        "budget": 1,
        "default_probability": 0.6,
        "batches": [
            {"id": "D", "state": "speculating", "deps": []},
            {"id": "H", "state": "speculating", "deps": ["D"]},
        ],
        "path_sets": [
            {
                "head": "H",
                "paths": [
                    {"id": running.id, "status": "building", "assumptions": [["D", "succeeds"]]}
                ],
            }
        ],
    }
    assert json.loads(run(payload).stdout) == {"actions": []}


def test_plan_with_a_merged_head_proposes_nothing_for_it():
    passed = path("H", ("D", S))
    payload = {
        "budget": 4,
        "batches": [
            {"id": "D", "state": "succeeded", "deps": []},
            {"id": "H", "state": "speculating", "deps": ["D"]},
        ],
        "path_sets": [{"head": "H", "paths": [{"id": passed.id, "status": "passed"}]}],
    }
    assert json.loads(run(payload).stdout) == {"actions": []}


def with_batch(**changes):
    payload = json.loads(json.dumps(E1_INPUT))
    payload["batches"][1].update(changes)
    return payload


BAD_INPUTS = {
    "not json": "{",
    "not an object": [],
    "missing budget": {"batches": []},
    "bool budget": {"budget": True, "batches": []},
    "float budget": {"budget": 1.5, "batches": []},
    "negative budget": {"budget": -1, "batches": []},
    "missing batches": {"budget": 1},
    "batches not a list": {"budget": 1, "batches": {}},
    "unknown state": with_batch(state="flying"),
    "empty state": with_batch(state=""),
    "probability too high": with_batch(probability=1.5),
    "probability negative": with_batch(probability=-0.1),
    "probability not a number": with_batch(probability="high"),
    "unknown dependency": with_batch(deps=["ghost"]),
    "self dependency": with_batch(deps=["B"]),
    "duplicate dependency": with_batch(deps=["A", "A"]),
    "duplicate id": with_batch(id="A"),
    "missing id": {"budget": 1, "batches": [{"state": "speculating"}]},
    "default probability out of range": {**E1_INPUT, "default_probability": 2},
    "unknown head": {**E1_INPUT, "path_sets": [{"head": "Z", "paths": []}]},
    "unknown path status": {
        **E1_INPUT,
        "path_sets": [{"head": "A", "paths": [{"id": path("A").id, "status": "done"}]}],
    },
    "path id not of head": {
        **E1_INPUT,
        "path_sets": [{"head": "A", "paths": [{"id": "abc", "status": "building"}]}],
    },
    "unknown speculator": {**E1_INPUT, "speculator": "psychic"},
    "threshold for standard": {**E1_INPUT, "speculation_threshold": 1.0},
    "hysteresis below one": {**E1_INPUT, "speculator": "value", "speculation_hysteresis": 0.5},
    "assumptions mismatch": {
        **E1_INPUT,
        "path_sets": [
            {
                "head": "B",
                "paths": [
                    {
                        "id": path("B", ("A", F)).id,
                        "status": "building",
                        "assumptions": [["A", "succeeds"]],
                    }
                ],
            }
        ],
    },
}


@pytest.mark.parametrize("payload", list(BAD_INPUTS.values()), ids=list(BAD_INPUTS))
def test_malformed_input_exits_2_with_one_line(payload):
    result = run(payload)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")


HEDGES_INPUT = {**E1_INPUT, "budget": 6}


def planned(result):
    assert result.exit_code == 0, result.output
    return [
        (a["action"], a["head"], a["assumptions"]) for a in json.loads(result.stdout)["actions"]
    ]


def test_the_value_speculator_funds_no_low_value_hedge_the_standard_one_does():
    standard = planned(run(HEDGES_INPUT))
    value = planned(run({**HEDGES_INPUT, "speculator": "value"}))
    assert ("build", "B", [["A", "fails"]]) in standard
    assert len(standard) == 6
    # Each head's most likely future only: every hedge is worth less than the threshold of 3.
    assert sorted(value) == sorted(standard[:4])


def test_plan_takes_the_configured_queues_speculator(tmp_path):
    config = tmp_path / "sq.yaml"
    config.write_text(
        "submitqueue:\n  queues:\n    - {name: main, speculator: value, build_budget: 6}\n"
        "    - {name: parity, speculator: standard, build_budget: 6}\n"
    )
    payload = {k: v for k, v in E1_INPUT.items() if k != "budget"}

    def plan_for(queue):
        args = ["speculate", "plan", "--config", str(config), "--queue", queue]
        return planned(CliRunner().invoke(cli, args, input=json.dumps(payload)))

    assert plan_for("main") == planned(run({**HEDGES_INPUT, "speculator": "value"}))
    assert plan_for("parity") == planned(run(HEDGES_INPUT))


def test_plan_for_an_unknown_queue_exits_2(tmp_path):
    config = tmp_path / "sq.yaml"
    config.write_text("submitqueue:\n  queues:\n    - {name: main}\n")
    args = ["speculate", "plan", "--config", str(config), "--queue", "ghost"]
    result = CliRunner().invoke(cli, args, input=json.dumps(E1_INPUT))
    assert result.exit_code == 2
    assert "ghost" in result.stderr


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[" * 100_000 + "]" * 100_000, "error: input is nested too deeply"),
        ('{"budget": 1, "batches": [{"id": "q/\\udcff", "state": "speculating"}]}', "not Unicode"),
    ],
    ids=["deep", "surrogate"],
)
def test_input_python_cannot_hold_or_print_exits_2_with_one_line(text, says):
    """A RecursionError and a UnicodeEncodeError traceback, exit 1, before."""
    result = CliRunner().invoke(cli, ["speculate", "plan"], input=text)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0]
