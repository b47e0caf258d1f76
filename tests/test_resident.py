"""One resident base, many adapters (octo_mlx.resident): switching gives exactly the model an
ordinary load of each adapter gives, never reloads, and refuses what does not belong."""

from __future__ import annotations

import json
import shutil

import mlx.core as mx
import pytest

from octo_mlx.adapters.folder import load_with_adapter
from octo_mlx.errors import OctoError
from octo_mlx.resident import AdapterPool
from octo_mlx.train.loop import train
from octo_mlx.train.recipe import load_recipe
from tests.helpers.datasets import tiny_overrides, write_planner_data

PROBE = mx.array([[1, 5, 9, 17, 33, 2, 7]])


@pytest.fixture(scope="module")
def adapters(tiny_llama, action_data, tmp_path_factory):
    """A planner LoRA (r4), an action LoRA (r2: file rank = its rows, factors padded) and a DoRA planner."""
    root = tmp_path_factory.mktemp("resident")
    planner_data = write_planner_data(root / "plans")
    out = {}
    for name, data, extra in (
        ("planner", planner_data, ["lora.rank=4", "lora.alpha=8"]),
        ("action", action_data, ["model.new_tokens=[]", "lora.rank=2", "lora.alpha=4"]),
        ("dora", planner_data, ["lora.rank=4", "lora.alpha=8", "train.method=dora"]),
    ):
        args = tiny_overrides(tiny_llama, data, root / name, "train.max_steps=3", *extra)
        out[name] = train(load_recipe(None, args)).last_dir
    return out


def _logits(model) -> mx.array:
    y = model(PROBE)
    mx.eval(y)
    return y


def test_switching_gives_each_adapter_exactly_as_loaded_alone(tiny_llama, adapters):
    pool = AdapterPool.open(tiny_llama)
    base = _logits(pool.model)
    for name, folder in adapters.items():
        pool.add(name, folder)
    alone = {name: _logits(load_with_adapter(tiny_llama, folder)[0]) for name, folder in adapters.items()}
    for order in (["planner", "action", "dora", None, "action", "planner"], ["dora", "planner", None]):
        for name in order:
            pool.use(name)
            got = _logits(pool.model)
            want = base if name is None else alone[name]
            assert mx.allclose(got, want, atol=1e-5).item(), name
            if name is not None:  # the test can fail: every adapter changes the output
                assert not mx.allclose(got, base, atol=1e-4).item(), name
    assert pool.active is None


def test_padding_is_cut_to_the_trained_rank_and_memory_is_the_factors_only(tiny_llama, adapters):
    pool = AdapterPool.open(tiny_llama)
    action = pool.add("action", adapters["action"])
    cfg = json.loads((adapters["action"] / "adapter_config.json").read_text())
    file_rank, trained = cfg["lora_parameters"]["rank"], cfg["lora_parameters"]["trained_rank"]
    assert file_rank > trained and action.rank == trained  # linear layers run at the trained rank
    base = pool.base_nbytes()
    assert pool.nbytes() == base + action.nbytes and 0 < action.nbytes < base
    with pool.using("action"):
        q = pool.model.model.layers[0].self_attn.q_proj
        assert q.lora_a.shape[-1] == trained
        rows = pool.model.model.embed_tokens
        assert rows.lora_a.shape[-1] == file_rank  # the rows keep theirs
    assert not hasattr(pool.model.model.layers[0].self_attn.q_proj, "lora_a")  # the bare base again


def test_a_switch_never_touches_the_base_weights(tiny_llama, adapters):
    pool = AdapterPool.open(tiny_llama)
    q = pool.model.model.layers[1].mlp.down_proj
    before = mx.array(q.weight)
    for name, folder in adapters.items():
        pool.add(name, folder)
        pool.use(name)
    pool.use(None)
    assert pool.model.model.layers[1].mlp.down_proj is q and mx.array_equal(q.weight, before).item()
    # the wrapper holds the base layer itself (no copy)
    with pool.using("planner"):
        assert pool.model.model.layers[1].mlp.down_proj.linear is q


