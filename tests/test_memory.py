"""The memory planner: parameter counts against real models, invariants of the plan, and a
prediction checked against the measured peak of a real training run on a tiny model."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import mlx.core as mx
import pytest
from mlx.utils import tree_flatten
from mlx_lm.utils import load

from octo_mlx.cli import main as cli_main
from octo_mlx.errors import OctoError
from octo_mlx.models.shape import KNOWN_CONFIGS, ModelShape, known_config, read_model_config
from octo_mlx.train import batching, memory
from octo_mlx.train.memory import data_geometry, plan_memory
from octo_mlx.train.recipe import load_recipe
from octo_mlx.train.setup import plan_recipe
from tests.helpers.datasets import write_planner_data
from tests.helpers.tiny import build_tiny_model

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("memory-models")
    return {arch: build_tiny_model(base / arch, arch) for arch in ("llama", "phi3", "gemma")}


def _config(path: Path) -> dict:
    return json.loads((path / "config.json").read_text())


# --- shapes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["llama", "phi3", "gemma"])
def test_parameter_count_matches_the_model_mlx_lm_builds(tiny_models, arch):
    model, _ = load(str(tiny_models[arch]))
    real = sum(v.size for _, v in tree_flatten(model.parameters()))
    assert ModelShape.from_config(_config(tiny_models[arch])).total_params == real


@pytest.mark.parametrize("arch", ["llama", "phi3", "gemma"])
def test_lora_parameter_count_matches_mlx_lm_lora_layers(tiny_models, arch):
    from mlx_lm.tuner.utils import linear_to_lora_layers

    model, _ = load(str(tiny_models[arch]))
    model.freeze()
    linear_to_lora_layers(model, len(model.layers), {"rank": 4, "scale": 2.0, "dropout": 0.0})
    real = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    assert ModelShape.from_config(_config(tiny_models[arch])).lora_params(4) == real


def test_known_architectures_have_their_published_sizes():
    sizes = {name: ModelShape.from_config(c).total_params for name, c in KNOWN_CONFIGS.items()}
    # Phi-3 Mini 3.8B, Gemma 2B (2.5B with its 256k embedding), Gemma 7B (8.5B), SmolLM2 134.5M
    assert 3.7e9 < sizes["phi-3-mini"] < 3.9e9
    assert 2.4e9 < sizes["gemma-2b"] < 2.6e9
    assert 8.4e9 < sizes["gemma-7b"] < 8.6e9
    assert sizes["smollm2-135m"] == 134_515_008  # facts.md, counted from the GGUF
    assert ModelShape.from_config(KNOWN_CONFIGS["gemma-2b"]).tied  # gemma always ties its head


def test_known_config_resolves_hub_ids_and_folders(tiny_models):
    assert known_config("microsoft/Phi-3-mini-4k-instruct") == KNOWN_CONFIGS["phi-3-mini"]
    assert known_config("google/gemma-7b") == KNOWN_CONFIGS["gemma-7b"]
    assert known_config("no/such-model") is None
    assert read_model_config(tiny_models["llama"]) == _config(tiny_models["llama"])
    with pytest.raises(OctoError, match="known architecture"):
        read_model_config("no/such-model")


def test_bad_config_and_arguments_raise_one_clear_error():
    broken = dict(KNOWN_CONFIGS["smollm2-135m"])
    del broken["hidden_size"]
    with pytest.raises(OctoError, match="hidden_size"):
        plan_memory(broken)
    cfg = KNOWN_CONFIGS["smollm2-135m"]
    for kwargs in (dict(method="qlora"), dict(rank=0), dict(batch_size=0), dict(dtype="int8")):
        with pytest.raises(OctoError):
            plan_memory(cfg, **kwargs)
    quantized = dict(cfg, quantization={"bits": 4, "group_size": 64})
    with pytest.raises(OctoError, match="quantized"):
        plan_memory(quantized, method="full")


# --- invariants -----------------------------------------------------------------------------


def _grows(plans) -> bool:
    """Totals never fall and the backward phase (activations) strictly rises.

    A full fine-tune at a small batch peaks in the update phase, which does not depend on the
    batch: its total may stay flat while the activations grow.
    """
    totals = [p.total for p in plans]
    backward = [p.backward_phase for p in plans]
    return totals == sorted(totals) and all(a < b for a, b in zip(backward, backward[1:]))


@pytest.mark.parametrize("name", list(KNOWN_CONFIGS))
def test_plan_grows_with_batch_sequence_and_rank(name):
    cfg = KNOWN_CONFIGS[name]
    for method in ("lora", "full"):
        assert _grows([plan_memory(cfg, method, 16, b, 128) for b in (1, 2, 4, 8)])
        assert _grows([plan_memory(cfg, method, 16, 4, s) for s in (32, 64, 128, 256, 512)])
    lora = [plan_memory(cfg, "lora", r, 4, 128) for r in (4, 16, 64, 256)]
    assert _grows(lora) and lora[0].total < lora[-1].total


@pytest.mark.parametrize("name", list(KNOWN_CONFIGS))
def test_checkpointing_cuts_activations_and_lora_is_smaller_than_full(name):
    cfg = KNOWN_CONFIGS[name]
    for method in ("lora", "full"):
        plain = plan_memory(cfg, method, 16, 4, 256)
        ckpt = plan_memory(cfg, method, 16, 4, 256, grad_checkpoint=True)
        assert ckpt.activations < plain.activations
        assert ckpt.total <= plain.total
    for dtype in ("bfloat16", "float32"):
        lora, full = plan_memory(cfg, "lora", 64, 4, 256, dtype), plan_memory(cfg, "full", 64, 4, 256, dtype)
        assert lora.total < full.total
        assert lora.optimizer < full.optimizer and lora.gradients < full.gradients
        assert lora.weights == full.weights


def test_float32_costs_more_than_bfloat16_and_quantization_saves_weights():
    cfg = KNOWN_CONFIGS["phi-3-mini"]
    assert plan_memory(cfg, dtype="float32").total > plan_memory(cfg, dtype="bfloat16").total
    q4 = plan_memory(dict(cfg, quantization={"bits": 4, "group_size": 64}))
    assert q4.weights < plan_memory(cfg).weights / 3  # 4 bits + scales vs 16 bits


def test_lm_head_positions_and_packing_move_the_right_parts():
    cfg = KNOWN_CONFIGS["gemma-2b"]  # 256k vocabulary: the logits are large
    half = plan_memory(cfg, head_fraction=0.5)
    full_head = plan_memory(cfg, head_fraction=1.0)
    assert half.logits < full_head.logits and half.activations == full_head.activations
    packed = plan_memory(cfg, packed=True)
    padded = plan_memory(cfg, packed=False)
    assert packed.tokens == padded.tokens and packed.activations > padded.activations  # one long row


def test_fits_compares_the_total_with_a_budget():
    plan = plan_memory(KNOWN_CONFIGS["gemma-7b"], "full")
    assert plan.fits(plan.total) and not plan.fits(plan.total - 1)
    assert plan.total == plan.resident + max(plan.backward_phase, plan.update_phase)
    assert memory.mac_budget(64) > memory.mac_budget(16)


def test_readme_table_is_consistent_across_macs():
    rows = memory.memory_table()
    assert {r.model for r in rows} == {"phi-3-mini", "gemma-2b", "gemma-7b"}
    for r in rows:
        fits = [r.fits[gb] for gb in sorted(r.fits)]
        assert fits == sorted(fits)  # fitting a small Mac implies fitting a bigger one
    by = {(r.model, r.method): r.plan.total for r in rows}
    for model in ("phi-3-mini", "gemma-2b", "gemma-7b"):
        assert by[(model, "lora r16")] < by[(model, "lora r64")] < by[(model, "full")]


def test_data_geometry_bounds_every_micro_batch():
    lengths, comp = [50, 120, 80, 200, 90, 60], [20, 40, 30, 90, 35, 25]
    g = data_geometry(lengths, comp, 4, "pack", 32)
    assert g.packed and g.batch_size * g.seq_len >= 32 * -(-(200 + 120 + 90 + 80) // 32)
    for mode in ("pack", "pad"):
        worst = data_geometry(lengths, comp, 4, mode, 32)
        for i in range(0, 6, 2):  # any other batch of 4 fits in the worst one
            pick = [(i + k) % 6 for k in range(4)]
            b = batching.collate(
                [batching.Encoded(tuple(range(lengths[j])), lengths[j] - comp[j]) for j in pick],
                mode == "pack",
            )
            assert b.padded_tokens <= worst.batch_size * worst.seq_len
            assert len(b.positions) <= round(worst.head_fraction * worst.batch_size * worst.seq_len) + 32


# --- against a measured run -----------------------------------------------------------------


def test_prediction_within_35_percent_of_a_measured_training_peak(tiny_llama, tmp_path):
    """Train a tiny model for one epoch and compare the MLX allocator peak with the plan."""
    from octo_mlx.train.loop import train

    data = write_planner_data(tmp_path / "data", n_train=8, n_valid=2)
    model = tmp_path / "model"
    shutil.copytree(tiny_llama, model)
    for method in ("lora", "full"):
        recipe = load_recipe(
            None,
            [
                f"model.path={model}",
                f"data.path={data}",
                f"output.dir={tmp_path / method}",
                f"train.method={method}",
                "train.epochs=1",
                "train.batch_size=4",
                "lora.rank=8",
                "lora.alpha=16",
            ],
        )
        mx.reset_peak_memory()
        result = train(recipe)
        # the geometry of the micro-batches that ran, with the tokenizer the run used
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(model))
        tok.add_tokens(list(recipe.model.new_tokens))
        enc = [
            batching.encode_chat(tok, json.loads(line)["messages"])
            for line in (data / "train.jsonl").read_text().splitlines()
        ]
        t = recipe.train
        plans = []
        for step in batching.plan_epoch([len(e.tokens) for e in enc], 4, 1, t.seed, 0, t.batching):
            picked = [enc[j] for j in step[0]]
            lengths = [len(e.tokens) for e in picked]
            g = data_geometry(lengths, [e.completion_len for e in picked], 4, t.batching, t.pad_multiple)
            plans.append(
                plan_memory(
                    _config(model),
                    method,
                    8,
                    g.batch_size,
                    g.seq_len,
                    "float32",
                    packed=g.packed,
                    head_fraction=g.head_fraction,
                    overhead_bytes=0,
                )
            )
        predicted = max(p.total for p in plans)
        measured = result.peak_memory_gb * 1e9
        assert abs(predicted - measured) / measured <= 0.35, (method, predicted, measured)


# --- the commands ---------------------------------------------------------------------------


def test_plan_recipe_measures_the_data_and_the_cli_prints_it(tiny_llama, tmp_path, capsys):
    data = write_planner_data(tmp_path / "data", n_train=8, n_valid=2)
    recipe_path = ROOT / "recipes" / "planner-lora-smollm2.yaml"
    overrides = [f"model.path={tiny_llama}", f"data.path={data}", f"output.dir={tmp_path / 'out'}"]
    plan = plan_recipe(load_recipe(recipe_path, overrides))
    assert "examples of" in plan.geometry.source  # measured on the data, not the bound
    bound = plan_recipe(load_recipe(recipe_path, [*overrides, f"data.path={tmp_path / 'none'}"]))
    assert "upper bound" in bound.geometry.source and bound.plan.total > plan.plan.total
    mac = plan_recipe(load_recipe(recipe_path, overrides), memory_gb=16)
    assert mac.plan.dtype == "bfloat16" and mac.budget.bytes == memory.mac_budget(16)
    assert dataclasses.replace(plan.plan, weights=10**15).fits(plan.budget.bytes) is False

    with pytest.raises(SystemExit) as e:
        cli_main(["train", "--recipe", str(recipe_path), *overrides, "--plan-memory"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "peak" in out and "activations" in out
    assert not (tmp_path / "out").exists()  # planning trains nothing


def test_memory_commands_print_plans_without_a_download(capsys):
    with pytest.raises(SystemExit) as e:
        cli_main(["memory", "plan", "--model", "google/gemma-2b", "--method", "full", "--mac-gb", "16"])
    assert e.value.code == 0
    assert "does not fit" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        cli_main(["memory", "table"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "phi-3-mini" in out and "gemma-7b" in out and "predicted" in out
