"""Everything a training run needs before its first step: data, base model, added tokens, trainables.

Set-up and loop are apart (as torchtune's ``_setup_*`` methods are): :func:`load` reads the
recipe's data (bad data fails before any model loads), loads the base, adds the recipe's tokens
and encodes the examples; :func:`make_trainable` then makes the method's parameters trainable
(full, or LoRA/DoRA through octo_mlx.adapters) and builds the optimizer and the step. The loop
(octo_mlx.train.loop) writes the base with the added tokens between the two; benchmarks that
time single steps call :func:`setup`, both at once.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlx.core as mx
import mlx.optimizers as optim
import numpy as np

from octo_mlx.adapters import lora, rows
from octo_mlx.errors import OctoError, OctoWarning
from octo_mlx.train import batching
from octo_mlx.train.recipe import Recipe
from octo_mlx.train.step import Stepper


@dataclass
class Run:
    """A training run set up from its recipe.

    After :func:`load`: the data encoded with the base's tokenizer and the base model with the
    recipe's tokens added. After :func:`make_trainable`: its trainable parameters, optimizer and
    step too.
    """

    recipe: Recipe
    world: Any  # mx.distributed group (size 1 without mlx.launch)
    model: Any
    tokenizer: Any
    model_path: Path  # the original model's folder (what adapters name and fingerprint)
    base_path: Path  # the extended base it trains on (every table entry in the vocabulary)
    config: dict  # the extended base's config.json
    new: rows.TrainedRows  # the table entries whose rows this run trains
    train: list[batching.Encoded]
    valid: list[batching.Encoded]
    pad_id: int
    task: str = "plan"  # what the data teaches: "plan" or "action" (the dataset manifest's task)
    slots: Any = None  # action: the SlotMap (function <-> functional token) the outputs record
    domains: tuple[str, ...] = ()  # action: the domains the slot map covers
    adapter_config: dict = field(default_factory=dict)  # adapter_config.json fields; {} for full
    optimizer: Any = None
    stepper: Stepper | None = None

    @property
    def rank(self) -> int:
        return self.world.rank()


@dataclass(frozen=True)
class Examples:
    """What a recipe's data holds: the examples and, for an action dataset, its slot map."""

    train: list
    valid: list
    task: str = "plan"
    slots: Any = None  # octo_mlx.syntax.SlotMap of the dataset's domains (action)
    domains: tuple = ()  # the Domain objects (action)

    def messages(self, example) -> list[dict]:
        """The chat turns an example teaches: a plan, or a call in the slot map's tokens."""
        if self.task == "plan":  # the request as octo_mlx.planner.chat_messages(query, clock=True) writes it
            from octo_mlx.functions.dates import annotate_clock

            user, answer = example.to_record()["messages"]
            return [{**user, "content": annotate_clock(user["content"])}, answer]
        from octo_mlx.functions.simulator import TODAY
        from octo_mlx.syntax import action_messages, format_call

        function = next((d[example.call.function] for d in self.domains if example.call.function in d), None)
        target = format_call(example.call, self.slots, function)
        # The gold dates of offline and teacher data were written against the simulated calendar's
        # today (functions.dates.convention); an imported dataset's against a today it does not
        # record, so its steps are taught as written.
        today = None if example.generator.startswith("import:") else TODAY
        prompt = action_messages(example.step, example.observation, today=today, languages=True)
        return [*prompt, {"role": "assistant", "content": target}]


