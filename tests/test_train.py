"""The training loop on tiny models: masked loss, packing, schedule, learning, outputs, resume, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from mlx.utils import tree_flatten
from mlx_lm.utils import load

from octo_mlx.cli import main as cli_main
from octo_mlx.models.folder import weights_sha256
from octo_mlx.models.tokens import extend_base, read_extension
from octo_mlx.runtime.blas import openblas_env
from octo_mlx.runtime.device import apply_dtype_policy
from octo_mlx.train import batching
from octo_mlx.train.loop import train
from octo_mlx.train.recipe import load_recipe
from octo_mlx.train.step import batch_loss, learning_rate_at, validation_loss
from tests.helpers.datasets import tiny_overrides, write_planner_data

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_planner_data(tmp_path_factory.mktemp("planner-data"))


def _model_and_examples(path, n=5):
    from tests.helpers.datasets import planner_examples

    model, tok = load(str(extend_base(path)))
    apply_dtype_policy(model)
    encs = [batching.encode_chat(tok, e.to_record()["messages"]) for e in planner_examples(n)]
    return model, tok, encs


def _hand_masked_ce(model, encs) -> float:
    """Mean CE over completion tokens, each example run alone through the plain mlx-lm forward."""
    total, count = 0.0, 0
    for e in encs:
        logits = model(mx.array([e.tokens]))[0]
        for j in range(e.prompt_len, len(e.tokens)):  # token j is predicted at position j - 1
            logp = logits[j - 1] - mx.logsumexp(logits[j - 1])
            total -= logp[e.tokens[j]].item()
            count += 1
    return total / count


def _loss(model, batch):
    mask = None if batch.segments is None else mx.array(batching.attention_mask(batch.segments))
    args = (mx.array(batch.positions), mx.array(batch.targets), mx.array(batch.weights))
    loss, n = batch_loss(model, mx.array(batch.tokens), mask, *args)
    return loss.item() / n.item()


def test_loss_is_masked_cross_entropy_on_the_completion_only(tiny_llama):
    model, _, encs = _model_and_examples(tiny_llama)
    expected = _hand_masked_ce(model, encs)
    for pack in (True, False):
        assert _loss(model, batching.collate(encs, pack=pack, pad_multiple=16)) == pytest.approx(
            expected, rel=1e-5
        )
    # the prompt is context, never a target: another prompt changes the loss only through the context,
    # and changing a completion token does change it
    e = encs[0]
    changed = batching.Encoded(e.tokens[:-2] + (e.tokens[-2] + 1,) + e.tokens[-1:], e.prompt_len)
    assert _loss(model, batching.collate([changed], pack=True)) != pytest.approx(
        _loss(model, batching.collate([e], True))
    )


@pytest.mark.parametrize("arch", ["phi3", "gemma"])
def test_packed_loss_and_gradients_equal_unpacked(tmp_path, arch):
    from tests.helpers.tiny import build_tiny_model

    model, _, encs = _model_and_examples(build_tiny_model(tmp_path, arch))
    grad_fn = nn.value_and_grad(model, batch_loss)

    def loss_and_grads(pack):
        b = batching.collate(encs, pack=pack, pad_multiple=32)
        mask = None if b.segments is None else mx.array(batching.attention_mask(b.segments))
        (loss, n), g = grad_fn(
            model, mx.array(b.tokens), mask, mx.array(b.positions), mx.array(b.targets), mx.array(b.weights)
        )
        return loss.item() / n.item(), dict(tree_flatten(g))

    lp, gp = loss_and_grads(True)
    lu, gu = loss_and_grads(False)
    assert lp == pytest.approx(lu, rel=1e-5)
    assert lp == pytest.approx(_hand_masked_ce(model, encs), rel=1e-5)
    for k in gu:  # float32 noise from RoPE at shifted positions: compare on the gradient's own scale
        scale = float(np.abs(np.array(gu[k])).max())
        np.testing.assert_allclose(np.array(gp[k]), np.array(gu[k]), rtol=1e-3, atol=1e-3 * scale, err_msg=k)


def test_schedule_warms_up_then_decays():
    total, lr = 100, 1e-3
    rates = [learning_rate_at(s, total, lr, 0.2, "cosine") for s in range(total)]
    assert rates[0] == pytest.approx(lr / 20) and rates[19] == pytest.approx(lr)  # ceil(0.2 * 100) = 20 steps
    assert all(a < b for a, b in zip(rates[:20], rates[1:20]))
    assert all(a >= b for a, b in zip(rates[20:], rates[21:])) and rates[-1] < lr * 0.01
    lin = [learning_rate_at(s, total, lr, 0.0, "linear") for s in range(total)]
    assert lin[0] == lr and lin[50] == pytest.approx(lr / 2)
    assert learning_rate_at(99, total, lr, 0.2, "constant") == lr


def test_a_few_steps_reduce_the_loss_and_outputs_are_written(tiny_llama, data, tmp_path):
    recipe = load_recipe(None, tiny_overrides(tiny_llama, data, tmp_path / "run", "train.epochs=3"))
    model, tok, _ = _model_and_examples(tiny_llama)
    from octo_mlx.data import read_split

    valid = [batching.encode_chat(tok, e.to_record()["messages"]) for e in read_split(data / "valid.jsonl")]
    before = validation_loss(model, valid, recipe, 0, mx.distributed.init())
    events = []
    result = train(recipe, callback=events.append)
    assert result.val_losses[-1][1] < before - 0.5
    assert result.best_val_loss == min(v for _, v in result.val_losses)
    assert [e.kind for e in events][0] == "start" and events[-1].kind == "done"
    steps = [e for e in events if e.kind == "step"]
    assert len(steps) == result.steps == 6
    assert all(e.tokens_per_s > 0 and e.peak_memory_gb > 0 and e.learning_rate > 0 for e in steps)
    assert result.useful_tokens <= result.padded_tokens and result.useful_tokens_per_s > 0
    out = tmp_path / "run"
    assert load_recipe(out / "recipe.yaml") == recipe  # the resolved recipe is saved beside the output
    cfg = json.loads((out / "last" / "adapter_config.json").read_text())
    assert cfg["fine_tune_type"] == "lora" and cfg["num_layers"] == -1
    lp = cfg["lora_parameters"]
    assert (lp["rank"], lp["alpha"], lp["scale"]) == (4, 8.0, 2.0)
    assert {"self_attn.q_proj", "self_attn.v_proj", "mlp.gate_proj", "mlp.down_proj"} <= set(lp["keys"])
    assert (out / "best" / "adapters.safetensors").is_file() and (out / "last" / "recipe.yaml").is_file()
    summary = json.loads((out / "train.json").read_text())  # the figures, machine-readable
    assert summary["steps"] == 6 and summary["final_loss"] == result.final_loss
    assert summary["val_losses"] == [list(v) for v in result.val_losses]
    assert summary["seconds_per_epoch"] == pytest.approx(result.train_seconds / 3)


def test_full_fine_tuning_writes_a_model_mlx_lm_loads(tiny_llama, data, tmp_path):
    recipe = load_recipe(
        None,
        tiny_overrides(
            tiny_llama,
            data,
            tmp_path / "full",
            "train.method=full",
            "train.epochs=1",
            "train.learning_rate=1e-3",
        ),
    )
    result = train(recipe)
    model, tok = load(str(result.last_dir))
    assert len(tok.encode("a<nexa_split>b", add_special_tokens=False)) == 3
    original, _ = load(str(tiny_llama))
    moved = [
        k
        for (k, a), (_, b) in zip(tree_flatten(model.parameters()), tree_flatten(original.parameters()))
        if a.shape == b.shape and not mx.array_equal(a, b)
    ]
    assert "model.layers.0.mlp.up_proj.weight" in moved


def test_gradient_accumulation_matches_the_bigger_batch(tiny_llama, data, tmp_path):
    finals = []
    # random batches (not length buckets), so both runs put the same 4 examples in each step
    for i, extra in enumerate((["train.batch_size=4"], ["train.batch_size=2", "train.grad_accumulation=2"])):
        r = load_recipe(
            None,
            tiny_overrides(
                tiny_llama, data, tmp_path / f"r{i}", "train.epochs=1", "train.batching=pad", *extra
            ),
        )
        res = train(r)
        finals.append((res.final_loss, mx.load(str(res.last_dir / "adapters.safetensors"))))
    assert finals[0][0] == pytest.approx(finals[1][0], rel=1e-4)
    for k, v in finals[0][1].items():
        np.testing.assert_allclose(np.array(v), np.array(finals[1][1][k]), rtol=1e-3, atol=1e-5, err_msg=k)


KILL_SCRIPT = """
import sys, time
from octo_mlx.train.recipe import load_recipe
from octo_mlx.train.loop import train
recipe = load_recipe(None, sys.argv[1:])
train(recipe, callback=lambda e: time.sleep(0.15) if e.kind == "step" else None)
"""


def test_killed_run_resumes_to_the_same_final_loss(tiny_llama, data, tmp_path):
    args = tiny_overrides(
        tiny_llama, data, tmp_path / "killed", "train.epochs=5", "train.save_every=1", "lora.dropout=0.1"
    )
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), *args],
        env=openblas_env(),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    latest = tmp_path / "killed" / "checkpoints" / "LATEST"
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if latest.is_file() and latest.read_text().strip() >= "step-0000004":
            break
        time.sleep(0.02)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    resumed = train(load_recipe(None, args))
    assert resumed.resumed_from is not None and 4 <= resumed.resumed_from < 10
    reference = train(
        load_recipe(
            None,
            tiny_overrides(
                tiny_llama,
                data,
                tmp_path / "whole",
                "train.epochs=5",
                "train.save_every=1",
                "lora.dropout=0.1",
            ),
        )
    )
    assert resumed.steps == reference.steps == 10
    assert resumed.final_loss == pytest.approx(reference.final_loss, rel=1e-5)
    assert [s for s, _ in resumed.val_losses] == [s for s, _ in reference.val_losses]
    np.testing.assert_allclose(
        [v for _, v in resumed.val_losses], [v for _, v in reference.val_losses], rtol=1e-5
    )
    a = mx.load(str(resumed.last_dir / "adapters.safetensors"))
    b = mx.load(str(reference.last_dir / "adapters.safetensors"))
    for k in b:
        np.testing.assert_allclose(np.array(a[k]), np.array(b[k]), rtol=1e-4, atol=1e-6, err_msg=k)


def test_resume_refuses_another_recipe(tiny_llama, data, tmp_path):
    args = tiny_overrides(tiny_llama, data, tmp_path / "run", "train.max_steps=1")
    train(load_recipe(None, args))
    with pytest.raises(Exception, match="another recipe"):
        train(load_recipe(None, [*args, "train.learning_rate=0.5"]))
    again = train(load_recipe(None, [*args, "train.max_steps=2"]))  # a longer cap of the same run: resumes
    assert again.resumed_from == 1 and again.steps == 2


def _cli(capsys, *argv) -> tuple[int, str]:
    with pytest.raises(SystemExit) as e:
        cli_main(list(argv))
    return e.value.code, capsys.readouterr().err


def test_cli_bad_input_is_one_line_before_training(tiny_llama, data, tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("lora:\n  rank: 4\n")
    out = tmp_path / "out"
    bad_lines = tmp_path / "bad"
    write_planner_data(bad_lines)
    with open(bad_lines / "train.jsonl", "a") as f:
        f.write('{"id": "x", "messages": "oops"}\n')
    not_a_model = tmp_path / "empty-model"
    not_a_model.mkdir()
    cases = [
        ([f"data.path={tmp_path / 'missing'}", f"model.path={tiny_llama}"], "data folder not found"),
        ([f"data.path={bad_lines}", f"model.path={tiny_llama}"], "train.jsonl:9"),
        ([f"data.path={data}", f"model.path={not_a_model}"], "not a model folder"),
        ([f"data.path={data}", f"model.path={tiny_llama}", "lora.rank=0"], "lora.rank"),
        ([f"data.path={data}", f"model.path={tiny_llama}", "train.batch_size=x"], "train.batch_size"),
    ]
    for overrides, needle in cases:
        code, err = _cli(capsys, "train", "--recipe", str(recipe), f"output.dir={out}", *overrides)
        assert code == 2, err
        assert needle in err and err.startswith("octo-mlx: error:") and err.count("\n") == 1, err
        assert not (out / "checkpoints").exists()
    recipe.write_text("lora:\n  rnk: 4\n")
    code, err = _cli(capsys, "train", "--recipe", str(recipe))
    assert code == 2 and "lora.rnk" in err and str(recipe) in err


def test_cli_trains_with_plain_log_lines_when_not_a_tty(tiny_llama, data, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("# octo-mlx train --recipe r.yaml\ntrain:\n  epochs: 1\n")
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "octo_mlx",
            "train",
            "--recipe",
            str(recipe),
            *tiny_overrides(tiny_llama, data, out),
        ],
        env=openblas_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(
        line.startswith("step 1/2") and "loss" in line and "tok/s" in line and "mem" in line for line in lines
    )
    assert "mlx_lm.generate --model" in proc.stdout
    assert (out / "last" / "adapter_config.json").is_file()
    assert "octo-mlx train --recipe" in (out / "recipe.yaml").read_text()


@pytest.mark.slow
def test_done_when_lora_smollm2_on_offline_android_data(tmp_path):
    """The issue's "done when" command on the real default model, cut to 2 steps."""
    env = openblas_env()
    data = tmp_path / "planner"
    synth = [
        sys.executable,
        "-m",
        "octo_mlx",
        "data",
        "synth",
        "--offline",
        "--domain",
        "android",
        "--n",
        "40",
        "--out",
        str(data),
    ]
    subprocess.run(synth, env=env, cwd=ROOT, check=True, capture_output=True, timeout=300)
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "octo_mlx",
        "train",
        "--recipe",
        "recipes/planner-lora-smollm2.yaml",
        f"data.path={data}",
        f"output.dir={out}",
        "train.max_steps=2",
        "data.valid_limit=4",
    ]
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "useful tokens/s" in proc.stdout
    cfg = json.loads((out / "last" / "adapter_config.json").read_text())
    assert cfg["lora_parameters"]["rank"] == 64 and cfg["lora_parameters"]["scale"] == 4.0
    base = json.loads((out / "train.json").read_text())["base_dir"]  # the default model's extended base
    model, tok = load(base, adapter_path=str(out / "last"))
    assert len(tok.encode("<nexa_split>", add_special_tokens=False)) == 1


