"""`adapters tune`: fusion weights searched on a validation split with the plan judge, on one
resident base; the best written as `adapters combine` writes it; a killed search resumes."""

from __future__ import annotations

import json
import shutil

import pytest
from safetensors.numpy import load_file, save_file

from octo_mlx.data import write_split
from octo_mlx.errors import OctoError
from octo_mlx.eval.tune import random_weights, simplex_grid, tune_weights
from tests.helpers.agent import _plan_examples


def test_the_grid_covers_the_simplex():
    assert simplex_grid(2, 0.25) == [[0, 1], [0.25, 0.75], [0.5, 0.5], [0.75, 0.25], [1, 0]]
    three = simplex_grid(3, 0.5)
    assert len(three) == 6 and all(abs(sum(w) - 1) < 1e-9 for w in three)
    with pytest.raises(OctoError, match="--step"):
        simplex_grid(2, 0.3)
    draws = random_weights(4, 6, seed=1)
    assert draws[0] == [0.25] * 4 and len(draws) == 6 and draws == random_weights(4, 6, seed=1)


@pytest.fixture(scope="module")
def setup(agent_adapters, tmp_path_factory):
    """The agent tests' planner (it knows its requests by heart) and the same adapter with every
    update zeroed (the bare base), and a validation split of those requests."""
    root = tmp_path_factory.mktemp("tune")
    planner = agent_adapters[0]
    zero = root / "zero"
    shutil.copytree(planner, zero)
    weights = load_file(str(zero / "adapters.safetensors"))
    save_file(
        {k: v * 0 if k.endswith("lora_b") else v for k, v in weights.items()},
        str(zero / "adapters.safetensors"),
    )
    data = root / "data"
    data.mkdir()
    for split in ("train", "valid"):
        write_split(data / f"{split}.jsonl", _plan_examples())
    return planner, zero, data / "valid.jsonl", root


def test_the_search_finds_the_adapter_that_knows_the_plans_and_resumes(setup):
    planner, zero, valid, root = setup
    out = root / "best"
    result = tune_weights([zero, planner], valid, out, step=0.5, max_tokens=48)
    scores = {tuple(c.weights): c.correct for c in result.candidates}
    assert set(scores) == {(0.0, 1.0), (0.5, 0.5), (1.0, 0.0)}
    assert scores[(0.0, 1.0)] == result.examples > scores[(1.0, 0.0)]  # the bare base plans nothing right
    assert result.best.weights == [0.0, 1.0]
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["combine"]["weights"] == [0.0, 1.0] and (out / "tune.json").is_file()
    log = out.with_name(out.name + ".tune.jsonl")
    assert len(log.read_text().splitlines()) == 3
    again = tune_weights([zero, planner], valid, out, step=0.5, max_tokens=48, overwrite=True)
    assert len(log.read_text().splitlines()) == 3  # nothing scored twice
    assert [c.correct for c in again.candidates] == [c.correct for c in result.candidates]


def test_bad_options_are_refused_before_any_work(setup):
    planner, zero, valid, root = setup
    with pytest.raises(OctoError, match="--per-domain"):
        tune_weights([zero, planner], valid, root / "x", per_domain=500)
    with pytest.raises(OctoError, match="two or more"):
        tune_weights([planner], valid, root / "x")
    with pytest.raises(OctoError, match="--density"):
        tune_weights([zero, planner], valid, root / "x", method="ties")


def test_cma_es_scores_its_budget_from_the_uniform_mix(setup):
    planner, zero, valid, root = setup
    out = root / "cma"
    result = tune_weights([zero, planner], valid, out, search="cma", budget=4, max_tokens=48)
    assert len(result.candidates) == 4 and all(abs(sum(c.weights) - 1) < 1e-6 for c in result.candidates)
    assert result.best.accuracy == max(c.accuracy for c in result.candidates)
    assert json.loads((out / "adapter_config.json").read_text())["combine"]["weights"] == result.best.weights
