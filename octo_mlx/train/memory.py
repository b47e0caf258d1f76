"""Predict the peak memory of a training run before anything loads: `octo-mlx train --plan-memory`.

Pure arithmetic over a model's ``config.json`` (hidden size, layers, heads, KV heads, head_dim,
intermediate size, vocabulary, tied embeddings, quantization) and the recipe's batch geometry.
The model of one step follows what MLX keeps alive in *our* loop (octo_mlx.train.step): a compiled
value-and-gradient, gradients evaluated, then a compiled AdamW update (``train.compile=false``
needs less than predicted for the update).

- weights: every parameter in its storage dtype (quantized: bits/8 plus a scale and a bias per
  group); LoRA factors are float32, as mlx-lm's LoRALinear creates them.
- gradients: one copy of the trainable parameters; optimizer: AdamW's two moments. MLX makes
  them with ``zeros_like(parameter)``, so they take the parameter's dtype (bfloat16 for a
  bfloat16 full fine-tune, float32 for LoRA factors), not always float32.
- activations: what the backward pass needs from each block (see ``BLOCK_SAVED``), all blocks
  at once, plus one block's backward workspace; with gradient checkpointing only each block's
  input plus one block recomputed. Attention is (heads x length^2) per row: a packed row of
  4 examples costs 4x the attention memory of 4 padded rows.
- logits: only the completion positions reach the LM head in our loop (octo_mlx.train.batching), cast
  to float32 for the loss; several (tokens x vocab) buffers live together during its backward.
  Gemma's 256k vocabulary makes this the largest activation term.
- transient: the AdamW update's temporaries, a few copies of the largest trainable tensors.
  Activations are freed before the update, so the peak is the larger of the two phases.
- overhead: the Python process, MLX and the tokenizer (measured RSS minus the MLX peak).

The constants were fitted to ``mx.get_peak_memory()`` of real steps here (see the comment on
them); docs/memory.md gives the validation against measured peaks, the default model included.
On a Mac the budget is Metal's recommended working set (~75% of unified memory), elsewhere
physical memory.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from octo_mlx.errors import OctoError
from octo_mlx.models.shape import KNOWN_CONFIGS, ModelShape, known_config, read_model_config
from octo_mlx.runtime.device import is_mac, physical_memory

GIB = 1024**3

# Bytes of one element per dtype name.
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}

# The constants below were measured with mx.get_peak_memory() on steps of our loop, varying
# one dimension at a time (layers, tokens, packed length, LM-head positions), float32 on the
# CPU, then checked on 70 random llama/phi3/gemma shapes and on real runs (docs/memory.md).
#
# Elements a block keeps per token for the backward pass, counted from the llama graph: block
# input, both norm outputs and the attention residual (4 h); rotated queries and the attention
# output (2 q); keys and values (2 kv); gate, up, silu's sigmoid, silu and the product (5 i).
# Measured: 1.0x this count per added block.
BLOCK_SAVED = {"hidden": 4, "q": 2, "kv": 2, "intermediate": 5}
BLOCK_CALIBRATION = 1.0
ATTENTION_SAVED = 1.2  # (heads x length^2) probabilities kept per block (measured 1.1-1.3)
# The backward pass of one block needs temporaries on top of what is saved: measured 1.5
# blocks of activations and 1.7 copies of its attention matrix.
BLOCK_WORKSPACE = 1.5
ATTENTION_WORKSPACE = 1.7
# Gradient checkpointing keeps ~2.3 hidden vectors per token and block (input and output),
# and recomputes one block on top of the workspace.
CHECKPOINT_HIDDEN = 2.3
CHECKPOINT_RECOMPUTE = 1.0
# Float32 (LM-head positions x vocab) buffers alive during the loss's backward (logits,
# softmax, the gradient, the gather's scatter): measured 4; in bfloat16 the head's own output
# comes on top.
LOGIT_F32_COPIES = 4.0
# AdamW's temporaries while the update runs (m, v, their square root, the step), in the
# parameter dtype, as copies of (one block + the embedding) for a full fine-tune. Fitted at 3 on
# the uncompiled update; compiling it (octo_mlx.train.step) raised SmolLM2-135M's full peak from 2.43 to
# 2.73 GB, which 5 covers (3 under-predicted it by 7% with checkpointing).
UPDATE_COPIES = 5.0
# Linux: Python + MLX + mlx-lm + tokenizers resident above the MLX peak, measured 0.12-0.15 GB.
# A Mac also holds Metal's command buffers and the window server's share: we assume 1 GiB there.
OVERHEAD_LINUX = int(0.15 * GIB)
OVERHEAD_MAC = 1 * GIB
# Metal's recommended working set is ~74-75% of unified memory on 16-64 GB Macs
# (MTLDevice.recommendedMaxWorkingSetSize: 11.84 GB of 16, 17.76 GiB of 24, ~48 GB of 64).
MAC_WORKING_SET = 0.75


# --- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryPlan:
    """Predicted peak memory of one training step, in bytes, by part.

    The step has two phases: the backward pass (activations, logits and the gradients made so
    far live together) and the update (all gradients plus AdamW's temporaries; activations are
    freed by then). The peak is the weights, LoRA factors, optimizer state and overhead plus the
    larger phase, so the parts do not simply add up to ``total``.
    """

    weights: int  # base model in its storage dtype (frozen under LoRA)
    lora: int  # LoRA factors (float32), 0 for full fine-tuning
    gradients: int
    optimizer: int  # AdamW's two moments
    activations: int  # what the blocks keep for the backward pass, plus one block's workspace
    logits: int  # LM-head logits and the loss's (positions x vocab) buffers
    transient: int  # the update's temporaries
    overhead: int  # process, framework, tokenizer
    backward_phase: int  # activations + logits + gradients alive during the backward pass
    update_phase: int  # gradients + transient
    # what it was computed for
    params: int = 0
    trainable: int = 0
    tokens: int = 0  # positions through the blocks per micro-batch
    head_tokens: int = 0  # positions through the LM head per micro-batch
    method: str = "lora"
    dtype: str = "bfloat16"
    grad_checkpoint: bool = False

    PARTS = ("weights", "lora", "gradients", "optimizer", "activations", "logits", "transient", "overhead")

    @property
    def resident(self) -> int:
        """What stays allocated through the whole step: weights, LoRA, optimizer state, overhead."""
        return self.weights + self.lora + self.optimizer + self.overhead

    @property
    def total(self) -> int:
        return self.resident + max(self.backward_phase, self.update_phase)

    @property
    def peak_phase(self) -> str:
        return "backward" if self.backward_phase >= self.update_phase else "update"

    def parts(self) -> dict[str, int]:
        """Part name -> bytes, in display order."""
        return {p: getattr(self, p) for p in self.PARTS}

    def fits(self, total_bytes: int | float) -> bool:
        """True when the predicted peak is at most ``total_bytes`` (a budget, e.g. :func:`machine_budget`)."""
        return self.total <= total_bytes

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out.update(total=self.total, peak_phase=self.peak_phase)
        return out


def plan_memory(
    model_config: dict | ModelShape,
    method: str = "lora",
    rank: int = 16,
    batch_size: int = 4,
    seq_len: int = 256,
    dtype: str = "bfloat16",
    grad_checkpoint: bool = False,
    *,
    packed: bool = False,
    head_fraction: float = 1.0,
    optimizer: str = "adamw",
    overhead_bytes: int | None = None,
) -> MemoryPlan:
    """Predict the peak memory of training a model, from its config alone.

    Args:
        model_config: the model's config.json as a dict (or a :data:`KNOWN_CONFIGS` entry).
        method: "full", "lora" or "dora" (QLoRA when the config has a quantization section).
        rank: LoRA rank (ignored for full fine-tuning).
        batch_size: examples per micro-batch.
        seq_len: tokens per example, after padding (the longest example of the batch).
        dtype: compute dtype, "bfloat16" on a Mac, "float32" on a Linux CPU.
        grad_checkpoint: recompute each block in the backward pass instead of keeping it.
        packed: the batch's examples share one row of ``batch_size * seq_len`` tokens
            (attention then spans the whole row, under a block-diagonal mask).
        head_fraction: share of positions that reach the LM head (1.0 = all, as mlx-lm; our loop
            sends only completion positions, about 40% of a planning example).
        optimizer: "adamw"/"adam" (two moments) or "sgd" (none).
        overhead_bytes: process overhead; default 1 GiB on macOS, 0.15 GiB elsewhere.
    """
    _check_plan_args(method, dtype, batch_size, seq_len, rank, head_fraction)
    shape = model_config if isinstance(model_config, ModelShape) else ModelShape.from_config(model_config)
    a = DTYPE_BYTES[dtype]
    if method == "full" and shape.quant_bits:
        raise OctoError("full fine-tuning needs a float model; this config is quantized (use LoRA: QLoRA)")
    t = _trainables(shape, method, rank, a, optimizer)
    rows, length = (1, batch_size * seq_len) if packed else (batch_size, seq_len)
    tokens = rows * length
    activations = _activations(shape, method, rank, a, rows, length, packed, grad_checkpoint)
    head_tokens = max(1, round(tokens * head_fraction))
    logits = head_tokens * shape.vocab * (LOGIT_F32_COPIES * 4 + (a if a != 4 else 0))
    if overhead_bytes is None:
        overhead_bytes = OVERHEAD_MAC if is_mac() else OVERHEAD_LINUX
    return MemoryPlan(
        weights=int(_weights(shape, a)),
        lora=int(t["lora"]),
        gradients=int(t["gradients"]),
        optimizer=int(t["optimizer"]),
        activations=int(activations),
        logits=int(logits),
        transient=int(t["transient"]),
        overhead=int(overhead_bytes),
        backward_phase=int(activations + logits + t["held"]),
        update_phase=int(t["gradients"] + t["transient"]),
        params=shape.total_params,
        trainable=t["trainable"],
        tokens=tokens,
        head_tokens=head_tokens,
        method=method,
        dtype=dtype,
        grad_checkpoint=grad_checkpoint,
    )


def _check_plan_args(method, dtype, batch_size, seq_len, rank, head_fraction) -> None:
    if method not in ("full", "lora", "dora"):
        raise OctoError(f"method must be full, lora or dora, got {method!r}")
    if dtype not in DTYPE_BYTES:
        raise OctoError(f"dtype must be one of {', '.join(DTYPE_BYTES)}, got {dtype!r}")
    for name, value in (("batch_size", batch_size), ("seq_len", seq_len), ("rank", rank)):
        if value <= 0:
            raise OctoError(f"{name} must be > 0, got {value}")
    if not 0 < head_fraction <= 1:
        raise OctoError(f"head_fraction must be in (0, 1], got {head_fraction}")


def _weights(shape: ModelShape, a: int) -> int:
    """The base model in its storage dtype (``a`` bytes per element; quantized: bits plus scales)."""
    n = shape.total_params
    if not shape.quant_bits:
        return n * a
    quantized = n - shape.layers * 2 * shape.hidden - shape.hidden  # linear layers and embeddings; norms not
    return quantized * shape.quant_bits // 8 + quantized // shape.quant_group * 2 * a + (n - quantized) * a


def _trainables(shape: ModelShape, method: str, rank: int, a: int, optimizer: str) -> dict:
    """Trainable parameters, their gradients and optimizer moments (in the parameter's dtype), the
    update's temporaries, and what the backward pass holds of them."""
    if method == "full":
        trainable, t_bytes, lora = shape.total_params, a, 0
        update_set = shape.block_params + shape.embedding_params
        held = (shape.embedding_params + shape.head_params) * a  # the head's gradient comes first
    else:
        trainable, t_bytes = shape.lora_params(rank), 4
        if method == "dora":  # a magnitude vector per output
            trainable += shape.layers * sum(b for _, b in shape.block_linears())
        lora = trainable * t_bytes
        update_set = trainable // shape.layers
        held = trainable * t_bytes
    moments = 0 if optimizer == "sgd" else 2
    return {
        "trainable": trainable,
        "lora": lora,
        "gradients": trainable * t_bytes,
        "optimizer": moments * trainable * t_bytes,
        "transient": int(UPDATE_COPIES * update_set * t_bytes) if moments else 0,
        "held": held,
    }


def _activations(
    shape: ModelShape, method, rank, a, rows, length, packed: bool, grad_checkpoint: bool
) -> float:
    """What the blocks keep for the backward pass, plus one block's workspace (see BLOCK_SAVED)."""
    tokens = rows * length
    per_token = (
        BLOCK_SAVED["hidden"] * shape.hidden
        + BLOCK_SAVED["q"] * shape.q_dim
        + BLOCK_SAVED["kv"] * shape.kv_dim
        + BLOCK_SAVED["intermediate"] * shape.intermediate
    )
    block = tokens * per_token * a
    if method != "full":  # x @ A, float32, for each adapted linear
        block += tokens * rank * len(shape.block_linears()) * 4
    attention = rows * shape.heads * length * length * a
    workspace = BLOCK_WORKSPACE * block + ATTENTION_WORKSPACE * attention
    if grad_checkpoint:
        saved = shape.layers * CHECKPOINT_HIDDEN * tokens * shape.hidden * a + CHECKPOINT_RECOMPUTE * block
    else:
        saved = shape.layers * (BLOCK_CALIBRATION * block + ATTENTION_SAVED * attention)
    mask = length * length if packed else 0  # the block-diagonal boolean mask, shared by all blocks
    return saved + workspace + mask


# --- the machine ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """How much memory a training run may use on this machine, and where the number came from."""

    bytes: int
    source: str


def machine_budget() -> Budget:
    """Metal's recommended working set on a Mac (mx.device_info()), physical memory elsewhere."""
    if is_mac():
        try:
            import mlx.core as mx

            size = mx.device_info().get("max_recommended_working_set_size")
            if size:
                return Budget(int(size), "Metal recommended working set (mx.device_info)")
        except Exception:  # no Metal device: fall through to the rule of thumb
            pass
        return Budget(int(MAC_WORKING_SET * physical_memory()), f"{MAC_WORKING_SET:.0%} of unified memory")
    return Budget(physical_memory(), "physical memory")


def mac_budget(memory_gb: int) -> int:
    """The working set of a Mac with ``memory_gb`` GB of unified memory (for tables of other Macs)."""
    return int(MAC_WORKING_SET * memory_gb * GIB)


# --- a recipe's plan ------------------------------------------------------------------------


@dataclass(frozen=True)
class Geometry:
    """The batch shape a plan is made for: the worst micro-batch a run can meet."""

    batch_size: int
    seq_len: int  # tokens per example (packed: the row's length / batch_size, rounded up)
    packed: bool
    head_fraction: float  # positions reaching the LM head / positions through the blocks
    source: str  # where the numbers came from, shown to the user


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def data_geometry(
    lengths: list[int],
    completion_lengths: list[int],
    batch_size: int,
    batching: str = "bucket",
    pad_multiple: int = 16,
    source: str = "data",
) -> Geometry:
    """The geometry of the worst micro-batch drawn from examples of these token lengths.

    The ``batch_size`` longest examples together bound every micro-batch, whatever the order.

    Args:
        lengths: tokens of each example (prompt + completion, chat template included).
        completion_lengths: completion (loss) tokens of each example, same order.
        batch_size: examples per micro-batch.
        batching: "pack" (one row per micro-batch) or "pad"/"bucket" (one row per example).
        pad_multiple: rows and target counts are rounded up to this (octo_mlx.train.batching.collate).
        source: described in the plan.
    """
    if not lengths:
        raise OctoError("no examples to measure", source)
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)[:batch_size]
    worst = [lengths[i] for i in order]
    targets = _round_up(sum(completion_lengths[i] for i in order), pad_multiple)
    packed = batching == "pack" and batch_size > 1
    if packed:
        tokens = _round_up(sum(worst), pad_multiple)
        seq_len = -(-tokens // batch_size)
    else:
        seq_len = _round_up(max(worst), pad_multiple)
        tokens = seq_len * batch_size
    return Geometry(batch_size, seq_len, packed, min(1.0, targets / (seq_len * batch_size)), source)


@dataclass(frozen=True)
class RecipePlan:
    """A plan for a recipe on a machine: what `octo-mlx train --plan-memory` shows."""

    plan: MemoryPlan
    budget: Budget
    model: str  # where the config came from
    geometry: Geometry

    @property
    def fits(self) -> bool:
        return self.plan.fits(self.budget.bytes)


def model_config_for(path: str | None) -> tuple[dict, str, Path | None]:
    """(config, description, local model folder or None) of a model, without loading it; a
    folder whose ``model_type`` mlx-lm has no architecture for is refused.

    Args:
        path: a model folder, a known architecture (:data:`KNOWN_CONFIGS`) or one of its hub ids;
            None = the default model (its config.json once imported, else the table's).
    """
    if path is None:
        from octo_mlx.models.default import default_model_dir

        folder = default_model_dir()
        if (folder / "config.json").is_file():
            return read_model_config(folder), f"{folder} (default model)", folder
        return known_config("smollm2-135m"), "SmolLM2-135M-Instruct (default model, not imported yet)", None
    config = read_model_config(path)  # a folder's config.json, else a known architecture's
    folder = Path(path).expanduser()
    if folder.is_dir():
        from octo_mlx.models.loading import check_architecture

        check_architecture(config, folder / "config.json")  # a model_type mlx-lm lacks: refused
        return config, str(folder), folder
    return config, f"{path} (config from octo_mlx.models.shape.KNOWN_CONFIGS)", None


def plan_on_machine(
    config: dict,
    model: str,
    geometry: Geometry,
    method: str = "lora",
    rank: int = 16,
    grad_checkpoint: bool = False,
    optimizer: str = "adamw",
    dtype: str | None = None,
    memory_gb: float | None = None,
) -> RecipePlan:
    """Plan a run on this machine, or on a Mac of ``memory_gb`` GB: the defaults decided in one place.

    Args:
        config: the model's config.json (or a known architecture's).
        model: where the config came from, shown with the plan.
        geometry: the worst micro-batch.
        method, rank, grad_checkpoint, optimizer: as in :func:`plan_memory`.
        dtype: compute dtype; default bfloat16 on a Mac (or with ``memory_gb``), float32 elsewhere.
        memory_gb: a Mac's unified memory to plan for instead of this machine.
    """
    mac = memory_gb is not None or is_mac()
    if memory_gb is not None:
        budget = Budget(mac_budget(memory_gb), f"{MAC_WORKING_SET:.0%} of a {memory_gb:g} GB Mac")
    else:
        budget = machine_budget()
    plan = plan_memory(
        config,
        method=method,
        rank=rank,
        batch_size=geometry.batch_size,
        seq_len=geometry.seq_len,
        dtype=dtype or ("bfloat16" if mac else "float32"),
        grad_checkpoint=grad_checkpoint,
        packed=geometry.packed,
        head_fraction=geometry.head_fraction,
        optimizer=optimizer,
        overhead_bytes=OVERHEAD_MAC if mac else OVERHEAD_LINUX,
    )
    return RecipePlan(plan, budget, model, geometry)


# --- the README table -----------------------------------------------------------------------


@dataclass(frozen=True)
class TableRow:
    """One predicted configuration of the README table."""

    model: str
    method: str  # "full" or "lora r16" ...
    plan: MemoryPlan
    fits: dict[int, bool]  # Mac memory in GB -> fits its working set


def memory_table(
    models: tuple[str, ...] = ("phi-3-mini", "gemma-2b", "gemma-7b"),
    methods: tuple[tuple[str, int], ...] = (("full", 0), ("lora", 16), ("lora", 64)),
    macs_gb: tuple[int, ...] = (16, 32, 64),
    batch_size: int = 4,
    seq_len: int = 256,
    grad_checkpoint: bool = False,
    head_fraction: float = 0.5,
    packed: bool = False,
) -> list[TableRow]:
    """Predicted peaks of the paper's models in bfloat16 on Macs (one row per example, as our loop).

    Args:
        models: :data:`KNOWN_CONFIGS` keys.
        methods: (method, rank) pairs.
        macs_gb: unified memory of the Macs to check against (75% working set).
        batch_size, seq_len: the batch (paper: batch 4; planning examples are < 256 tokens).
        grad_checkpoint: plan with gradient checkpointing.
        head_fraction: share of positions that reach the LM head (completion tokens).
        packed: plan for packed rows (train.batching=pack) instead of length buckets.
    """
    rows = []
    for name in models:
        for method, rank in methods:
            plan = plan_memory(
                KNOWN_CONFIGS[name],
                method=method,
                rank=rank or 16,
                batch_size=batch_size,
                seq_len=seq_len,
                dtype="bfloat16",
                grad_checkpoint=grad_checkpoint,
                packed=packed,
                head_fraction=head_fraction,
                overhead_bytes=OVERHEAD_MAC,
            )
            label = method if method == "full" else f"{method} r{rank}"
            rows.append(TableRow(name, label, plan, {gb: plan.fits(mac_budget(gb)) for gb in macs_gb}))
    return rows
