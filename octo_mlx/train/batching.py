"""From chat examples to training batches: completion-only targets, packing, length bucketing.

Pure numpy, no model: the loop turns a :class:`Batch` into mx arrays.

- The loss is on the completion only: the prompt length comes from the chat template
  (prompt rendered with the generation prompt vs the full conversation), so the assistant
  plan and its end marker are targets and no prompt token ever is.
- Only target positions are listed (``positions``): the loop gathers their hidden states
  before the LM head, so the 49k-column head never runs on prompt or padding positions
  (planning prompts are about half the tokens).
- ``pack`` puts all of a micro-batch's examples in one row with segment ids (block-diagonal
  causal mask): no padding between examples. RoPE makes attention depend only on relative
  positions, so the packed loss equals the unpacked one without resetting position ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from octo_mlx.errors import OctoError


@dataclass(frozen=True)
class Encoded:
    """One tokenized example: ``tokens[prompt_len:]`` is the completion (the loss targets)."""

    tokens: tuple[int, ...]
    prompt_len: int

    def __post_init__(self):
        if not 1 <= self.prompt_len < len(self.tokens):
            raise ValueError(f"prompt_len {self.prompt_len} must be in [1, {len(self.tokens)})")

    @property
    def completion_len(self) -> int:
        return len(self.tokens) - self.prompt_len


def _template(tokenizer, messages, add_generation_prompt: bool) -> list[int]:
    out = tokenizer.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=add_generation_prompt, return_dict=False
    )
    if isinstance(out, dict) or hasattr(out, "input_ids"):  # transformers 5 may still hand back a mapping
        out = out["input_ids"]
    return list(out)


def encode_chat(tokenizer, messages: Sequence[dict]) -> Encoded:
    """Tokenize a conversation whose last message is the assistant's; the prompt is masked.

    Args:
        tokenizer: an mlx-lm TokenizerWrapper or a Hugging Face tokenizer with a chat template.
        messages: chat messages, the last one with role "assistant".
    """
    if not messages or messages[-1].get("role") != "assistant":
        raise OctoError("the last message must be the assistant's (the plan to learn)")
    full = _template(tokenizer, list(messages), add_generation_prompt=False)
    prompt = _template(tokenizer, list(messages[:-1]), add_generation_prompt=True)
    # Templates that re-render earlier turns differently once an answer follows would make a
    # plain length wrong; the common prefix is the prompt in every case.
    n = 0
    for a, b in zip(prompt, full):
        if a != b:
            break
        n += 1
    if n >= len(full):
        raise OctoError("the chat template renders no completion tokens for this example")
    return Encoded(tuple(full), max(n, 1))


# --- order ----------------------------------------------------------------------------------


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """The example order of one epoch, a pure function of (seed, epoch): resuming needs no RNG state."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def plan_epoch(
    lengths: Sequence[int], batch_size: int, grad_accumulation: int, seed: int, epoch: int, mode: str
) -> list[list[list[int]]]:
    """Optimizer steps of one epoch, each a list of micro-batches of example indices.

    Args:
        lengths: token count of each example.
        batch_size: examples per micro-batch (the global batch, before sharding over ranks).
        grad_accumulation: micro-batches per optimizer step.
        seed, epoch: determine the order.
        mode: "pack" or "pad" (random batches) or "bucket" (examples of similar length batched
            together, batches in random order; mlx-lm's approach).
    """
    n = len(lengths)
    order = epoch_permutation(n, seed, epoch)
    if mode == "bucket":
        order = order[np.argsort(np.asarray(lengths)[order], kind="stable")]
    micro = [order[i : i + batch_size].tolist() for i in range(0, n, batch_size)]
    if mode == "bucket":
        rng = np.random.default_rng([seed, epoch, 1])
        micro = [micro[i] for i in rng.permutation(len(micro))]
    return [micro[i : i + grad_accumulation] for i in range(0, len(micro), grad_accumulation)]


