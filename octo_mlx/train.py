"""Fine-tune a planner in MLX: full, LoRA, DoRA (QLoRA on a quantized base), resumable, data-parallel.

Built around mlx-lm (its models, ``linear_to_lora_layers``, its adapter format); our own loop
adds what it lacks: epochs with a warm-up ratio, completion-only loss computed only where it
counts (hidden states of completion positions are gathered before the LM head), packing, new
vocabulary rows, resumable checkpoints and a token-exact data-parallel step.
The loss and the optimizer step live in :mod:`octo_mlx.step`.
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

from octo_mlx import batching, checkpoint, tokens
from octo_mlx.config import ALL_LINEAR, Recipe, dump_recipe, recipe_to_dict, save_recipe
from octo_mlx.errors import OctoError
from octo_mlx.step import Stepper, all_sum, evaluate, learning_rate_at

# Recipe fields that may change between a run and its resumption without changing its numbers.
RESUMABLE_CHANGES = {
    ("train", "max_steps"),
    ("train", "save_every"),
    ("train", "log_every"),
    ("output", "dir"),
}


@dataclass(frozen=True)
class TrainEvent:
    """A progress report. kind: start | step | eval | checkpoint | done."""

    kind: str
    step: int
    total_steps: int
    epoch: int
    epochs: int
    loss: float | None = None
    learning_rate: float | None = None
    tokens_per_s: float | None = None  # useful (non-padding) tokens per second, all ranks
    peak_memory_gb: float | None = None
    val_loss: float | None = None
    message: str = ""


@dataclass(frozen=True)
class TrainResult:
    """What a finished run produced and measured."""

    out_dir: Path
    last_dir: Path
    best_dir: Path | None
    base_dir: Path  # the model to load the adapter on (the input model, or OUT/base with new tokens)
    method: str
    steps: int
    total_steps: int
    final_loss: float | None  # training loss of the last step
    val_losses: list = field(default_factory=list)  # (step, loss) after each epoch and at the end
    best_val_loss: float | None = None
    useful_tokens: int = 0
    padded_tokens: int = 0
    train_seconds: float = 0.0
    useful_tokens_per_s: float = 0.0
    peak_memory_gb: float = 0.0  # MLX allocator peak
    peak_rss_gb: float = 0.0  # process resident set peak
    resumed_from: int | None = None
    new_tokens: tuple = ()
    rank: int = 0  # this process's rank (only rank 0 writes and reports)


def result_summary(result: TrainResult, recipe: Recipe) -> dict:
    """The run's figures as JSON-ready values (written to OUT/train.json)."""
    d = {k: (str(v) if isinstance(v, Path) else v) for k, v in result.__dict__.items() if k != "rank"}
    d["new_tokens"] = list(result.new_tokens)
    d["val_losses"] = [list(v) for v in result.val_losses]
    per_step = result.train_seconds / max(result.steps, 1)  # a max_steps run still gives an estimate
    d["seconds_per_epoch"] = per_step * result.total_steps / recipe.train.epochs
    d["recipe"] = recipe_to_dict(recipe)
    return d


def _resolve_model(recipe: Recipe) -> Path:
    try:
        from octo_mlx import models
    except ImportError:  # the model stage not installed yet: plain paths still work
        models = None
    if models is not None and hasattr(models, "resolve_model"):
        return Path(models.resolve_model(recipe.model.path))
    if recipe.model.path is None:
        raise OctoError("no default model available (octo_mlx.models missing): set model.path")
    path = Path(recipe.model.path)
    if path.exists():
        return path
    from mlx_lm.utils import _download

    try:
        return Path(_download(recipe.model.path))
    except Exception as e:
        raise OctoError(
            f"cannot fetch model: {type(e).__name__}: {str(e).splitlines()[0]}", recipe.model.path
        ) from None


def load_base(recipe: Recipe):
    """(model, tokenizer, model folder, config dict), float32 on the CPU (runtime policy)."""
    from mlx_lm.utils import load

    from octo_mlx.runtime import prepare_model

    path = _resolve_model(recipe)
    where = recipe.model.path or str(path)
    if not path.is_dir() or not (path / "config.json").is_file():
        raise OctoError("not a model folder (no config.json)", where)
    if not any(path.glob("model*.safetensors")):
        raise OctoError("not a model folder (no model*.safetensors weights)", where)
    try:
        model, tokenizer = load(str(path))
    except Exception as e:
        raise OctoError(f"cannot load model: {type(e).__name__}: {str(e).splitlines()[0]}", where) from None
    prepare_model(model)
    config = json.loads((path / "config.json").read_text())
    return model, tokenizer, path, config