def test_resuming_past_max_steps_trains_nothing_and_reports_the_steps_done(tiny_llama, data, tmp_path):
    args = tiny_overrides(tiny_llama, data, tmp_path / "run", "train.epochs=2", "train.save_every=1")
    done = train(load_recipe(None, args))
    assert done.steps == 4
    again = train(load_recipe(None, [*args, "train.max_steps=2"]), resume=True)
    assert again.resumed_from == 4 and again.steps == 4  # not 2: four steps are in the weights
    assert again.train_seconds == pytest.approx(done.train_seconds)
    assert json.loads((tmp_path / "run" / "train.json").read_text())["steps"] == 4


# --- hardening: output folders that survive a second run, wrong bases, bad values (#11) ---------


class _Killed(Exception):
    """Stands for SIGKILL at the first step: nothing else is written after it."""


def _kill_at_first_step(event):
    if event.kind == "step":
        raise _Killed


def _digests(folder: Path) -> dict:
    from octo_mlx.files import sha256_file

    return {
        str(p.relative_to(folder)): sha256_file(p, cache=False)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_fresh_run_on_another_base_keeps_the_old_outputs_until_it_finishes(tiny_llama, data, tmp_path):
    from octo_mlx.adapters.folder import load_with_adapter
    from tests.helpers.tiny import build_tiny_model

    other = build_tiny_model(tmp_path / "other", seed=7)  # the same shapes, other weights
    out = tmp_path / "run"
    first = train(load_recipe(None, tiny_overrides(tiny_llama, data, out)))
    first_cfg = json.loads((first.last_dir / "adapter_config.json").read_text())
    before = {name: _digests(out / name) for name in ("base", "last", "best")}
    before["train.json"] = (out / "train.json").read_bytes()

    args = tiny_overrides(other, data, out)
    with pytest.raises(_Killed):
        train(load_recipe(None, args), callback=_kill_at_first_step, resume=False)  # --fresh
    after = {name: _digests(out / name) for name in ("base", "last", "best")}
    after["train.json"] = (out / "train.json").read_bytes()
    assert after == before  # the old run's outputs are whole and untouched
    load_with_adapter(None, out / "last")  # and still load: their own base, fingerprint checked

    second = train(load_recipe(None, args))  # the new run starts again and swaps its outputs in
    assert second.steps > 0 and not (out / ".next").exists()
    cfg = json.loads((out / "last" / "adapter_config.json").read_text())
    assert cfg["model"] == str(other) and cfg["base_fingerprint"] != first_cfg["base_fingerprint"]
    _, _, folder = load_with_adapter(None, out / "best")  # on the extended base of the new model
    assert read_extension(folder)["source_sha256"] == cfg["base_fingerprint"]


def test_an_adapter_refuses_a_base_of_the_same_shapes_with_other_weights(tiny_llama, data, tmp_path):
    from octo_mlx.adapters.folder import load_with_adapter
    from octo_mlx.errors import OctoError, OctoWarning
    from tests.helpers.tiny import build_tiny_model

    other = build_tiny_model(tmp_path / "other", seed=7)
    no_new_rows = "model.new_tokens=[]"  # so the adapter fits both bases' shapes
    result = train(load_recipe(None, tiny_overrides(tiny_llama, data, tmp_path / "run", no_new_rows)))
    with pytest.raises(OctoError, match="trained on other weights"):
        load_with_adapter(other, result.last_dir)
    with pytest.warns(OctoWarning, match="used anyway"):
        load_with_adapter(other, result.last_dir, force=True)


def test_an_adapter_finds_its_base_from_any_folder_and_after_the_run_moves(
    tiny_llama, data, tmp_path, monkeypatch
):
    from octo_mlx.adapters.folder import load_with_adapter

    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    train(load_recipe(None, tiny_overrides(tiny_llama, data, Path("runs/rel"))))  # a relative output.dir
    monkeypatch.chdir(tmp_path)
    moved = tmp_path / "elsewhere" / "rel"
    moved.parent.mkdir()
    (tmp_path / "work" / "runs" / "rel").rename(moved)
    _, _, folder = load_with_adapter(None, moved / "last")
    assert read_extension(folder)["source_sha256"] == weights_sha256(tiny_llama)


def test_a_rerun_of_a_finished_run_rewrites_nothing(tiny_llama, data, tmp_path):
    out = tmp_path / "run"
    args = tiny_overrides(tiny_llama, data, out)
    train(load_recipe(None, args))
    before = {
        p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file() and p.name != ".lock"
    }
    again = train(load_recipe(None, args))
    after = {
        p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file() and p.name != ".lock"
    }
    assert after == before  # train.json keeps the figures of the run that trained
    assert again.peak_memory_gb == json.loads((out / "train.json").read_text())["peak_memory_gb"] > 0


def test_the_start_of_training_states_the_lora_scale_and_a_default_alpha(tiny_llama, data, tmp_path):
    events = []
    args = tiny_overrides(tiny_llama, data, tmp_path / "run", "train.max_steps=1")
    args.remove("lora.alpha=8")  # alpha left out: the default is used, and said
    train(load_recipe(None, args), callback=events.append)
    start = next(e.message for e in events if e.kind == "start")
    assert "lora scale = alpha / rank = 32 / 4 = 8 (alpha 32 is the default" in start


def test_a_second_run_to_a_locked_output_folder_fails_at_once(tiny_llama, data, tmp_path):
    from octo_mlx.errors import OctoError
    from octo_mlx.files import FolderLock

    out = tmp_path / "run"
    with FolderLock(out):
        tic = time.perf_counter()
        with pytest.raises(OctoError, match="in use by another octo-mlx run"):
            train(load_recipe(None, tiny_overrides(tiny_llama, data, out)))
        assert time.perf_counter() - tic < 1.0  # before any data or model loads
    assert not (out / "last").exists()


def test_bad_output_dir_num_layers_and_empty_data_are_one_clear_line(tiny_llama, data, tmp_path):
    from octo_mlx.errors import OctoError

    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(OctoError, match="output.dir is a file"):
        train(load_recipe(None, tiny_overrides(tiny_llama, data, a_file)))
    users = tmp_path / "documents"
    (users / "checkpoints").mkdir(parents=True)  # a user's folder, not a run
    (users / "notes.txt").write_text("mine")
    with pytest.raises(OctoError, match="not a training run"):
        train(load_recipe(None, tiny_overrides(tiny_llama, data, users)))
    assert sorted(p.name for p in users.iterdir()) == ["checkpoints", "notes.txt"]
    with pytest.raises(OctoError, match="lora.num_layers=999 but the model has 2 blocks"):
        train(load_recipe(None, tiny_overrides(tiny_llama, data, tmp_path / "r1", "lora.num_layers=999")))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "train.jsonl").write_text("")
    with pytest.raises(OctoError, match="no examples: the file is empty") as e:
        train(load_recipe(None, tiny_overrides(tiny_llama, empty, tmp_path / "r2")))
    assert e.value.where == str(empty / "train.jsonl")


