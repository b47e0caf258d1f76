"""Model folders mlx-lm cannot load, and recipes too big for the machine: one line through the real
`octo-mlx`, exit code 2, before any weight is read (issue #18, "Bad input")."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import mlx_lm
import pytest

from octo_mlx.errors import OctoError
from octo_mlx.files import HOME_ENV
from octo_mlx.models import info
from octo_mlx.models.shape import KNOWN_CONFIGS
from tests.helpers.cli import run_octo
from tests.helpers.datasets import write_planner_data

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes" / "planner-lora-smollm2.yaml"


def _copy(tiny_llama: Path, folder: Path, **changes) -> Path:
    """A copy of the tiny llama whose config.json has ``changes`` (a value of None removes the key)."""
    shutil.copytree(tiny_llama, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    config = {k: v for k, v in config.items() if v is not None}
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder


def _train(tmp_path: Path, model: Path, *extra: str) -> list[str]:
    data = tmp_path / "data"
    if not data.is_dir():
        write_planner_data(data, n_train=8, n_valid=2)
    overrides = [f"model.path={model}", f"data.path={data}", f"output.dir={tmp_path / 'out'}"]
    return ["train", "--recipe", str(RECIPE), *overrides, *extra]


def _one_line(out, code: int = 2) -> str:
    assert out.returncode == code, (out.returncode, out.stderr)
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    return lines[0]


def _no_weights_loaded(home: Path) -> None:
    """Training loads a base through its extended copy in the cache: none was made (its build
    lock, a hidden folder, may be)."""
    made = [p.name for p in (home / "extended").glob("*") if not p.name.startswith(".")]
    assert made == [], made


def test_a_model_type_mlx_lm_lacks_is_named_with_its_config_json(tiny_llama, tmp_path):
    model = _copy(tiny_llama, tmp_path / "arch", model_type="no_such_arch")
    home = tmp_path / "home"
    expected = (
        f"octo-mlx: error: {model / 'config.json'}: model_type 'no_such_arch': "
        f"mlx-lm {mlx_lm.__version__} has no such architecture"
    )
    for args in (
        ["model", "info", model],
        _train(tmp_path, model),
        _train(tmp_path, model, "--plan-memory"),
        ["memory", "plan", "--model", model],
        ["plan", "Find news about NVIDIA", "--model", model],
    ):
        assert _one_line(run_octo(*args, env={HOME_ENV: str(home)})) == expected, args
    _no_weights_loaded(home)


def test_a_config_that_does_not_match_its_weights_names_the_weight_and_both_shapes(tiny_llama, tmp_path):
    config = json.loads((tiny_llama / "config.json").read_text())
    vocab, hidden = config["vocab_size"], config["hidden_size"]
    model = _copy(tiny_llama, tmp_path / "size", hidden_size=hidden + 32)
    home = tmp_path / "home"
    expected = (
        f"octo-mlx: error: {model}: config.json does not match the weights: model.embed_tokens.weight "
        f"has shape ({vocab}, {hidden}) in model.safetensors, config.json implies ({vocab}, {hidden + 32}) "
        f"(hidden_size={hidden + 32})"
    )
    for args in (
        ["model", "info", model],
        _train(tmp_path, model),
        ["plan", "Find news about NVIDIA", "--model", model],
    ):
        assert _one_line(run_octo(*args, env={HOME_ENV: str(home)})) == expected, args
    _no_weights_loaded(home)


def test_other_configs_mlx_lm_refuses_are_one_error_naming_the_folder(tiny_llama, tmp_path):
    """More blocks than the weights hold, and a field the architecture needs: the same refusal
    (model info reads no weights, so it runs in-process)."""
    layers = _copy(tiny_llama, tmp_path / "layers", num_hidden_layers=3)
    with pytest.raises(OctoError) as e:
        info.model_info(layers)
    assert e.value.where == str(layers)
    assert re.fullmatch(
        r"config\.json does not match the weights: config\.json implies \d+ parameters the weights "
        r"lack \(model\.layers\.2\.\S+ and \d+ more\)",
        e.value.message,
    ), e.value.message
    lacking = _copy(tiny_llama, tmp_path / "lacking", rms_norm_eps=None)
    with pytest.raises(OctoError) as e:
        info.model_info(lacking)
    assert (
        str(e.value) == f"{lacking / 'config.json'}: no rms_norm_eps, which mlx-lm's llama architecture needs"
    )
    assert info.model_info(tiny_llama).model_type == "llama"  # a good folder still passes


def test_a_recipe_too_big_for_the_machine_is_refused_before_any_weight_is_read(tiny_llama, tmp_path):
    """Phi-3 Mini's config with 10x its blocks (~0.6 TB to train in full, beyond any machine) over
    the tiny model's weights: refused from the plan, before loading would find the weights do
    not match; --force trains anyway, with a warning, and so reaches that mismatch."""
    huge = dict(KNOWN_CONFIGS["phi-3-mini"], rms_norm_eps=1e-5)
    huge["num_hidden_layers"] *= 10
    model = tmp_path / "huge"
    shutil.copytree(tiny_llama, model)
    (model / "config.json").write_text(json.dumps(huge))
    home = tmp_path / "home"
    env = {HOME_ENV: str(home)}

    line = _one_line(run_octo(*_train(tmp_path, model, "train.method=full"), env=env))
    m = re.fullmatch(
        rf"octo-mlx: error: {re.escape(str(model))}: full fine-tuning does not fit this machine: "
        r"predicted peak ([\d.]+) GiB, budget ([\d.]+) GiB \((.+?)\), batch \d+ x \d+ tokens; "
        r"nothing was loaded\. Try train\.method=lora, .* or --force to train anyway",
        line,
    )
    assert m and float(m.group(1)) > float(m.group(2)) > 0, line
    _no_weights_loaded(home)
    assert not (tmp_path / "out" / "recipe.yaml").exists()

    out = run_octo(*_train(tmp_path, model, "train.method=full", "--force"), env=env)
    assert out.returncode == 2, out.stderr
    warning, error = out.stderr.splitlines()
    assert warning.startswith(f"octo-mlx: warning: {model}: full fine-tuning does not fit this machine")
    assert warning.endswith("; training anyway (--force)")
    assert error.startswith(f"octo-mlx: error: {model}: config.json does not match the weights: "), error


def test_the_memory_check_passes_what_fits_and_skips_an_unknown_machine(tiny_llama, tmp_path, monkeypatch):
    from octo_mlx.train import memory
    from octo_mlx.train.recipe import load_recipe
    from octo_mlx.train.setup import check_fits

    recipe = load_recipe(RECIPE, [f"model.path={tiny_llama}", f"data.path={tmp_path / 'none'}"])
    assert check_fits(recipe).fits
    monkeypatch.setattr(memory, "machine_budget", lambda: memory.Budget(0, "unknown"))
    assert check_fits(recipe) is None  # the system does not say: not refused