def lora_keys(model, layers: tuple[str, ...]) -> list[str]:
    """Module keys inside one block to adapt: every linear layer of attention and MLP for all-linear."""
    found: set[str] = set()
    for block in model.layers:
        for k, m in block.named_modules():
            if isinstance(m, (nn.Linear, nn.QuantizedLinear)) or hasattr(m, "to_lora"):
                found.add(k)
    if layers == (ALL_LINEAR,):
        return sorted(found)
    missing = [k for k in layers if k not in found]
    if missing:
        raise OctoError(
            f"lora.layers: no linear layer {missing[0]!r} in a block (have: {', '.join(sorted(found))})"
        )
    return list(layers)


def is_quantized(model) -> bool:
    return any(isinstance(m, (nn.QuantizedLinear, nn.QuantizedEmbedding)) for _, m in model.named_modules())


def setup_trainable(model, recipe: Recipe, new: tokens.NewTokens) -> dict:
    """Freeze/convert the model for the method; returns the adapter_config (LoRA) or {} (full)."""
    from mlx_lm.tuner.utils import linear_to_lora_layers

    method, lora = recipe.train.method, recipe.lora
    if method == "full":
        if is_quantized(model):
            raise OctoError("train.method=full needs a float model; this one is quantized (use lora: QLoRA)")
        model.unfreeze()
        return {}
    keys = lora_keys(model, lora.layers)
    model.freeze()
    params = {"rank": lora.rank, "scale": lora.scale, "dropout": lora.dropout, "keys": keys}
    mx.random.seed(recipe.train.seed)  # the same LoRA init on every rank and on resume
    linear_to_lora_layers(model, lora.num_layers, params, use_dora=method == "dora")
    tokens.attach_new_rows(model, new)
    saved_keys = keys + (tokens.new_rows_keys(model) if new.ids else [])
    return {
        "fine_tune_type": method,
        "num_layers": lora.num_layers,
        "lora_parameters": dict(params, keys=saved_keys, alpha=lora.alpha),
    }


def adapter_weights(model, recipe: Recipe, new: tokens.NewTokens) -> dict[str, mx.array]:
    """The trainable LoRA/DoRA tensors, plus the new rows written as LoRA factors."""
    weights = {k: v for k, v in tree_flatten(model.trainable_parameters()) if not k.endswith(".delta")}
    if new.ids:
        weights.update(
            tokens.new_rows_as_lora(
                model, new, recipe.lora.rank, recipe.lora.scale, recipe.train.method == "dora"
            )
        )
    return weights


def make_optimizer(recipe: Recipe):
    t = recipe.train
    if t.optimizer == "adamw":
        return optim.AdamW(learning_rate=t.learning_rate, weight_decay=t.weight_decay)
    if t.optimizer == "adam":
        return optim.Adam(learning_rate=t.learning_rate)
    return optim.SGD(learning_rate=t.learning_rate, weight_decay=t.weight_decay)


# --- data -----------------------------------------------------------------------------------


def read_examples(recipe: Recipe) -> tuple[list, list]:
    """(train, valid) PlanExamples, filtered and limited as the recipe says; fails before any model loads."""
    from octo_mlx.data import read_split

    folder = Path(recipe.data.path)
    if not folder.is_dir():
        raise OctoError("data folder not found", folder)
    if not (folder / "train.jsonl").is_file():
        raise OctoError("no train.jsonl in the data folder", folder)
    train = read_split(folder / "train.jsonl")
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
        raise OctoError("no training examples left after data.domains", folder)
    return train, valid


def encode_examples(examples, tokenizer, max_len: int, where: str) -> list[batching.Encoded]:
    out = []
    for e in examples:
        enc = batching.encode_chat(tokenizer, e.to_record()["messages"])
        if len(enc.tokens) > max_len:
            raise OctoError(
                f"example {e.id} has {len(enc.tokens)} tokens > data.max_seq_length={max_len}", where
            )
        out.append(enc)
    return out


# --- the step -------------------------------------------------------------------------------


def _memory() -> tuple[float, float]:
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    rss = rss_kb / 1e9 if rss_kb > 1e10 else rss_kb * 1024 / 1e9
    return mx.get_peak_memory() / 1e9, rss


def _check_resumable(out: Path, recipe: Recipe) -> None:
    saved = out / "recipe.yaml"
    if not saved.is_file():
        return
    from octo_mlx.config import load_recipe

    old, new = recipe_to_dict(load_recipe(saved)), recipe_to_dict(recipe)
    for section, values in new.items():
        for key, value in values.items():
            if (section, key) not in RESUMABLE_CHANGES and old[section][key] != value:
                was = old[section][key]
                raise OctoError(
                    f"holds a checkpoint of another recipe ({section}.{key}: {was!r} -> {value!r});"
                    " choose another output.dir or start fresh (--fresh)",
                    out,
                )