@pytest.mark.parametrize("arch", ["llama", "phi3"])  # tied embedding; an untied lm_head (its rows too)
def test_a_run_starts_from_a_trained_adapter_exactly(arch, tiny_llama, data, tmp_path):
    from octo_mlx.adapters.lora import adapter_weights
    from octo_mlx.adapters.pack import pack_adapter
    from octo_mlx.train.setup import setup
    from tests.helpers.tiny import build_tiny_model

    model = tiny_llama if arch == "llama" else build_tiny_model(tmp_path / "phi3", "phi3")
    first = train(load_recipe(None, tiny_overrides(model, data, tmp_path / "a", "train.epochs=2")))
    saved = mx.load(str(first.last_dir / "adapters.safetensors"))

    def start(adapter, *extra):
        recipe = load_recipe(
            None, tiny_overrides(model, data, tmp_path / "b", f"model.adapter={adapter}", *extra)
        )
        run = setup(recipe)
        return adapter_weights(run.model, recipe.lora, False, run.new)

    again = start(first.last_dir)
    assert set(again) == set(saved) and any(k.startswith(("lm_head", "model.embed")) for k in saved)
    assert all(np.allclose(np.array(again[k]), np.array(saved[k]), atol=1e-6) for k in saved)
    fresh = setup(load_recipe(None, tiny_overrides(model, data, tmp_path / "c")))
    fresh_w = adapter_weights(fresh.model, fresh.recipe.lora, False, fresh.new)
    assert not all(np.allclose(np.array(fresh_w[k]), np.array(saved[k]), atol=1e-3) for k in saved)
    packed = pack_adapter(first.last_dir, tmp_path / "packed").out  # float16: the shipped form
    from_packed = start(packed)
    assert all(np.allclose(np.array(from_packed[k]), np.array(saved[k]), atol=2e-3, rtol=2e-3) for k in saved)


def test_starting_from_an_adapter_of_another_geometry_is_refused(tiny_llama, data, tmp_path):
    from octo_mlx.errors import OctoError
    from octo_mlx.train.setup import setup

    first = train(load_recipe(None, tiny_overrides(tiny_llama, data, tmp_path / "a", "train.max_steps=1")))

    def recipe(adapter, *extra):
        return load_recipe(
            None, tiny_overrides(tiny_llama, data, tmp_path / "b", f"model.adapter={adapter}", *extra)
        )

    for extra, why in (
        ("lora.rank=8", "rank 4, this recipe has 8"),
        ("model.new_tokens=[]", "table entries"),
        ("lora.layers=[self_attn.q_proj]", "does not train"),
        ("lora.num_layers=1", "num_layers"),
    ):
        with pytest.raises(OctoError, match=why):
            setup(recipe(first.last_dir, extra))
    with pytest.raises(OctoError, match="model.adapter"):
        recipe(first.last_dir, "train.method=full")
    with pytest.raises(OctoError, match="not an adapter folder"):
        setup(recipe(tmp_path))
