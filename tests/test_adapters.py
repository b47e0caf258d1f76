"""Adapters (octo_mlx.adapters): new tokens grow the vocabulary with rows at the mean, only they
and the LoRA/DoRA factors train, and the saved adapter folder reloads in plain mlx-lm with the
same logits."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from mlx.utils import tree_flatten, tree_map
from mlx_lm.utils import load, save_config, save_model

from octo_mlx.adapters import rows as vocab_rows
from octo_mlx.adapters.folder import save_adapter
from octo_mlx.adapters.lora import LoraConfig, adapter_weights, apply_lora
from octo_mlx.models.folder import stored_dtype
from octo_mlx.models.tokens import END, NONE, extend_base, slot_token
from octo_mlx.runtime.device import apply_dtype_policy
from octo_mlx.train.loop import train
from octo_mlx.train.recipe import load_recipe
from tests.helpers.datasets import tiny_overrides, write_planner_data
from tests.helpers.tiny import build_tiny_model

SPLIT = "<nexa_split>"


def _load(path):
    model, tok = load(str(path))
    apply_dtype_policy(model)
    return model, tok


def _with_spare_rows(src: Path, dst: Path, spare: int = 8) -> Path:
    """A copy of a tiny model whose embedding has ``spare`` rows past its tokenizer (like Phi-3's 53)."""
    shutil.copytree(src, dst)
    model, _ = _load(dst)
    config = json.loads((dst / "config.json").read_text())
    rows = config["vocab_size"] + spare
    mx.random.seed(3)
    emb = nn.Embedding(rows, config["hidden_size"])
    emb.weight = mx.concatenate([model.model.embed_tokens.weight, emb.weight[-spare:]])
    model.model.embed_tokens = emb
    if "lm_head" in model:
        head = nn.Linear(config["hidden_size"], rows, bias=False)
        head.weight = mx.concatenate([model.lm_head.weight, head.weight[-spare:]])
        model.lm_head = head
    for f in dst.glob("model*"):
        f.unlink()
    save_model(dst, model)
    save_config(dict(config, vocab_size=rows), dst / "config.json")
    return dst


@pytest.fixture(scope="module")
def tiny_phi3(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-phi3"), "phi3")


def _randomize_trainable(model, seed=1):
    mx.random.seed(seed)
    model.update(tree_map(lambda p: mx.random.normal(p.shape) * 0.05, model.trainable_parameters()))
    mx.eval(model.parameters())


@pytest.mark.parametrize(
    "arch, method, spare, tokens, rank",
    [
        ("llama", "lora", False, [SPLIT], 4),
        ("llama", "dora", False, [SPLIT], 4),
        ("phi3", "lora", False, [SPLIT], 4),
        ("phi3", "lora", True, [SPLIT], 4),
        ("llama", "dora", True, [SPLIT], 4),
        ("llama", "lora", False, [END, NONE, *(slot_token(i) for i in range(8))], 2),  # 10 rows, rank 2
        ("phi3", "dora", False, [END, NONE, *(slot_token(i) for i in range(8))], 2),
    ],
)
def test_an_adapter_with_trained_rows_loads_in_plain_mlx_lm_with_the_same_logits(
    tmp_path, arch, method, spare, tokens, rank
):
    """On the extended base written for plain mlx-lm, ``mlx_lm.load(base, adapter_path=...)``
    gives the in-memory model's logits, whatever the number of rows and the LoRA rank."""
    src = build_tiny_model(tmp_path / "m", arch)
    if spare:
        src = _with_spare_rows(src, tmp_path / "spare")
    lora, dora = LoraConfig(rank=rank, alpha=2 * rank), method == "dora"
    base = extend_base(src, out=tmp_path / "extended")
    model, tok = _load(base)
    new = vocab_rows.trained_rows(tok, tokens)
    adapter_config = apply_lora(model, lora, dora, 0, new)
    assert adapter_config["lora_parameters"]["rank"] == max(rank, len(tokens))
    _randomize_trainable(model)
    names = {k.rsplit(".", 1)[-1] for k, _ in tree_flatten(model.trainable_parameters())}
    assert names == ({"lora_a", "lora_b", "delta"} | ({"m"} if method == "dora" else set()))
    ids = mx.array([[3, 17, new.ids[0], 40, new.ids[-1], 5]])
    expected = model(ids)
    save_adapter(tmp_path / "out" / "last", adapter_weights(model, lora, dora, new), adapter_config, "")
    loaded, ltok = load(str(base), adapter_path=str(tmp_path / "out" / "last"))
    assert ltok.encode(tokens[0], add_special_tokens=False) == [new.ids[0]]
    np.testing.assert_allclose(np.array(loaded(ids)), np.array(expected), rtol=1e-4, atol=1e-4)


def test_lora_trains_only_the_new_rows_and_adapters(tiny_llama, tmp_path):
    data = write_planner_data(tmp_path / "data")
    out = tmp_path / "run"
    recipe = load_recipe(
        None, tiny_overrides(tiny_llama, data, out, "train.epochs=2", "train.learning_rate=5e-2")
    )
    result = train(recipe)
    original, _ = _load(tiny_llama)
    w0 = np.array(original.model.embed_tokens.weight)
    trained, _ = load(str(result.base_dir), adapter_path=str(result.last_dir))
    emb = trained.model.embed_tokens
    fused = np.array(emb.embedding.weight + emb.scale * (emb.lora_a @ emb.lora_b))
    new_id = w0.shape[0]
    np.testing.assert_array_equal(fused[:new_id], w0)  # every old row untouched
    assert np.abs(fused[new_id] - w0.mean(axis=0)).max() > 1e-3  # the new row learned
    for layer in trained.layers:  # and the LoRA factors of every linear layer of every block moved
        assert np.abs(np.array(layer.self_attn.q_proj.lora_b)).max() > 0
        assert np.abs(np.array(layer.mlp.down_proj.lora_b)).max() > 0


def test_qlora_on_a_quantized_base_grows_rows_and_reloads(tiny_llama, tmp_path):
    from mlx_lm.utils import quantize_model

    q = tmp_path / "q4"
    shutil.copytree(tiny_llama, q)
    model, _ = load(str(q))
    config = json.loads((q / "config.json").read_text())
    model, config = quantize_model(model, config, group_size=32, bits=4)
    for f in q.glob("model*"):
        f.unlink()
    save_model(q, model)
    save_config(config, q / "config.json")
    data = write_planner_data(tmp_path / "data")
    result = train(load_recipe(None, tiny_overrides(q, data, tmp_path / "run", "train.max_steps=2")))
    loaded, tok = load(str(result.base_dir), adapter_path=str(result.last_dir))
    assert isinstance(loaded.layers[0].self_attn.q_proj.linear, nn.QuantizedLinear)  # QLoRA: base stays 4-bit
    new_id = tok.encode(SPLIT, add_special_tokens=False)
    rows = len(vocab_rows.hf_tokenizer(tok))
    assert len(new_id) == 1 and loaded(mx.array([[1, new_id[0]]])).shape[-1] == rows
    with pytest.raises(Exception, match="quantized"):
        train(load_recipe(None, tiny_overrides(q, data, tmp_path / "full", "train.method=full")))


def test_grown_base_keeps_the_stored_dtype(tiny_llama, tmp_path):
    half = tmp_path / "f16"
    shutil.copytree(tiny_llama, half)
    model, _ = load(str(half))
    model.update(tree_map(lambda p: p.astype(mx.float16), model.parameters()))
    for f in half.glob("model*"):
        f.unlink()
    save_model(half, model)
    data = write_planner_data(tmp_path / "data")
    result = train(load_recipe(None, tiny_overrides(half, data, tmp_path / "run", "train.max_steps=1")))
    assert stored_dtype(result.base_dir) == mx.float16  # not doubled to float32 on disk
    base, _ = load(str(result.base_dir))
    w = np.array(base.model.embed_tokens.weight.astype(mx.float32))
    known = json.loads((half / "config.json").read_text())["vocab_size"]
    expected = w[:known].mean(axis=0).astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(w[-1], expected)


# --- a damaged adapter folder is one clear line (#11) -------------------------------------------


@pytest.fixture(scope="module")
def trained_adapter(tiny_llama, tmp_path_factory) -> Path:
    """OUT/last of a few LoRA steps on the tiny llama (read-only: copy before damaging)."""
    tmp = tmp_path_factory.mktemp("trained-adapter")
    data = write_planner_data(tmp / "data")
    return train(
        load_recipe(None, tiny_overrides(tiny_llama, data, tmp / "run", "train.max_steps=1"))
    ).last_dir


def _copy_adapter(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize(
    "damage, field",
    [
        ("truncated", "adapters.safetensors"),
        ("random", "adapters.safetensors"),
        ("rank", "lora_parameters.rank"),
        ("num_layers", "num_layers"),
    ],
)
def test_a_damaged_adapter_is_one_clear_line_on_the_command_line(trained_adapter, tmp_path, damage, field):
    from tests.helpers.cli import run_octo

    adapter = _copy_adapter(trained_adapter, tmp_path / "adapter")
    weights, cfg_path = adapter / "adapters.safetensors", adapter / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    if damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:-100])
    elif damage == "random":
        weights.write_bytes(os.urandom(4096))
    elif damage == "rank":
        cfg["lora_parameters"]["rank"] = "four"
    else:
        cfg["num_layers"] = "all"
    cfg_path.write_text(json.dumps(cfg))
    res = run_octo("plan", "Email Bob", "--adapter", adapter)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("octo-mlx: error: ") and field in lines[0], lines


def test_plan_refuses_an_adapter_on_another_base_and_force_warns_in_one_line(tiny_llama, tmp_path):
    from tests.helpers.cli import run_octo

    other = build_tiny_model(tmp_path / "other", seed=7)  # the same shapes, other weights
    data = write_planner_data(tmp_path / "data")
    args = tiny_overrides(tiny_llama, data, tmp_path / "run", "train.max_steps=1", "model.new_tokens=[]")
    adapter = train(load_recipe(None, args)).last_dir
    res = run_octo("plan", "Email Bob", "--adapter", adapter, "--model", other, "--max-tokens", "4")
    assert res.returncode == 2 and "trained on other weights" in res.stderr, res.stderr
    res = run_octo(
        "plan", "Email Bob", "--adapter", adapter, "--model", other, "--max-tokens", "4", "--force"
    )
    assert res.returncode == 0, res.stderr
    warning = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(warning) == 1 and warning[0].startswith("octo-mlx: warning: ") and "--force" in warning[0]
    res = run_octo("plan", "Email Bob", "--adapter", adapter, "--max-tokens", "4")  # its own base
    assert res.returncode == 0 and not res.stderr.strip(), res.stderr
