"""Training recipes: YAML -> nested frozen dataclasses, resolved in one place.

A recipe has five sections (``model``, ``data``, ``lora``, ``train``, ``output``), each the
fields of one dataclass below. :func:`resolve_recipe` is the single place where precedence is
decided, defaults < recipe file < ``key=value`` overrides, and where every value is coerced
through its field's type (so ``1e-5`` from YAML 1.1 or the command line never stays a string).
An unknown key, a value of the wrong type or an out-of-range value raises OctoError naming the
key and the file before anything loads.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from octo_mlx.adapters.lora import LoraConfig
from octo_mlx.errors import InvalidField, OctoError, check_field
from octo_mlx.files import read_yaml, write_atomic
from octo_mlx.models.tokens import TABLE

METHODS = ("full", "lora", "dora")
SCHEDULES = ("cosine", "linear", "constant")
BATCHING = ("pack", "bucket", "pad")
OPTIMIZERS = ("adamw", "adam", "sgd")


@dataclass(frozen=True)
class ModelConfig:
    """The base model and the entries of the added-token table whose rows this run trains.

    Every run trains on the model's extended base (all table entries in the vocabulary, see
    octo_mlx.models.tokens); ``new_tokens`` names the entries the adapter trains and carries.
    ``adapter`` continues a trained LoRA/DoRA (e.g. on a new draw of data): its factors and rows
    are the start instead of fresh ones, on a fresh optimizer and schedule
    (:func:`octo_mlx.adapters.lora.load_start`).
    """

    path: str | None = None  # local folder or hub id; None = the embedded default (SmolLM2-135M-Instruct)
    new_tokens: tuple[str, ...] = ("<nexa_split>",)  # table entries whose rows train (planner: the split)
    adapter: str | None = None  # start from this trained adapter (same geometry) instead of fresh factors

    def __post_init__(self):
        for t in self.new_tokens:
            check_field(t in TABLE, "model.new_tokens", f"{t!r} is not an entry of the added-token table")


@dataclass(frozen=True)
class DataConfig:
    """Where the planner examples are and which of them to train on."""

    path: str = "data/planner"  # folder with train.jsonl (+ valid.jsonl), the data contract
    limit: int | None = None  # train on a seeded random subset of this many examples (data-size ablation)
    domains: tuple[str, ...] | None = None  # keep only examples whose domains all lie in this set
    max_seq_length: int = 1024  # longer examples are refused, not silently truncated
    valid_limit: int | None = None  # evaluate on at most this many validation examples

    def __post_init__(self):
        check_field(self.limit is None or self.limit > 0, "data.limit", f"must be > 0, got {self.limit}")
        check_field(self.valid_limit is None or self.valid_limit > 0, "data.valid_limit", "must be > 0")
        check_field(
            self.max_seq_length >= 8, "data.max_seq_length", f"must be >= 8, got {self.max_seq_length}"
        )


@dataclass(frozen=True)
class TrainConfig:
    """The schedule and the loop (paper: lr 5e-6, batch 4, warm-up 0.2, 2 epochs)."""

    method: str = "lora"  # full | lora | dora (QLoRA when the base is quantized)
    epochs: int = 2
    max_steps: int | None = None  # stop early after this many optimizer steps (smoke runs)
    learning_rate: float = 5e-6
    schedule: str = "cosine"  # decay after warm-up: cosine | linear | constant
    warmup_ratio: float = 0.2
    batch_size: int = 4  # examples per micro-batch (global, split over ranks)
    grad_accumulation: int = 1  # micro-batches per optimizer step
    optimizer: str = "adamw"
    weight_decay: float = 0.0  # Hugging Face Trainer's default, which the paper used
    max_grad_norm: float = 0.0  # 0 = no clipping
    seed: int = 0
    # bucket: examples of similar length share a micro-batch (97% of rows useful on the planning
    # data, and the cheap causal mask); pack: a micro-batch in one row with a block-diagonal mask
    # (no padding at all, but attention over the whole row: ~15% slower on SmolLM2 here); pad: random
    batching: str = "bucket"
    pad_multiple: int = 16  # round shapes up so the compiled step sees few distinct shapes
    compile: bool = True
    grad_checkpoint: bool = False
    save_every: int = 50  # optimizer steps between resumable checkpoints (and at each epoch end)
    log_every: int = 1

    def __post_init__(self):
        check_field(
            self.method in METHODS, "train.method", f"one of {', '.join(METHODS)}, got {self.method!r}"
        )
        check_field(self.schedule in SCHEDULES, "train.schedule", f"one of {', '.join(SCHEDULES)}")
        check_field(self.batching in BATCHING, "train.batching", f"one of {', '.join(BATCHING)}")
        check_field(self.optimizer in OPTIMIZERS, "train.optimizer", f"one of {', '.join(OPTIMIZERS)}")
        check_field(self.epochs > 0, "train.epochs", f"must be > 0, got {self.epochs}")
        check_field(self.max_steps is None or self.max_steps > 0, "train.max_steps", "must be > 0")
        check_field(self.learning_rate > 0, "train.learning_rate", f"must be > 0, got {self.learning_rate}")
        check_field(0.0 <= self.warmup_ratio < 1.0, "train.warmup_ratio", "must be in [0, 1)")
        check_field(self.batch_size > 0, "train.batch_size", f"must be > 0, got {self.batch_size}")
        check_field(self.grad_accumulation > 0, "train.grad_accumulation", "must be > 0")
        check_field(self.weight_decay >= 0, "train.weight_decay", "must be >= 0")
        check_field(self.max_grad_norm >= 0, "train.max_grad_norm", "must be >= 0")
        check_field(self.pad_multiple > 0, "train.pad_multiple", "must be > 0")
        check_field(self.save_every > 0, "train.save_every", "must be > 0")
        check_field(self.log_every > 0, "train.log_every", "must be > 0")


@dataclass(frozen=True)
class OutputConfig:
    """Where the run writes: OUT/recipe.yaml, OUT/last, OUT/best, OUT/checkpoints."""

    dir: str | None = None  # None = runs/<recipe file name>
    save_best: bool = True  # keep the lowest-validation-loss weights in OUT/best
    keep_checkpoints: int = 1  # resumable checkpoints kept on disk

    def __post_init__(self):
        check_field(self.keep_checkpoints >= 1, "output.keep_checkpoints", "must be >= 1")


@dataclass(frozen=True)
class Recipe:
    """A whole training run. Build it with :func:`load_recipe`, not by hand, to get validation."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def __post_init__(self):
        check_field(
            self.model.adapter is None or self.train.method != "full",
            "model.adapter",
            "starts LoRA or DoRA from a trained adapter; full fine-tuning starts from a model "
            "folder (model.path)",
        )

    @property
    def out_dir(self) -> Path:
        return Path(self.output.dir or "runs/recipe")


