"""Recipes: precedence, coercion, refusal of unknown keys and bad values, and every shipped recipe."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from octo_mlx.adapters.lora import LoraConfig
from octo_mlx.errors import OctoError
from octo_mlx.train.recipe import Recipe, TrainConfig, dump_recipe, load_recipe, recipe_to_dict, save_recipe

RECIPES = sorted((Path(__file__).parent.parent / "recipes").glob("*.yaml"))


def _write(tmp_path: Path, text: str, name: str = "r.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_defaults_recipe_overrides_precedence(tmp_path):
    p = _write(tmp_path, "train:\n  learning_rate: 3e-4\n  batch_size: 8\nlora:\n  rank: 8\n")
    r = load_recipe(p, ["train.batch_size=2"])
    assert r.train.learning_rate == 3e-4  # recipe beats default
    assert r.train.batch_size == 2  # override beats recipe
    assert r.lora.rank == 8
    assert r.lora.alpha == LoraConfig().alpha  # default kept
    assert r.train.epochs == TrainConfig().epochs


def test_numbers_are_coerced_never_strings(tmp_path):
    # YAML 1.1 (PyYAML) reads "1e-5" as a string: it must still arrive as a float.
    assert isinstance(yaml.safe_load("x: 1e-5")["x"], str)
    r = load_recipe(
        _write(tmp_path, "train:\n  learning_rate: 1e-5\n"), ["lora.alpha=64", "train.epochs=3.0"]
    )
    assert isinstance(r.train.learning_rate, float) and r.train.learning_rate == 1e-5
    assert isinstance(r.lora.alpha, float) and r.lora.alpha == 64.0
    assert isinstance(r.train.epochs, int) and r.train.epochs == 3
    r = load_recipe(None, ["train.compile=false", "data.domains=android,travel", "data.limit=null"])
    assert r.train.compile is False
    assert r.data.domains == ("android", "travel")
    assert r.data.limit is None


def test_scale_is_alpha_over_rank():
    assert LoraConfig(rank=64, alpha=256.0).scale == 4.0
    assert LoraConfig(rank=16, alpha=32.0).scale == 2.0


@pytest.mark.parametrize(
    "text, needle",
    [
        ("train:\n  lerning_rate: 1e-5\n", "train.lerning_rate"),
        ("trainer:\n  epochs: 2\n", "trainer"),
        ("lora:\n  rank: 0\n", "lora.rank"),
        ("lora:\n  rank: -4\n", "lora.rank"),
        ("train:\n  batch_size: four\n", "train.batch_size"),
        ("train:\n  method: qlora\n", "train.method"),
        ("train:\n  compile: maybe\n", "train.compile"),
        ("train:\n  warmup_ratio: 1.5\n", "train.warmup_ratio"),
        ("train: 3\n", "train"),
        ("- a\n- b\n", "mapping"),
    ],
)
def test_bad_recipe_is_one_error_naming_key_and_file(tmp_path, text, needle):
    p = _write(tmp_path, text)
    with pytest.raises(OctoError) as e:
        load_recipe(p)
    assert needle in str(e.value)
    assert str(p) in str(e.value)


def test_bad_override_names_the_command_line(tmp_path):
    with pytest.raises(OctoError, match=r"command line.*lora\.rnk"):
        load_recipe(None, ["lora.rnk=4"])
    with pytest.raises(OctoError, match="section.key=value"):
        load_recipe(None, ["learning_rate=1e-5"])
    with pytest.raises(OctoError, match=r"command line.*train\.epochs"):
        load_recipe(None, ["train.epochs=two"])
    with pytest.raises(OctoError) as e:  # not YAML at all: one line, not a ParserError (#11)
        load_recipe(None, ["train.epochs=[1"])
    assert e.value.where == "command line" and "train.epochs=[1" in e.value.message


def test_missing_recipe_file(tmp_path):
    with pytest.raises(OctoError, match="not found"):
        load_recipe(tmp_path / "nope.yaml")


def test_output_dir_defaults_to_recipe_name(tmp_path):
    r = load_recipe(_write(tmp_path, "lora:\n  rank: 8\n", name="my-run.yaml"))
    assert r.output.dir == "runs/my-run"


def test_resolved_recipe_round_trips(tmp_path):
    r = load_recipe(_write(tmp_path, "train:\n  learning_rate: 2e-5\n"), ["lora.layers=self_attn.q_proj"])
    saved = _write(tmp_path, dump_recipe(r, "octo-mlx train --recipe r.yaml"), name="saved.yaml")
    assert load_recipe(saved) == r
    assert recipe_to_dict(r)["lora"]["layers"] == ["self_attn.q_proj"]


def test_recipe_sections_are_frozen():
    r = Recipe()
    with pytest.raises(AttributeError):
        r.train.learning_rate = 1.0  # type: ignore[misc]


def test_there_are_recipes():
    names = {p.stem for p in RECIPES}
    for needed in (
        "planner-full-phi3-mini",
        "planner-lora-r16-phi3-mini",
        "planner-lora-r64-phi3-mini",
        "planner-full-gemma-2b",
        "planner-full-gemma-7b",
        "planner-lora-smollm2",
        "planner-lora-android",
        "planner-full-n100",
        "planner-full-n1000-smollm2",
    ):
        assert needed in names, needed


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_every_shipped_recipe_parses_and_shows_its_command(path):
    r = load_recipe(path)
    header = [line for line in path.read_text().splitlines() if line.startswith("#")]
    assert any(f"octo-mlx train --recipe recipes/{path.name}" in line for line in header), path.name
    assert r.output.dir == f"runs/{path.stem}"
    if path.stem.endswith("-smollm2"):
        assert r.model.path is None  # runs here, on the embedded default model
    else:
        assert r.model.path in ("microsoft/Phi-3-mini-4k-instruct", "google/gemma-2b", "google/gemma-7b")
    if path.stem.startswith("demo-"):
        return  # `make demo`'s short run: its header says how it departs from the paper
    if path.stem.startswith("action-"):  # Octopus v2's adapter shape; its schedule is ours, said so
        assert r.train.method == "full" or (r.lora.rank, r.lora.alpha) == (16, 32.0)
        assert "Octopus v2" in "\n".join(header)
        return
    # the paper's hyperparameters; a -smollm2 recipe may depart from its learning rate and epochs
    # only where its header says so and points to the runs that chose them
    assert r.train.warmup_ratio == 0.2 and r.train.batch_size == 4
    if (r.train.learning_rate, r.train.epochs) != (5e-6, 2):
        assert path.stem.endswith("-smollm2") and "RESULTS.md" in "\n".join(header), path.name
    if r.train.method == "lora":
        assert (r.lora.rank, r.lora.alpha) in ((16, 32.0), (64, 256.0))


# --- hardening (#11): what a careless recipe gets ------------------------------------------------


@pytest.mark.parametrize("text", ["", "\n\n", "# a comment, nothing else\n", "---\n", "{}\n", "~\n"])
def test_empty_recipe_is_refused_naming_the_file(tmp_path, text):
    p = _write(tmp_path, text)
    with pytest.raises(OctoError) as e:
        load_recipe(p)
    assert e.value.where == str(p) and "empty" in e.value.message


@pytest.mark.parametrize(
    "text, line, key",
    [
        ("train:\n  epochs: 2\n  batch_size: 4\n  epochs: 3\n", 4, "epochs"),
        ("lora:\n  rank: 4\ntrain:\n  epochs: 1\nlora:\n  alpha: 8\n", 5, "lora"),
        ("train: {epochs: 2, epochs: 3}\n", 1, "epochs"),
    ],
)
def test_a_key_given_twice_is_refused_naming_file_line_and_key(tmp_path, text, line, key):
    p = _write(tmp_path, text)
    with pytest.raises(OctoError) as e:
        load_recipe(p)
    assert e.value.where == f"{p}:{line}"
    assert repr(key) in e.value.message and "twice" in e.value.message


def test_yaml_errors_give_line_and_column(tmp_path):
    text = "train:\n  epochs: 2\n  batch_size: 4: 5\n"
    p = _write(tmp_path, text)
    with pytest.raises(OctoError) as e:
        load_recipe(p)
    bad_line = text.splitlines()[2]
    assert e.value.where == f"{p}:3"
    assert f"column {bad_line.index(': 5') + 1}" in e.value.message


def test_recipe_that_is_not_utf8_names_file_and_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_bytes("train:\n  epochs: 2\n  # café\n".encode("latin-1"))
    with pytest.raises(OctoError) as e:
        load_recipe(p)
    assert e.value.where == f"{p}:3" and "UTF-8" in e.value.message


def test_recipe_that_is_not_utf8_is_one_line_exit_2_through_the_cli(tmp_path):
    from tests.helpers.cli import run_octo

    p = tmp_path / "bad.yaml"
    p.write_bytes(b"lora:\n  rank: 4\n  alpha: 8 # \xff\n")
    out = run_octo("train", "--recipe", str(p), cwd=tmp_path, timeout=120)
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and f"{p}:3" in out.stderr and "Traceback" not in out.stderr


def test_a_lora_without_alpha_states_the_default_alpha_and_scale_it_resolves_to(tmp_path):
    r = load_recipe(_write(tmp_path, "lora:\n  rank: 4\n"))
    assert r.lora.alpha == LoraConfig().alpha  # the stated default, not an error
    saved = save_recipe(r, tmp_path / "out" / "recipe.yaml", "octo-mlx train --recipe r.yaml")
    text = saved.read_text()
    assert yaml.safe_load(text)["lora"]["alpha"] == r.lora.alpha  # the value used, shown explicitly
    header = [line for line in text.splitlines() if line.startswith("#")]
    said = [line for line in header if "scale" in line]
    assert said and f"{r.lora.scale:g}" in said[0] and "default" in said[0]
    # an alpha the recipe sets is not called a default
    r = load_recipe(_write(tmp_path, "lora:\n  rank: 4\n  alpha: 8\n"))
    said = [line for line in dump_recipe(r).splitlines() if line.startswith("#") and "scale" in line]
    assert said and f"{r.lora.scale:g}" in said[0] and "default" not in said[0]
    assert load_recipe(_write(tmp_path, dump_recipe(r), name="again.yaml")) == r