def steps_per_epoch(n_examples: int, batch_size: int, grad_accumulation: int) -> int:
    """Optimizer steps in one epoch (the last, partial batch is kept)."""
    micro = -(-n_examples // batch_size)
    return -(-micro // grad_accumulation)


def shard(indices: Sequence[int], rank: int, world: int) -> list[int]:
    """This rank's part of a micro-batch (rank r takes every world-th example from r)."""
    return list(indices[rank::world])


# --- collation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """A micro-batch ready for the model.

    ``positions`` are flat indices into ``tokens`` whose next token is a target; ``targets``
    those next tokens; ``weights`` 1 for real targets, 0 for the padding that rounds their
    number up to a multiple of ``pad_multiple``.
    """

    tokens: np.ndarray  # (rows, length) int32
    segments: (
        np.ndarray | None
    )  # (rows, length) int32 example number + 1, 0 = padding; None = one example a row
    positions: np.ndarray  # (n,) int32
    targets: np.ndarray  # (n,) int32
    weights: np.ndarray  # (n,) float32
    n_tokens: int  # useful (non-padding) tokens
    n_targets: int  # completion tokens scored
    n_examples: int

    @property
    def padded_tokens(self) -> int:
        return int(self.tokens.size)


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def collate(examples: Sequence[Encoded], pack: bool, pad_multiple: int = 32, pad_id: int = 0) -> Batch:
    """Build one micro-batch from encoded examples.

    Args:
        examples: the examples (at least one).
        pack: True = one row, examples back to back with segment ids; False = one row each,
            right-padded to the longest.
        pad_multiple: row length and target count are rounded up to this, so a compiled step
            meets few distinct shapes.
        pad_id: token id used for padding (never a target, never attended to by real tokens).
    """
    if not examples:
        raise ValueError("collate needs at least one example")
    lengths = [len(e.tokens) for e in examples]
    if pack:
        rows, length = 1, _round_up(sum(lengths), pad_multiple)
    else:
        rows, length = len(examples), _round_up(max(lengths), pad_multiple)
    tokens = np.full((rows, length), pad_id, dtype=np.int32)
    segments = np.zeros((rows, length), dtype=np.int32)
    positions: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    offset = 0
    for i, e in enumerate(examples):
        row, start = (0, offset) if pack else (i, 0)
        m = len(e.tokens)
        tokens[row, start : start + m] = e.tokens
        segments[row, start : start + m] = i + 1
        # position j predicts token j + 1: targets are tokens[prompt_len:], predicted from prompt_len - 1 on
        pos = np.arange(e.prompt_len - 1, m - 1) + start + row * length
        positions.append(pos)
        targets.append(np.asarray(e.tokens[e.prompt_len :], dtype=np.int32))
        offset += m
    pos = np.concatenate(positions).astype(np.int32)
    tgt = np.concatenate(targets)
    n = len(pos)
    n_pad = _round_up(n, pad_multiple) - n
    weights = np.concatenate([np.ones(n, np.float32), np.zeros(n_pad, np.float32)])
    pos = np.concatenate([pos, np.zeros(n_pad, np.int32)])
    tgt = np.concatenate([tgt, np.zeros(n_pad, np.int32)])
    return Batch(
        tokens=tokens,
        segments=segments if pack and len(examples) > 1 else None,
        positions=pos,
        targets=tgt,
        weights=weights,
        n_tokens=sum(lengths),
        n_targets=n,
        n_examples=len(examples),
    )


def attention_mask(segments: np.ndarray) -> np.ndarray:
    """Block-diagonal causal mask (rows, 1, L, L), True = may attend.

    Padding (segment 0) attends to earlier padding only, so no row of the softmax is empty.
    """
    length = segments.shape[1]
    same = segments[:, :, None] == segments[:, None, :]
    causal = np.tril(np.ones((length, length), dtype=bool))
    return (same & causal)[:, None]