def read_examples(recipe: Recipe) -> Examples:
    """The recipe's train and valid examples (planner or action data, by the dataset manifest's
    task), filtered and limited as the recipe says; fails before any model loads."""
    from octo_mlx.data import dataset_domains, dataset_task

    folder = Path(recipe.data.path)
    if not folder.is_dir():
        raise OctoError("data folder not found", folder)
    if not (folder / "train.jsonl").is_file():
        raise OctoError("no train.jsonl in the data folder", folder)
    task = dataset_task(folder)
    if task == "action":
        from octo_mlx import action_data
        from octo_mlx.syntax import SlotMap

        read_split = action_data.read_split
    else:
        from octo_mlx.data import read_split
    train = read_split(folder / "train.jsonl")
    if not train:
        raise OctoError("no examples: the file is empty", folder / "train.jsonl")
    valid = read_split(folder / "valid.jsonl") if (folder / "valid.jsonl").is_file() else []
    if recipe.data.domains is not None:
        keep = set(recipe.data.domains)
        train = [e for e in train if set(e.domains) <= keep]
        valid = [e for e in valid if set(e.domains) <= keep]
    if recipe.data.limit is not None:
        if recipe.data.limit > len(train):
            raise OctoError(f"data.limit={recipe.data.limit} but only {len(train)} training examples", folder)
        pick = np.sort(np.random.default_rng(recipe.train.seed).permutation(len(train))[: recipe.data.limit])
        train = [train[i] for i in pick]
    if recipe.data.valid_limit is not None:
        valid = valid[: recipe.data.valid_limit]
    if not train:
        kept = ", ".join(recipe.data.domains or ())
        raise OctoError(f"no training examples left after data.domains=[{kept}]", folder)
    if task == "plan":
        return Examples(train, valid)
    names = sorted({d for e in train for d in e.domains})
    domains = dataset_domains(folder, None, names)  # the manifest's domains, in their order
    for split in ("train", "valid"):  # now the gold calls against their functions' schemas
        if (folder / f"{split}.jsonl").is_file():
            action_data.read_split(folder / f"{split}.jsonl", domains)
    return Examples(train, valid, task, SlotMap.for_domains(domains), tuple(domains))


def encode_examples(examples, tokenizer, max_len: int, where: str, messages=None) -> list[batching.Encoded]:
    """Tokenize each example through the chat template; one longer than ``max_len`` is refused.

    Args:
        messages: ``messages(example)`` -> the chat turns (default: a planner example's).
    """
    messages = messages or (lambda e: e.to_record()["messages"])
    out = []
    for e in examples:
        enc = batching.encode_chat(tokenizer, messages(e))
        if len(enc.tokens) > max_len:
            raise OctoError(
                f"example {e.id} has {len(enc.tokens)} tokens > data.max_seq_length={max_len}", where
            )
        out.append(enc)
    return out


def load_base(recipe: Recipe):
    """(model, tokenizer, original folder, extended base folder, config dict) of the recipe's
    model, extended with the added-token table (built once and cached), float32 on the CPU."""
    from octo_mlx.models.folder import read_config
    from octo_mlx.models.loading import load_model, resolve_model
    from octo_mlx.models.tokens import TABLE, extend_base

    original = resolve_model(recipe.model.path)
    base = extend_base(original, TABLE)
    model, tokenizer, _ = load_model(base)
    return model, tokenizer, original, base, read_config(base)


def load(recipe: Recipe, world=None) -> Run:
    """Read and encode the recipe's data, load the base model and add the recipe's tokens.

    Args:
        recipe: from :func:`octo_mlx.train.recipe.load_recipe`.
        world: the mx.distributed group (default: ``mx.distributed.init()``).
    """
    world = world or mx.distributed.init()
    t = recipe.train
    if t.batch_size % world.size():
        raise OctoError(f"train.batch_size={t.batch_size} must be a multiple of the {world.size()} ranks")
    examples = read_examples(recipe)  # bad data fails here, before the model loads
    model, tokenizer, model_path, base_path, config = load_base(recipe)
    tokens = list(recipe.model.new_tokens)
    if examples.task == "action":
        from octo_mlx.syntax import action_tokens

        tokens += [t for t in action_tokens(examples.slots) if t not in tokens]
    new = rows.trained_rows(tokenizer, tokens)
    max_len, where = recipe.data.max_seq_length, recipe.data.path
    return Run(
        recipe=recipe,
        world=world,
        model=model,
        tokenizer=tokenizer,
        model_path=model_path,
        base_path=base_path,
        config=config,
        new=new,
        train=encode_examples(examples.train, tokenizer, max_len, where, examples.messages),
        valid=encode_examples(examples.valid, tokenizer, max_len, where, examples.messages),
        pad_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
        task=examples.task,
        slots=examples.slots,
        domains=tuple(d.name for d in examples.domains),
    )


