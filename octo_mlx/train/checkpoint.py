"""What a training run writes: resumable checkpoints and the outputs people load.

Layout of a run folder OUT:

- ``recipe.yaml``: the resolved recipe.
- ``last/`` and ``best/`` (lowest validation loss): for LoRA/DoRA an mlx-lm adapter folder
  (``adapter_config.json`` + ``adapters.safetensors``, plus ``recipe.yaml``); for full fine-tuning
  a complete model folder (config, weights, tokenizer).
- No base: a LoRA/DoRA adapter loads on the extended base of its original model (octo_mlx.models.
  tokens), which octo-mlx rebuilds from the original anywhere; ``octo-mlx model extend --out DIR``
  writes it for plain mlx-lm: ``mlx_lm.generate --model DIR --adapter-path OUT/last``.
- ``checkpoints/step-NNNNNNN/`` + ``checkpoints/LATEST``: trainable weights, optimizer state and
  loop state. Written to a hidden temporary folder, fsynced, renamed, then LATEST is replaced:
  a run killed at any instant leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

from octo_mlx.errors import OctoError
from octo_mlx.files import fresh_tmp, read_json_object, read_text, replace_dir, write_atomic
from octo_mlx.models.default import MARKER
from octo_mlx.models.tokens import TOKENIZER_FILES
from octo_mlx.syntax import TASK_FILE

CHECKPOINTS = "checkpoints"
LATEST = "LATEST"


def write_summary(path: Path, summary: dict) -> None:
    """Write a run's JSON summary in one piece (a reader never sees half a file)."""
    write_atomic(path, json.dumps(summary, indent=2) + "\n")


# --- resumable checkpoints ------------------------------------------------------------------


def save_checkpoint(out: Path, step: int, model: nn.Module, optimizer, state: dict, keep: int = 1) -> Path:
    """Write a resumable checkpoint of ``step`` atomically and point LATEST at it.

    Args:
        out: the run folder.
        step: optimizer steps done.
        model: trainable parameters are saved (LoRA factors, new rows, or all weights).
        optimizer: its whole state (moments, step count, learning rate).
        state: JSON-able loop state (epoch, best validation loss, history...).
        keep: how many checkpoints to keep.
    """
    root = Path(out) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:07d}"
    tmp = fresh_tmp(final)
    mx.save_safetensors(str(tmp / "trainable.safetensors"), dict(tree_flatten(model.trainable_parameters())))
    mx.save_safetensors(str(tmp / "optimizer.safetensors"), dict(tree_flatten(optimizer.state)))
    (tmp / "state.json").write_text(json.dumps(dict(state, step=step), indent=2))
    replace_dir(tmp, final)
    write_atomic(root / LATEST, final.name + "\n")
    done = sorted(p for p in root.glob("step-*") if p.is_dir())
    for old in done[:-keep]:
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(out: Path) -> Path | None:
    """The checkpoint LATEST points at, or None."""
    pointer = Path(out) / CHECKPOINTS / LATEST
    if not pointer.is_file():
        return None
    path = pointer.parent / read_text(pointer).strip()
    return path if (path / "state.json").is_file() else None


def load_checkpoint(path: Path, model: nn.Module, optimizer) -> dict:
    """Restore trainable weights and optimizer state; returns the loop state."""
    weights = mx.load(str(path / "trainable.safetensors"))
    expected = dict(tree_flatten(model.trainable_parameters()))
    if set(weights) != set(expected):
        raise OctoError("checkpoint does not match this model/method (different trainable parameters)", path)
    model.load_weights(list(weights.items()), strict=False)
    optimizer.init(model.trainable_parameters())
    saved = mx.load(str(path / "optimizer.safetensors"))
    current = dict(tree_flatten(optimizer.state))
    current.update(saved)
    optimizer.state = tree_unflatten(list(current.items()))
    mx.eval(model.parameters(), optimizer.state)
    return read_json_object(path / "state.json")


def clear_checkpoints(out: Path) -> None:
    shutil.rmtree(Path(out) / CHECKPOINTS, ignore_errors=True)


# --- outputs --------------------------------------------------------------------------------


def save_tokenizer(tokenizer, folder: Path) -> None:
    hf = getattr(tokenizer, "_tokenizer", tokenizer)
    hf.save_pretrained(str(folder))


def _copy_extras(source: Path, dest: Path) -> None:
    """Copy the small files of a model folder (generation config, licence...), not weights or tokenizer."""
    for f in source.iterdir():
        if (
            f.is_file()
            and f.name not in TOKENIZER_FILES
            and f.name != MARKER  # the default model's import marker: OUT/base is not an import
            and not f.name.startswith("model")
            and f.suffix != ".gguf"
        ):
            shutil.copy2(f, dest / f.name)


def save_full_model(
    folder: Path,
    model: nn.Module,
    tokenizer,
    config: dict,
    source: Path,
    recipe_yaml: str,
    task: dict | None = None,
) -> Path:
    """Write a complete model folder (config, weights, tokenizer, recipe) atomically; ``task``
    (an action model's task, slot map and domains) goes to ``octo-mlx-task.json``."""
    from mlx_lm.utils import save_config, save_model

    tmp = fresh_tmp(folder)
    _copy_extras(source, tmp)
    save_model(tmp, model)
    config = dict(config, vocab_size=int(model.model.embed_tokens.weight.shape[0]))
    save_config(config, tmp / "config.json")
    save_tokenizer(tokenizer, tmp)
    (tmp / "recipe.yaml").write_text(recipe_yaml)
    if task:
        (tmp / TASK_FILE).write_text(json.dumps(task, indent=2) + "\n")
    replace_dir(tmp, folder)
    return folder
