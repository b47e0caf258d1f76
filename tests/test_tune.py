"""`adapters tune`: fusion weights searched on a validation split with the plan judge, on one
resident base; the best written as `adapters combine` writes it; a killed search resumes."""

from __future__ import annotations

import json

import pytest

from octo_mlx.errors import OctoError
from octo_mlx.eval.tune import random_weights, simplex_grid, tune_weights
from tests.helpers.agent import zeroed_planner_and_split


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
    zero, valid = zeroed_planner_and_split(planner, root)
    return planner, zero, valid, root


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


def test_learned_weights_move_only_where_the_loss_says(setup):
    """LoRA Soups' per-layer gates: the all-zero adapter's gates get no gradient (its update is
    0), so its weight stays at the start in every layer; the planner's grow, and the loss falls."""
    planner, zero, valid, root = setup
    out = root / "learned"
    result = tune_weights([zero, planner], valid, out, search="learned", epochs=3, max_tokens=48)
    uniform, learned = result.candidates
    assert uniform.module_weights is None and learned.module_weights
    assert learned.losses[-1] < learned.losses[0]
    layers = learned.module_weights
    assert all(abs(w[0] - 0.5) < 1e-6 for w in layers.values())
    assert sum(w[1] for w in layers.values()) / len(layers) > 0.5
    config = json.loads((out / "adapter_config.json").read_text())
    if result.best is learned:
        assert set(config["combine"]["module_weights"]) == set(layers)
    else:
        assert "module_weights" not in config["combine"] and learned.accuracy <= uniform.accuracy
    with pytest.raises(OctoError, match="--method linear"):
        tune_weights([zero, planner], valid, root / "y", search="learned", method="ties", density=0.5)