# --- the loop -------------------------------------------------------------------------------


def train(
    recipe: Recipe,
    callback: Callable[[TrainEvent], None] | None = None,
    resume: bool | None = None,
    command: str | None = None,
) -> TrainResult:
    """Train as the recipe says; every rank of an mlx.launch group calls this.

    Args:
        recipe: from :func:`octo_mlx.config.load_recipe`.
        callback: receives TrainEvents (on rank 0 only).
        resume: True = continue from OUT's last checkpoint (error if none); False = start
            fresh (old checkpoints are deleted); None = continue when there is one.
        command: the command line, recorded in the saved recipe's header.
    """
    world = mx.distributed.init()
    rank, size = world.rank(), world.size()
    t, out = recipe.train, recipe.out_dir
    emit = callback if (callback is not None and rank == 0) else (lambda e: None)
    if t.batch_size % size:
        raise OctoError(f"train.batch_size={t.batch_size} must be a multiple of the {size} ranks")

    train_ex, valid_ex = read_examples(recipe)  # bad data fails here, before the model loads
    model, tokenizer, model_path, config = load_base(recipe)
    new = tokens.add_tokens(model, tokenizer, recipe.model.new_tokens, checkpoint.stored_dtype(model_path))
    train_enc = encode_examples(train_ex, tokenizer, recipe.data.max_seq_length, recipe.data.path)
    valid_enc = encode_examples(valid_ex, tokenizer, recipe.data.max_seq_length, recipe.data.path)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ck = checkpoint.latest_checkpoint(out) if resume is not False else None
    if resume and ck is None:
        raise OctoError("--resume: no checkpoint in the output folder", out)
    if ck is not None:
        _check_resumable(out, recipe)
    base_dir = out / "base" if (new.ids and t.method != "full") else model_path
    if rank == 0:
        if ck is None:
            checkpoint.clear_checkpoints(out)
        if base_dir != model_path and (ck is None or not (base_dir / "config.json").is_file()):
            # the base the adapter loads on: grown rows written out, or the original weights linked
            checkpoint.write_base(base_dir, model_path, model if new.resized else None, tokenizer, config)
    adapter_config = setup_trainable(model, recipe, new)
    if t.grad_checkpoint:
        from mlx_lm.tuner.trainer import grad_checkpoint

        grad_checkpoint(model.layers[0])
    optimizer = make_optimizer(recipe)
    stepper = Stepper(model, optimizer, recipe, world)

    spe = batching.steps_per_epoch(len(train_enc), t.batch_size, t.grad_accumulation)
    total = spe * t.epochs
    stop = min(total, t.max_steps or total)
    state = {
        "best_val_loss": None,
        "val_losses": [],
        "final_loss": None,
        "useful_tokens": 0,
        "padded_tokens": 0,
        "train_seconds": 0.0,
    }
    start, resumed_from = 0, None
    if ck is not None:
        state.update(checkpoint.load_checkpoint(ck, model, optimizer))
        start = resumed_from = state["step"]
        stop = max(stop, start)  # max_steps below the checkpoint: nothing to train, the steps stay done
    recipe_yaml = dump_recipe(recipe, command)
    if rank == 0:
        save_recipe(recipe, out / "recipe.yaml", command)

    trainable = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    emit(
        TrainEvent(
            "start",
            start,
            stop,
            start // spe,
            t.epochs,
            message=(
                f"{t.method} on {model_path.name}: {len(train_enc)} train / {len(valid_enc)} valid examples, "
                f"{trainable / 1e6:.2f}M trainable parameters, {stop} steps ({spe}/epoch), {size} rank(s)"
                + (
                    f", new tokens {list(new.tokens)} ({'rows grown' if new.resized else 'spare rows'})"
                    if new.ids
                    else ""
                )
                + (f", resumed at step {start}" if resumed_from is not None else "")
            ),
        )
    )

    def save_outputs(folder: Path) -> None:
        if rank != 0:
            return
        if t.method == "full":
            checkpoint.save_full_model(folder, model, tokenizer, config, model_path, recipe_yaml)
        else:
            cfg = dict(
                adapter_config,
                model=str(model_path),
                base_model=str(base_dir),
                new_tokens=list(new.tokens),
                recipe=recipe_to_dict(recipe),
            )
            checkpoint.save_adapter(folder, adapter_weights(model, recipe, new), cfg, recipe_yaml)

    model.train()
    plans: dict[int, list] = {}
    window_tokens, window_time = 0, 0.0
    for step in range(start, stop):
        epoch, i = divmod(step, spe)
        if epoch not in plans:
            plans = {
                epoch: batching.plan_epoch(
                    [len(e.tokens) for e in train_enc],
                    t.batch_size,
                    t.grad_accumulation,
                    t.seed,
                    epoch,
                    t.batching,
                )
            }
        tic = time.perf_counter()
        mx.random.seed(t.seed * 1_000_003 + step)  # dropout noise depends on the step only: resumable
        loss_sum, n_sum, useful, padded, grads = 0.0, 0.0, 0, 0, None
        for micro in plans[epoch][i]:
            mine = batching.shard(micro, rank, size)
            if mine:
                b = batching.collate(
                    [train_enc[j] for j in mine], t.batching == "pack", t.pad_multiple, pad_id
                )
                loss, n, g = stepper.grads(b)
                useful, padded = useful + b.n_tokens, padded + b.padded_tokens
            else:  # a short last batch can leave a rank empty; it still joins the all-sum
                loss, n, g = stepper.zeros()
            grads = g if grads is None else tree_map(mx.add, grads, g)
            loss_sum, n_sum = loss_sum + loss, n_sum + n
            mx.eval(grads, loss_sum, n_sum)
        loss_total, n_total, useful, padded = all_sum([float(loss_sum), float(n_sum), useful, padded], world)
        lr = learning_rate_at(step, total, t.learning_rate, t.warmup_ratio, t.schedule)
        stepper.update(grads, n_total, lr)
        mx.eval(model.parameters(), optimizer.state)
        dt = time.perf_counter() - tic
        state["final_loss"] = loss_total / max(n_total, 1.0)
        state["useful_tokens"] += int(useful)
        state["padded_tokens"] += int(padded)
        state["train_seconds"] += dt
        window_tokens, window_time = window_tokens + useful, window_time + dt
        done = step + 1
        if done % t.log_every == 0 or done == stop:
            peak, _ = _memory()
            emit(
                TrainEvent(
                    "step",
                    done,
                    stop,
                    epoch,
                    t.epochs,
                    loss=state["final_loss"],
                    learning_rate=lr,
                    tokens_per_s=window_tokens / max(window_time, 1e-9),
                    peak_memory_gb=peak,
                )
            )
            window_tokens, window_time = 0, 0.0
        epoch_end = done % spe == 0
        if epoch_end or done == stop:
            val = evaluate(model, valid_enc, recipe, pad_id, world)
            if val is not None:
                state["val_losses"].append([done, val])
                emit(TrainEvent("eval", done, stop, epoch, t.epochs, val_loss=val))
                best = state["best_val_loss"]
                if recipe.output.save_best and (best is None or val < best):
                    state["best_val_loss"] = val
                    save_outputs(out / "best")
        if rank == 0 and (done % t.save_every == 0 or epoch_end or done == stop):
            path = checkpoint.save_checkpoint(
                out, done, model, optimizer, dict(state, epoch=epoch), recipe.output.keep_checkpoints
            )
            emit(TrainEvent("checkpoint", done, stop, epoch, t.epochs, message=str(path)))

    save_outputs(out / "last")
    peak, rss = _memory()
    best_dir = out / "best" if (out / "best").exists() else None
    result = TrainResult(
        out_dir=out,
        last_dir=out / "last",
        best_dir=best_dir,
        base_dir=base_dir,
        method=t.method,
        steps=stop,
        total_steps=total,
        final_loss=state["final_loss"],
        val_losses=[tuple(v) for v in state["val_losses"]],
        best_val_loss=state["best_val_loss"],
        useful_tokens=state["useful_tokens"],
        padded_tokens=state["padded_tokens"],
        train_seconds=state["train_seconds"],
        useful_tokens_per_s=state["useful_tokens"] / max(state["train_seconds"], 1e-9),
        peak_memory_gb=peak,
        peak_rss_gb=rss,
        resumed_from=resumed_from,
        new_tokens=new.tokens,
        rank=rank,
    )
    if rank == 0:
        checkpoint.write_summary(out / "train.json", result_summary(result, recipe))
    emit(
        TrainEvent(
            "done",
            stop,
            stop,
            (stop - 1) // spe if stop else 0,
            t.epochs,
            loss=result.final_loss,
            tokens_per_s=result.useful_tokens_per_s,
            peak_memory_gb=peak,
            val_loss=state["val_losses"][-1][1] if state["val_losses"] else None,
            message=f"saved {result.last_dir}",
        )
    )
    return result
