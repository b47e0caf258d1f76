"""Tiny action models: the random llama with the added-token table (its rows random, so nothing
favours a valid call but the grammar), and a wrapper that makes a model favour some tokens
whatever it reads (a model that writes string characters forever); the bundled domains' functions
and slot map, and one step prompt per function."""

from __future__ import annotations

from pathlib import Path

import mlx.core as mx
import mlx.nn as nn

from octo_mlx.domains.catalog import load_domains
from octo_mlx.generation import encode_prompt
from octo_mlx.models.tokens import TABLE, grow_vocabulary, table_ids
from octo_mlx.syntax import SlotMap

DOMAINS = load_domains()
FUNCTIONS = [f for d in DOMAINS for f in d.functions]
BY_NAME = {f.name: f for f in FUNCTIONS}
SLOTS = SlotMap.for_domains(DOMAINS)


def table_model(folder: Path, seed: int = 7):
    """(model, tokenizer): the tiny model in ``folder`` with the table added, its rows random."""
    import mlx_lm

    model, tokenizer = mlx_lm.load(str(folder))
    grow_vocabulary(model, tokenizer, TABLE.tokens)
    ids = mx.array(sorted(table_ids(tokenizer).values()))
    weight = model.model.embed_tokens.weight
    mx.random.seed(seed)
    noise = mx.random.normal((ids.shape[0], weight.shape[1])) * weight.std()
    model.model.embed_tokens.weight = weight.at[ids].add(noise)
    mx.eval(model.parameters())
    return model, tokenizer


class Favouring(nn.Module):
    """``model`` with ``bias`` added to the logits of ``tokens`` at every position: where the
    grammar allows one of them the model writes it (``bias`` 30 on ``a``: strings never end)."""

    def __init__(self, model, tokens: list[int], bias: float = 30.0):
        super().__init__()
        self.inner = model
        vocab = model.model.embed_tokens.weight.shape[0]
        self.bias = mx.zeros((vocab,)).at[mx.array(tokens)].add(bias)
        self.freeze()

    @property
    def layers(self):  # for mlx-lm's make_prompt_cache
        return self.inner.layers

    @property
    def args(self):  # for the context length
        return self.inner.args

    def __call__(self, inputs, cache=None, **kwargs):
        return self.inner(inputs, cache=cache, **kwargs) + self.bias


def step_prompts(tokenizer, n_per_function: int = 1, functions=FUNCTIONS) -> list[list[int]]:
    """One prompt per function (its description, as a step would phrase it), n times over."""
    return [
        encode_prompt(tokenizer, [{"role": "user", "content": f"Step {k}: {f.description}"}])
        for k in range(n_per_function)
        for f in functions
    ]