def make_optimizer(recipe: Recipe):
    t = recipe.train
    if t.optimizer == "adamw":
        return optim.AdamW(learning_rate=t.learning_rate, weight_decay=t.weight_decay)
    if t.optimizer == "adam":
        return optim.Adam(learning_rate=t.learning_rate)
    return optim.SGD(learning_rate=t.learning_rate, weight_decay=t.weight_decay)


def make_trainable(run: Run) -> Run:
    """Make the method's parameters trainable (full, or LoRA/DoRA) and build the optimizer and step."""
    recipe, model = run.recipe, run.model
    method = recipe.train.method
    if method == "full":
        if lora.is_quantized(model):
            raise OctoError("train.method=full needs a float model; this one is quantized (use lora: QLoRA)")
        model.unfreeze()
        run.adapter_config = {}
    else:  # the same factor initialisation on every rank and on resume
        run.adapter_config = lora.apply_lora(model, recipe.lora, method == "dora", recipe.train.seed, run.new)
        if recipe.model.adapter:  # continue a trained adapter (a checkpoint, when resuming, comes after)
            from octo_mlx.models.folder import weights_sha256

            lora.load_start(
                model,
                recipe.model.adapter,
                recipe.lora,
                method == "dora",
                run.new,
                weights_sha256(run.model_path),
            )
    if recipe.train.grad_checkpoint:
        from mlx_lm.tuner.trainer import grad_checkpoint

        grad_checkpoint(model.layers[0])
    run.optimizer = make_optimizer(recipe)
    run.stepper = Stepper(model, run.optimizer, recipe, run.world)
    return run


def setup(recipe: Recipe, world=None) -> Run:
    """:func:`load` then :func:`make_trainable`: a run ready for its first step."""
    return make_trainable(load(recipe, world))


# --- the memory plan of a recipe ---------------------------------------------------------------


def _recipe_geometry(recipe: Recipe, folder: Path | None):
    """The worst micro-batch of the recipe's training data, tokenized with the model's tokenizer
    (no model loads); an upper bound from data.max_seq_length when there is nothing to measure."""
    from octo_mlx.train.memory import Geometry, data_geometry

    t = recipe.train
    data = Path(recipe.data.path)
    if not (data / "train.jsonl").is_file() or folder is None or not (folder / "tokenizer.json").is_file():
        return Geometry(
            t.batch_size,
            recipe.data.max_seq_length,
            t.batching == "pack" and t.batch_size > 1,
            1.0,
            f"data.max_seq_length={recipe.data.max_seq_length} (an upper bound: no data to measure)",
        )
    from transformers import AutoTokenizer

    examples = read_examples(recipe)
    from octo_mlx.models.tokens import TABLE

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    tokenizer.add_tokens(list(TABLE.tokens))  # as the extended base's tokenizer holds them
    encoded = [batching.encode_chat(tokenizer, examples.messages(e)) for e in examples.train]
    return data_geometry(
        [len(e.tokens) for e in encoded],
        [e.completion_len for e in encoded],
        t.batch_size,
        t.batching,
        t.pad_multiple,
        f"{len(encoded)} examples of {data}, the {t.batch_size} longest in one micro-batch",
    )


def _run_model_config(path: str | None) -> tuple[dict, str, Path | None]:
    """(config, description, local folder or None) of the model a run loads, without loading it:
    as :func:`octo_mlx.train.memory.model_config_for`, except that a hub id that is neither a
    local folder nor a known architecture is fetched (mlx-lm's cache, as the run would fetch it)
    and a missing folder is refused as loading refuses it. A ``model_type`` mlx-lm has no
    architecture for is refused.
    """
    from octo_mlx.models.folder import read_config
    from octo_mlx.models.loading import check_architecture, resolve_model
    from octo_mlx.models.shape import known_config
    from octo_mlx.train.memory import model_config_for

    if path is None or Path(path).expanduser().is_dir() or known_config(str(path)) is not None:
        return model_config_for(path)  # a local folder's model_type is checked there
    folder = resolve_model(path)
    config = read_config(folder)
    check_architecture(config, folder / "config.json")
    return config, str(folder), folder