def test_what_does_not_belong_is_refused_and_the_pool_keeps_serving(tiny_llama, adapters, tmp_path):
    pool = AdapterPool.open(tiny_llama)
    pool.add("planner", adapters["planner"])
    pool.use("planner")
    want = _logits(pool.model)
    with pytest.raises(OctoError, match="already resident"):
        pool.add("planner", adapters["action"])
    with pytest.raises(OctoError, match="no resident adapter named 'nope'"):
        pool.use("nope")
    with pytest.raises(OctoError, match="not an adapter folder"):
        pool.add("x", tmp_path)
    other = tmp_path / "other-base"
    shutil.copytree(adapters["action"], other)
    cfg = json.loads((other / "adapter_config.json").read_text())
    cfg["base_fingerprint"] = "0" * 64
    (other / "adapter_config.json").write_text(json.dumps(cfg))
    with pytest.raises(OctoError, match="other weights"):
        pool.add("other", other)
    broken = tmp_path / "broken"
    shutil.copytree(adapters["planner"], broken)
    weights = mx.load(str(broken / "adapters.safetensors"))
    key = next(k for k in weights if k.endswith("lora_a"))
    weights[key] = mx.zeros((3, 3))
    mx.save_safetensors(str(broken / "adapters.safetensors"), weights)
    with pytest.raises(OctoError, match=r"shape \(3, 3\)"):
        pool.add("broken", broken)
    assert pool.active == "planner" and set(pool.adapters) == {"planner"}
    assert mx.allclose(_logits(pool.model), want).item()


def test_a_full_fine_tune_is_refused(tiny_llama, action_data, tmp_path):
    args = tiny_overrides(
        tiny_llama, action_data, tmp_path / "full", "model.new_tokens=[]", "train.method=full"
    )
    folder = train(load_recipe(None, [*args, "train.max_steps=1"])).last_dir
    pool = AdapterPool.open(tiny_llama)
    with pytest.raises(OctoError, match="a whole model"):
        pool.add("full", folder)


def test_a_view_switches_when_it_runs(tiny_llama, adapters):
    pool = AdapterPool.open(tiny_llama)
    for name in ("planner", "action"):
        pool.add(name, adapters[name])
    planner, action = pool.view("planner"), pool.view("action")
    alone = _logits(load_with_adapter(tiny_llama, adapters["action"])[0])
    assert mx.allclose(
        _logits(planner), _logits(load_with_adapter(tiny_llama, adapters["planner"])[0])
    ).item()
    assert pool.active == "planner"
    assert mx.allclose(_logits(action), alone, atol=1e-5).item() and pool.active == "action"
    assert action.layers is pool.model.layers and action.args is pool.model.args
    with pytest.raises(OctoError, match="no resident adapter"):
        pool.view("nope")


def test_the_action_model_on_a_pool_calls_as_when_loaded_alone(tiny_llama, adapters):
    from octo_mlx.action.model import ActionModel

    steps = [("Take a photo with the front camera", None), ("Turn the volume down to 2", None)]
    alone = ActionModel.load(adapters["action"], max_tokens=48).act_many(steps)
    pool = AdapterPool.open(tiny_llama)
    pool.add("planner", adapters["planner"])
    pool.add("action", adapters["action"])
    pool.use("planner")  # the action model switches itself on
    shared = ActionModel.on_pool(pool, "action", max_tokens=48).act_many(steps)
    assert [c.text for c in shared] == [c.text for c in alone] and pool.active == "action"
    with pytest.raises(OctoError, match="not an action model"):
        ActionModel.on_pool(pool, "planner")


def test_an_adapter_whose_layers_fail_half_built_leaves_the_base_as_it_was(tiny_llama, adapters, tmp_path):
    """mlx-lm converts the blocks' layers before the top-level keys: a key it cannot convert
    (here the final norm) fails after the blocks were wrapped. The base must come back whole,
    and the next adapter must build on it (not wrap a leftover wrapper)."""
    pool = AdapterPool.open(tiny_llama)
    q = pool.model.model.layers[0].self_attn.q_proj
    bad = tmp_path / "bad-keys"
    shutil.copytree(adapters["planner"], bad)
    cfg = json.loads((bad / "adapter_config.json").read_text())
    cfg["lora_parameters"]["keys"] = ["self_attn.q_proj", "model.norm"]
    (bad / "adapter_config.json").write_text(json.dumps(cfg))
    with pytest.raises(OctoError, match="cannot build its layers"):
        pool.add("bad", bad)
    assert pool.model.model.layers[0].self_attn.q_proj is q and not pool.adapters
    pool.add("planner", adapters["planner"])
    pool.use("planner")
    alone = _logits(load_with_adapter(tiny_llama, adapters["planner"])[0])
    assert mx.allclose(_logits(pool.model), alone, atol=1e-5).item()