# --- coercion -------------------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Turn ``value`` into the field type ``tp`` or raise InvalidField naming ``key``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None or (isinstance(value, str) and value.strip().lower() in ("null", "none", "~")):
            if type(None) in args:
                return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, key)
            except InvalidField as e:
                errors.append(str(e))
        raise InvalidField(errors[-1] if errors else f"{key}: cannot be {value!r}")
    if origin is tuple:
        (item,) = {a for a in typing.get_args(tp) if a is not Ellipsis}
        if isinstance(value, str):  # `key=a,b` on the command line
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise InvalidField(f"{key}: expected a list, got {value!r}")
        return tuple(_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in (
            "true",
            "yes",
            "on",
            "1",
            "false",
            "no",
            "off",
            "0",
        ):
            return value.strip().lower() in ("true", "yes", "on", "1")
        raise InvalidField(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise InvalidField(f"{key}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise InvalidField(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())  # YAML 1.1 reads 1e-5 as a string
            except ValueError:
                pass
        raise InvalidField(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise InvalidField(f"{key}: expected a string, got {value!r}")
    raise InvalidField(f"{key}: unsupported field type {_type_name(tp)}")


def _section_types() -> dict[str, type]:
    hints = typing.get_type_hints(Recipe)
    return {f.name: hints[f.name] for f in dataclasses.fields(Recipe)}


def _merge(tree: dict, updates: dict, where: str, prefix: str = "") -> None:
    """Merge a recipe mapping into ``tree`` (section -> {field: raw value}), refusing unknown keys."""
    sections = _section_types()
    if not isinstance(updates, dict):
        raise OctoError("a recipe must be a mapping of sections (model, data, lora, train, output)", where)
    for section, values in updates.items():
        if section not in sections:
            raise OctoError(f"unknown key '{section}' (sections: {', '.join(sections)})", where)
        if values is None:
            continue
        if not isinstance(values, dict):
            raise OctoError(f"'{section}' must be a mapping, got {values!r}", where)
        known = {f.name for f in dataclasses.fields(sections[section])}
        for key, value in values.items():
            if key not in known:
                raise OctoError(f"unknown key '{section}.{key}' (known: {', '.join(sorted(known))})", where)
            tree.setdefault(section, {})[key] = value


def parse_overrides(overrides: list[str] | tuple[str, ...]) -> dict:
    """``["train.learning_rate=1e-5", "lora.rank=16"]`` -> nested raw mapping (values as YAML scalars)."""
    tree: dict = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) != 2 or not all(parts):
            raise OctoError(
                f"override {item!r} must look like section.key=value, e.g. train.learning_rate=1e-5"
            )
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as e:
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise OctoError(f"override {item!r}: not a valid value ({problem})", "command line") from None
        tree.setdefault(parts[0], {})[parts[1]] = value
    return tree


def resolve_recipe(layers: list[tuple[dict, str]]) -> Recipe:
    """The one place precedence is decided: later layers win, then types are coerced and checked.

    Args:
        layers: (raw mapping, where it came from) pairs, lowest precedence first; defaults are
            implied. ``where`` names the file (or "command line") in error messages.
    """
    sections = _section_types()
    raw: dict[str, dict[str, tuple[Any, str]]] = {}
    for mapping, where in layers:
        tree: dict = {}
        _merge(tree, mapping or {}, where)
        for section, values in tree.items():
            for key, value in values.items():
                raw.setdefault(section, {})[key] = (value, where)
    built = {}
    for section, cls in sections.items():
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for key, (value, where) in raw.get(section, {}).items():
            try:
                kwargs[key] = _coerce(value, hints[key], f"{section}.{key}")
            except InvalidField as e:
                raise OctoError(str(e), where) from None
        try:
            built[section] = cls(**kwargs)
        except InvalidField as e:
            raise OctoError(str(e), _where_set(raw, layers, e)) from None
    try:
        return Recipe(**built)
    except InvalidField as e:  # a rule across sections: named where its first key was set
        raise OctoError(str(e), _where_set(raw, layers, e)) from None


def _where_set(raw: dict, layers: list[tuple[dict, str]], error: InvalidField) -> str:
    """The file (or override) that set the ``section.key`` an InvalidField names; the last layer
    (or "recipe") when the key kept its default."""
    section, _, key = str(error).split(":")[0].partition(".")
    return raw.get(section, {}).get(key, (None, layers[-1][1] if layers else "recipe"))[1]


def load_recipe(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Read a recipe YAML, apply ``key=value`` overrides and validate everything.

    Args:
        path: the recipe file; None starts from the defaults alone.
        overrides: dotted ``section.key=value`` strings, highest precedence.
    """
    layers: list[tuple[dict, str]] = []
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise OctoError("recipe file not found", path)
        mapping = read_yaml(path)  # UTF-8, a key given twice refused, errors at file:line, column
        if mapping is None or mapping == {}:
            raise OctoError(
                "empty recipe: it would train with every default; set at least one section "
                "(model, data, lora, train, output)",
                path,
            )
        layers.append((mapping, str(path)))
    layers.append((parse_overrides(list(overrides)), "command line"))
    recipe = resolve_recipe(layers)
    if recipe.output.dir is None:  # name the run after its recipe, recorded in the saved recipe
        name = path.stem if path is not None else "recipe"
        recipe = dataclasses.replace(recipe, output=dataclasses.replace(recipe.output, dir=f"runs/{name}"))
    return recipe


def recipe_to_dict(recipe: Recipe) -> dict:
    """Plain nested mapping (tuples as lists) for YAML/JSON."""

    def plain(v):
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        return v

    return {
        s: {k: plain(v) for k, v in dataclasses.asdict(getattr(recipe, s)).items()} for s in _section_types()
    }


def dump_recipe(recipe: Recipe, command: str | None = None) -> str:
    """The resolved recipe as YAML, loadable again with :func:`load_recipe`."""
    head = "# Resolved recipe (defaults < recipe file < overrides), written by octo-mlx train.\n"
    if command:
        head += f"# {command}\n"
    if recipe.train.method != "full":
        head += f"# {lora_scale_line(recipe.lora)}\n"
    return head + yaml.safe_dump(recipe_to_dict(recipe), sort_keys=False)


def lora_scale_line(lora: LoraConfig) -> str:
    """The LoRA scale a run uses and where its alpha came from, in one line (a default alpha is
    stated, never silent: the scale is alpha / rank, so rank 4 with the default alpha 32 is 8)."""
    line = f"lora scale = alpha / rank = {lora.alpha:g} / {lora.rank} = {lora.scale:g}"
    default = LoraConfig().alpha
    if lora.alpha == default:
        line += f" (alpha {default:g} is the default, set lora.alpha to choose the scale)"
    return line


def save_recipe(recipe: Recipe, path: str | Path, command: str | None = None) -> Path:
    """Write the resolved recipe next to an output (atomically)."""
    return write_atomic(path, dump_recipe(recipe, command))