def plan_recipe(
    recipe: Recipe, seq_len: int | None = None, dtype: str | None = None, memory_gb: float | None = None
):
    """Plan the memory of a recipe on this machine (or on a Mac of ``memory_gb`` GB), before
    anything loads: `octo-mlx train --plan-memory`.

    Args:
        recipe: the run's recipe.
        seq_len: tokens per example; default: measured on the recipe's data with the model's
            tokenizer, else data.max_seq_length.
        dtype: compute dtype; default bfloat16 on a Mac, float32 elsewhere (octo_mlx.runtime.device).
        memory_gb: plan for a Mac with this much unified memory instead of this machine.

    Returns:
        an :class:`octo_mlx.train.memory.RecipePlan`.
    """
    from octo_mlx.train.memory import Geometry, model_config_for, plan_on_machine

    config, where, folder = model_config_for(recipe.model.path)
    t = recipe.train
    if seq_len is not None:
        if seq_len <= 0:
            raise OctoError(f"--seq-len must be > 0, got {seq_len}")
        packed = t.batching == "pack" and t.batch_size > 1
        source = f"--seq-len {seq_len} (half the positions reach the LM head)"
        geometry = Geometry(t.batch_size, seq_len, packed, 0.5, source)
    else:
        geometry = _recipe_geometry(recipe, folder)
    return plan_on_machine(
        config, where, geometry, t.method, recipe.lora.rank, t.grad_checkpoint, t.optimizer, dtype, memory_gb
    )


def check_fits(recipe: Recipe, force: bool = False, ranks: int = 1):
    """Refuse a recipe whose predicted peak exceeds this machine's budget, before any weight is
    read (`octo-mlx train` runs this first; ``--plan-memory`` shows the same plan in parts).

    The plan for data.max_seq_length (arithmetic alone, an upper bound) settles most recipes;
    one over the budget is planned again on its measured data (the model's tokenizer, no
    weights) before it is refused. A machine whose memory the system does not report is not
    checked.

    Args:
        recipe: the run's recipe.
        force: train anyway: the refusal becomes a warning (OctoWarning).
        ranks: processes of the run; each holds ``batch_size / ranks`` examples of a micro-batch
            (ranks sharing one machine are not added up).

    Returns:
        the deciding :class:`octo_mlx.train.memory.RecipePlan`, or None when not checked.
    """
    from octo_mlx.train.memory import GIB, plan_on_machine

    if ranks > 1:  # each rank's share of a micro-batch
        share = dataclasses.replace(recipe.train, batch_size=-(-recipe.train.batch_size // ranks))
        recipe = dataclasses.replace(recipe, train=share)
    config, where, folder = _run_model_config(recipe.model.path)
    t = recipe.train

    def plan(geometry):
        return plan_on_machine(
            config, where, geometry, t.method, recipe.lora.rank, t.grad_checkpoint, t.optimizer
        )

    rp = plan(_recipe_geometry(recipe, None))  # the upper bound: no data read
    if rp.budget.bytes <= 0:
        return None
    if not rp.fits:
        rp = plan(_recipe_geometry(recipe, folder))
    if rp.fits:
        return rp
    g, method = rp.geometry, "full fine-tuning" if t.method == "full" else f"{t.method} r{recipe.lora.rank}"
    message = (
        f"{method} does not fit this machine: predicted peak {rp.plan.total / GIB:.1f} GiB, budget "
        f"{rp.budget.bytes / GIB:.1f} GiB ({rp.budget.source}), batch {g.batch_size} x {g.seq_len} tokens"
    )
    if not force:
        tries = ["train.method=lora"] if t.method == "full" else ["a lower lora.rank"]
        tries += [] if t.grad_checkpoint else ["train.grad_checkpoint=true"]
        tries += ["a smaller train.batch_size"] if t.batch_size > 1 else []
        raise OctoError(
            f"{message}; nothing was loaded. Try {', '.join(tries)} (--plan-memory shows the parts), "
            "or --force to train anyway",
            where,
        )
    warnings.warn(f"{where}: {message}; training anyway (--force)", OctoWarning, stacklevel=2)
    return rp
