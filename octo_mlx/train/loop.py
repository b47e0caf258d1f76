"""Fine-tune a planner in MLX: full, LoRA, DoRA (QLoRA on a quantized base), resumable, data-parallel.

Built around mlx-lm (its models, ``linear_to_lora_layers``, its adapter format); our own loop
adds what it lacks: epochs with a warm-up ratio, completion-only loss computed only where it
counts (hidden states of completion positions are gathered before the LM head), packing, new
vocabulary rows, resumable checkpoints and a token-exact data-parallel step.
The set-up lives in :mod:`octo_mlx.train.setup`, the loss and the optimizer step in
:mod:`octo_mlx.train.step`; this module runs the epochs and writes what they produce.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_flatten, tree_map

from octo_mlx.adapters.folder import save_adapter
from octo_mlx.adapters.lora import adapter_weights
from octo_mlx.errors import OctoError
from octo_mlx.files import FolderLock, fsync_dir, read_json_object, replace_dir
from octo_mlx.models.folder import weights_sha256
from octo_mlx.models.tokens import TABLE
from octo_mlx.runtime.device import peak_rss_bytes
from octo_mlx.syntax import CLOCK, DATES, LANGUAGES
from octo_mlx.train import batching, checkpoint
from octo_mlx.train.recipe import (
    Recipe,
    dump_recipe,
    load_recipe,
    lora_scale_line,
    recipe_to_dict,
    save_recipe,
)
from octo_mlx.train.setup import Run, check_fits, load, make_trainable
from octo_mlx.train.step import all_sum, learning_rate_at, validation_loss

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
    base_dir: Path  # the model the outputs load on: the extended base (the adapter finds it itself)
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


def _memory() -> tuple[float, float]:
    """(MLX allocator peak, process resident-set peak), in GB."""
    return mx.get_peak_memory() / 1e9, peak_rss_bytes() / 1e9


def _find_checkpoint(out: Path, recipe: Recipe, resume: bool | None) -> Path | None:
    """The checkpoint to resume from (None: start fresh); refuses one made by another recipe."""
    ck = checkpoint.latest_checkpoint(out) if resume is not False else None
    if resume and ck is None:
        raise OctoError("--resume: no checkpoint in the output folder", out)
    if ck is not None and (out / "recipe.yaml").is_file():
        old, new = recipe_to_dict(load_recipe(out / "recipe.yaml")), recipe_to_dict(recipe)
        for section, values in new.items():
            for key, value in values.items():
                if (section, key) not in RESUMABLE_CHANGES and old[section][key] != value:
                    was = old[section][key]
                    raise OctoError(
                        f"holds a checkpoint of another recipe ({section}.{key}: {was!r} -> {value!r});"
                        " choose another output.dir or start fresh (--fresh)",
                        out,
                    )
    return ck


def _start_message(run: Run, stop: int, per_epoch: int, start: int, resumed: bool) -> str:
    t, new = run.recipe.train, run.new
    trainable = sum(v.size for _, v in tree_flatten(run.model.trainable_parameters()))
    message = (
        f"{t.method} on {run.model_path.name}: {len(run.train)} train / {len(run.valid)} valid examples, "
        f"{trainable / 1e6:.2f}M trainable parameters, {stop} steps ({per_epoch}/epoch), "
        f"{run.world.size()} rank(s)"
    )
    if t.method != "full":
        message += f", {lora_scale_line(run.recipe.lora)}"
    if new.ids:
        shown = list(new.tokens[:3]) + (["..."] if len(new.tokens) > 3 else [])
        message += f", trained rows of {len(new.tokens)} table entries {shown}"
    return message + (f", resumed at step {start}" if resumed else "")


def _save_outputs(run: Run, folder: Path, base_sha: str, recipe_yaml: str) -> None:
    """OUT/last or OUT/best: a full model folder, or an adapter folder naming its base (rank 0).

    An adapter names the original model (``model``, absolute), its weights fingerprint
    (``base_fingerprint``, checked whenever the adapter loads) and the added-token table
    (``table``): it loads on the extended base of that model and table, rebuilt from the original
    on any machine, and carries the rows of the entries it trained (``tokens``).

    Args:
        folder: where (OUT/last, OUT/best, or their staged twins in OUT/.next).
        base_sha: the original model's weights fingerprint.
    """
    if run.rank != 0:
        return
    recipe, t = run.recipe, run.recipe.train
    if t.method == "full":
        checkpoint.save_full_model(
            folder, run.model, run.tokenizer, run.config, run.model_path, recipe_yaml, _task_fields(run)
        )
        return
    cfg = dict(
        run.adapter_config,
        model=str(run.model_path.absolute()),
        base_fingerprint=base_sha,
        table=TABLE.to_dict(),
        tokens=list(run.new.tokens),
        recipe=recipe_to_dict(recipe),
        **_task_fields(run),
    )
    weights = adapter_weights(run.model, recipe.lora, t.method == "dora", run.new)
    save_adapter(folder, weights, cfg, recipe_yaml)


def _task_fields(run: Run) -> dict:
    """What a model's outputs record beside the weights so that it is asked as it was taught: a
    planner, that its requests carried 24-hour times (octo_mlx.syntax.CLOCK); an action model,
    the task, the slot map (which function each functional token stands for), the domains it
    covers and that its steps' dates and language names were annotated (octo_mlx.syntax.DATES,
    LANGUAGES)."""
    if run.task != "action":
        return {"queries": CLOCK}  # a planner: taught requests with 24-hour times written in
    return {
        "task": "action",
        "slots": run.slots.to_json()["slots"],
        "domains": list(run.domains),
        "dates": DATES,
        "languages": LANGUAGES,
    }


def _one_step(run: Run, micro_batches: list[list[int]], step: int, total: int) -> dict:
    """One optimizer step over its micro-batches (this rank's share of each); the all-summed figures."""
    t = run.recipe.train
    mx.random.seed(t.seed * 1_000_003 + step)  # dropout noise depends on the step only: resumable
    loss_sum, n_sum, useful, padded, grads = 0.0, 0.0, 0, 0, None
    for micro in micro_batches:
        mine = batching.shard(micro, run.rank, run.world.size())
        if mine:
            b = batching.collate(
                [run.train[j] for j in mine], t.batching == "pack", t.pad_multiple, run.pad_id
            )
            loss, n, g = run.stepper.grads(b)
            useful, padded = useful + b.n_tokens, padded + b.padded_tokens
        else:  # a short last batch can leave a rank empty; it still joins the all-sum
            loss, n, g = run.stepper.zeros()
        grads = g if grads is None else tree_map(mx.add, grads, g)
        loss_sum, n_sum = loss_sum + loss, n_sum + n
        mx.eval(grads, loss_sum, n_sum)
    loss_total, n_total, useful, padded = all_sum([float(loss_sum), float(n_sum), useful, padded], run.world)
    lr = learning_rate_at(step, total, t.learning_rate, t.warmup_ratio, t.schedule)
    run.stepper.update(grads, n_total, lr)
    mx.eval(run.model.parameters(), run.optimizer.state)
    return {"loss": loss_total / max(n_total, 1.0), "useful": int(useful), "padded": int(padded), "lr": lr}


def train(
    recipe: Recipe,
    callback: Callable[[TrainEvent], None] | None = None,
    resume: bool | None = None,
    command: str | None = None,
    force: bool = False,
) -> TrainResult:
    """Train as the recipe says; every rank of an mlx.launch group calls this.

    The output folder is locked for the run (a second run to it fails at once). A recipe
    whose predicted peak memory exceeds this machine's budget is refused next, before any
    weight is read (:func:`octo_mlx.train.setup.check_fits`). A fresh run
    in a folder that holds another run's outputs builds its own in ``OUT/.next`` and swaps
    them in only when it finishes: killed before, the old outputs stay as they were.

    Args:
        recipe: from :func:`octo_mlx.train.recipe.load_recipe`.
        callback: receives TrainEvents (on rank 0 only).
        resume: True = continue from OUT's last checkpoint (error if none); False = start
            fresh (old checkpoints are deleted); None = continue when there is one.
        command: the command line, recorded in the saved recipe's header.
        force: train even when the memory plan predicts it does not fit (a warning instead).
    """
    out = recipe.out_dir
    _check_run_folder(out)
    world = mx.distributed.init()
    lock = FolderLock(out, "output.dir") if world.rank() == 0 else contextlib.nullcontext()
    with lock:  # taken first: a second run to OUT fails before it loads anything
        check_fits(recipe, force, world.size())  # then a run too big for this machine
        run = load(recipe, world)  # bad data fails next, before the model loads
        ck = _find_checkpoint(out, recipe, resume)
        stage = _staging_folder(out, ck, run.rank)
        if run.rank == 0 and ck is None:
            checkpoint.clear_checkpoints(out)
        make_trainable(run)
        emit = callback if (callback is not None and run.rank == 0) else (lambda e: None)
        loop = _Loop(run, emit, stage, dump_recipe(recipe, command))
        if ck is not None:
            loop.restore(ck)
        if loop.start >= loop.stop and (stage / "train.json").is_file():
            if run.rank == 0 and stage != out:
                _publish(out, stage)  # a kill came while the finished outputs were swapped in
            return loop.nothing_to_do()  # a finished run: its outputs and figures stay as they are
        if run.rank == 0:
            save_recipe(recipe, out / "recipe.yaml", command)
        loop.run_epochs()
        return loop.finish()


# With train.json: what a finished run leaves for people (base/: written by runs before the
# extended base; a new run's publishing removes it).
OUTPUTS = ("base", "best", "last")
STAGE = ".next"
# What only a run folder holds: the lock (taken first), the recipe (written before step 1)...
RUN_MARKS = (FolderLock.NAME, "recipe.yaml", "train.json", f"{checkpoint.CHECKPOINTS}/{checkpoint.LATEST}")


def _check_run_folder(out: Path) -> None:
    """OUT is new, empty, or a run folder: a user's folder of other files is never written into
    (a fresh run deletes OUT/checkpoints and replaces OUT/last...)."""
    if out.exists() and not out.is_dir():
        raise OctoError("output.dir is a file, expected a folder", out)
    if out.is_dir():
        names = sorted(p.name for p in out.iterdir())
        if names and not any((out / mark).exists() for mark in RUN_MARKS):
            raise OctoError(
                f"output.dir holds files of its own ({names[0]}...), not a training run: "
                "choose a new or empty folder",
                out,
            )


def _staging_folder(out: Path, ck: Path | None, rank: int) -> Path:
    """Where this run writes its outputs: OUT itself, or OUT/.next when OUT holds outputs of an
    earlier run that must survive until this one finishes (a resumed run keeps its choice)."""
    stage = out / STAGE
    if ck is not None:
        return stage if stage.is_dir() else out
    if rank == 0 and stage.exists():
        shutil.rmtree(stage)  # a killed fresh run's half outputs: this run starts over
    has_outputs = any((out / n).exists() for n in (*OUTPUTS, "train.json"))
    return stage if has_outputs else out


def _publish(out: Path, stage: Path) -> None:
    """Swap a finished run's staged outputs in, each folder atomically; an output the new run did
    not make (no best/, no base/) goes, so nothing of the old run stays beside the new one.
    Idempotent: a kill half-way is finished by the next run, which finds the checkpoint done."""
    for name in OUTPUTS:
        if (stage / name).exists():
            replace_dir(stage / name, out / name)
        elif (out / name).exists():
            shutil.rmtree(out / name)
    if (stage / "train.json").is_file():
        os.replace(stage / "train.json", out / "train.json")
    shutil.rmtree(stage)
    fsync_dir(out)


class _Loop:
    """The epochs of one run: its counters, progress events, validation, checkpoints and outputs."""

    def __init__(self, run: Run, emit: Callable[[TrainEvent], None], stage: Path, recipe_yaml: str):
        t = run.recipe.train
        self.run, self.emit, self.base_dir, self.recipe_yaml = run, emit, run.base_path, recipe_yaml
        self.stage = stage  # where outputs are written: OUT, or OUT/.next until the run finishes
        full = t.method == "full"
        self.base_sha = weights_sha256(run.model_path) if run.rank == 0 and not full else ""
        self.spe = batching.steps_per_epoch(len(run.train), t.batch_size, t.grad_accumulation)
        self.total = self.spe * t.epochs
        self.stop = min(self.total, t.max_steps or self.total)
        self.start, self.resumed_from = 0, None
        self.state = {
            "best_val_loss": None,
            "val_losses": [],
            "final_loss": None,
            "useful_tokens": 0,
            "padded_tokens": 0,
            "train_seconds": 0.0,
        }

    def restore(self, ck: Path) -> None:
        """Continue from a checkpoint: weights, optimizer state and these counters."""
        self.state.update(checkpoint.load_checkpoint(ck, self.run.model, self.run.optimizer))
        self.start = self.resumed_from = self.state["step"]
        self.stop = max(self.stop, self.start)  # max_steps below the checkpoint: the steps stay done

    def event(self, kind: str, step: int, epoch: int, **figures) -> None:
        self.emit(TrainEvent(kind, step, self.stop, epoch, self.run.recipe.train.epochs, **figures))

    def run_epochs(self) -> None:
        run, t, state = self.run, self.run.recipe.train, self.state
        message = _start_message(run, self.stop, self.spe, self.start, self.resumed_from is not None)
        self.event("start", self.start, self.start // self.spe, message=message)
        run.model.train()
        lengths = [len(e.tokens) for e in run.train]
        plan, planned_epoch = None, None
        window_tokens, window_time = 0, 0.0
        for step in range(self.start, self.stop):
            epoch, i = divmod(step, self.spe)
            if epoch != planned_epoch:
                plan = batching.plan_epoch(
                    lengths, t.batch_size, t.grad_accumulation, t.seed, epoch, t.batching
                )
                planned_epoch = epoch
            tic = time.perf_counter()
            figures = _one_step(run, plan[i], step, self.total)
            dt = time.perf_counter() - tic
            state["final_loss"] = figures["loss"]
            state["useful_tokens"] += figures["useful"]
            state["padded_tokens"] += figures["padded"]
            state["train_seconds"] += dt
            window_tokens, window_time = window_tokens + figures["useful"], window_time + dt
            done = step + 1
            if done % t.log_every == 0 or done == self.stop:
                tokens_per_s = window_tokens / max(window_time, 1e-9)
                self.event(
                    "step",
                    done,
                    epoch,
                    loss=state["final_loss"],
                    learning_rate=figures["lr"],
                    tokens_per_s=tokens_per_s,
                    peak_memory_gb=_memory()[0],
                )
                window_tokens, window_time = 0, 0.0
            self.after_step(done, epoch)

    def after_step(self, done: int, epoch: int) -> None:
        """Validation (and OUT/best) at each epoch's end and the last step; resumable checkpoints."""
        run, out = self.run, self.run.recipe.out_dir
        epoch_end = done % self.spe == 0
        if epoch_end or done == self.stop:
            val = validation_loss(run.model, run.valid, run.recipe, run.pad_id, run.world)
            if val is not None:
                self.state["val_losses"].append([done, val])
                self.event("eval", done, epoch, val_loss=val)
                best = self.state["best_val_loss"]
                if run.recipe.output.save_best and (best is None or val < best):
                    self.state["best_val_loss"] = val
                    self.save_outputs("best")
        if run.rank == 0 and (done % run.recipe.train.save_every == 0 or epoch_end or done == self.stop):
            self.note_peaks()
            keep = run.recipe.output.keep_checkpoints
            path = checkpoint.save_checkpoint(
                out, done, run.model, run.optimizer, dict(self.state, epoch=epoch), keep
            )
            self.event("checkpoint", done, epoch, message=str(path))

    def note_peaks(self) -> tuple[float, float]:
        """The memory peaks of the whole run, across resumptions (kept in the loop state)."""
        peak, rss = _memory()
        self.state["peak_memory_gb"] = max(self.state.get("peak_memory_gb", 0.0), peak)
        self.state["peak_rss_gb"] = max(self.state.get("peak_rss_gb", 0.0), rss)
        return self.state["peak_memory_gb"], self.state["peak_rss_gb"]

    def save_outputs(self, name: str) -> None:
        _save_outputs(self.run, self.stage / name, self.base_sha, self.recipe_yaml)

    def nothing_to_do(self) -> TrainResult:
        """A rerun of a finished run: it trains nothing, so it rewrites nothing (OUT/train.json
        keeps the figures of the run that trained) and reports those figures."""
        out = self.run.recipe.out_dir
        summary = read_json_object(out / "train.json")
        fields = {f.name for f in dataclasses.fields(TrainResult)}
        values = {k: v for k, v in summary.items() if k in fields}
        for key in ("out_dir", "last_dir", "best_dir", "base_dir"):
            if values.get(key) is not None:
                values[key] = Path(values[key])
        values["val_losses"] = [tuple(v) for v in values.get("val_losses", [])]
        values["new_tokens"] = tuple(values.get("new_tokens", ()))
        values["resumed_from"] = self.resumed_from  # this call resumed, at the step the run is done
        result = TrainResult(**values, rank=self.run.rank)
        epoch = (self.stop - 1) // self.spe if self.stop else 0
        message = f"nothing to train: {out} is done at step {self.start}; its outputs are unchanged"
        self.event("done", self.stop, epoch, loss=result.final_loss, message=message)
        return result

    def finish(self) -> TrainResult:
        """OUT/last, and the run's result: written to OUT/train.json (rank 0), reported as "done";
        staged outputs are then swapped in."""
        run, state, out = self.run, self.state, self.run.recipe.out_dir
        self.save_outputs("last")
        peak, rss = self.note_peaks()
        result = TrainResult(
            out_dir=out,
            last_dir=out / "last",
            best_dir=out / "best" if (self.stage / "best").exists() else None,
            base_dir=self.base_dir,
            method=run.recipe.train.method,
            steps=self.stop,
            total_steps=self.total,
            final_loss=state["final_loss"],
            val_losses=[tuple(v) for v in state["val_losses"]],
            best_val_loss=state["best_val_loss"],
            useful_tokens=state["useful_tokens"],
            padded_tokens=state["padded_tokens"],
            train_seconds=state["train_seconds"],
            useful_tokens_per_s=state["useful_tokens"] / max(state["train_seconds"], 1e-9),
            peak_memory_gb=peak,
            peak_rss_gb=rss,
            resumed_from=self.resumed_from,
            new_tokens=run.new.tokens,
            rank=run.rank,
        )
        if run.rank == 0:
            checkpoint.write_summary(self.stage / "train.json", result_summary(result, run.recipe))
            if self.stage != out:
                _publish(out, self.stage)
        last_val = state["val_losses"][-1][1] if state["val_losses"] else None
        epoch = (self.stop - 1) // self.spe if self.stop else 0
        self.event(
            "done",
            self.stop,
            epoch,
            loss=result.final_loss,
            tokens_per_s=result.useful_tokens_per_s,
            peak_memory_gb=peak,
            val_loss=last_val,
            message=f"saved {result.last_dir}",
        )
        return result
