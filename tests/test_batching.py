"""Batching: completion-only targets from the chat template, packing, epoch order, sharding."""

from __future__ import annotations

import numpy as np
import pytest
from mlx_lm.utils import load_tokenizer

from octo_mlx.train.batching import (
    Encoded,
    attention_mask,
    collate,
    encode_chat,
    plan_epoch,
    shard,
    steps_per_epoch,
)


def _msgs(q="Check the weather in Paris", a="Get the forecast<nexa_split>Email it to me"):
    return [{"role": "user", "content": q}, {"role": "assistant", "content": a}]


def test_prompt_is_masked_and_completion_is_the_plan_with_end_marker(tiny_llama):
    tok = load_tokenizer(tiny_llama)
    enc = encode_chat(tok, _msgs())
    prompt = tok.apply_chat_template(
        _msgs()[:1], add_generation_prompt=True, tokenize=True, return_dict=False
    )
    assert list(enc.tokens[: enc.prompt_len]) == list(prompt)
    completion = tok.decode(list(enc.tokens[enc.prompt_len :]))
    assert completion.startswith("Get the forecast<nexa_split>Email it to me")
    assert "<|im_end|>" in completion  # the end marker is learned too
    assert "Paris" not in completion and "assistant" not in completion


def test_collate_targets_are_exactly_the_completions():
    a = Encoded(tuple(range(10, 20)), prompt_len=4)
    b = Encoded(tuple(range(30, 36)), prompt_len=2)
    for pack in (True, False):
        batch = collate([a, b], pack=pack, pad_multiple=8, pad_id=0)
        real = batch.weights > 0
        assert batch.n_targets == a.completion_len + b.completion_len == int(real.sum())
        flat = batch.tokens.reshape(-1)
        # each listed position predicts the next token, which is the target
        assert np.array_equal(flat[batch.positions[real] + 1], batch.targets[real])
        assert sorted(batch.targets[real].tolist()) == sorted(list(a.tokens[4:]) + list(b.tokens[2:]))
        assert batch.tokens.shape[1] % 8 == 0 and len(batch.positions) % 8 == 0
        assert batch.n_tokens == 16
    packed = collate([a, b], pack=True, pad_multiple=8)
    assert packed.tokens.shape == (1, 16) and packed.segments is not None
    padded = collate([a, b], pack=False, pad_multiple=8)
    assert padded.tokens.shape == (2, 16) and padded.segments is None


def test_attention_mask_is_block_diagonal_causal():
    seg = np.array([[1, 1, 1, 2, 2, 0, 0]])
    m = attention_mask(seg)[0, 0]
    assert m.shape == (7, 7)
    assert m[2, 0] and m[2, 2] and not m[0, 2]  # causal inside example 1
    assert not m[3, 2] and not m[4, 1]  # example 2 never sees example 1
    assert m[4, 3] and m[6, 5]  # within example 2; padding sees padding
    assert m.diagonal().all()  # no empty softmax row


@pytest.mark.parametrize("mode", ["pack", "pad", "bucket"])
def test_each_epoch_covers_every_example_once(mode):
    lengths = list(np.random.default_rng(0).integers(20, 120, size=23))
    steps = plan_epoch(lengths, batch_size=4, grad_accumulation=2, seed=7, epoch=0, mode=mode)
    seen = [i for step in steps for micro in step for i in micro]
    assert sorted(seen) == list(range(23))
    assert len(steps) == steps_per_epoch(23, 4, 2) == 3
    again = plan_epoch(lengths, 4, 2, seed=7, epoch=0, mode=mode)
    assert again == steps  # a pure function of (seed, epoch): resumable
    assert plan_epoch(lengths, 4, 2, seed=7, epoch=1, mode=mode) != steps


def test_bucket_batches_have_little_padding():
    lengths = list(np.random.default_rng(1).integers(20, 200, size=200))
    waste = {}
    for mode in ("pad", "bucket"):
        steps = plan_epoch(lengths, 4, 1, seed=0, epoch=0, mode=mode)
        waste[mode] = sum(
            max(lengths[i] for i in m) * len(m) - sum(lengths[i] for i in m) for s in steps for m in s
        )
    assert waste["bucket"] < waste["pad"] / 4


def test_shards_partition_a_micro_batch():
    micro = [5, 9, 2, 7]
    parts = [shard(micro, r, 2) for r in range(2)]
    assert sorted(parts[0] + parts[1]) == sorted(micro)
    assert parts[0] == [5, 2] and parts[1] == [9, 7]
    assert shard([3], 1, 2) == []


def test_encoded_rejects_empty_completion():
    with pytest.raises(ValueError):
        Encoded((1, 2, 3), prompt_len=3)
