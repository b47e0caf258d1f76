"""The trainer's set-up, up to a ready Stepper, for the benchmarks that time single steps.

The same calls in the same order as ``octo_mlx.train.train`` (no new tokens, so every peer
and variant sees the same token ids); no training loop, checkpoints or validation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class StepSetup:
    recipe: object
    model: object
    tokenizer: object
    optimizer: object
    stepper: object
    encoded: list
    pad_id: int


def step_setup(data: str, overrides: list[str]) -> StepSetup:
    import mlx.core as mx

    from octo_mlx import step, tokens, train
    from octo_mlx.config import load_recipe

    recipe = load_recipe(None, [f"data.path={data}", *overrides, "model.new_tokens=[]"])
    examples, _ = train.read_examples(recipe)
    model, tok, _, _ = train.load_base(recipe)
    new = tokens.add_tokens(model, tok, ())
    encoded = train.encode_examples(examples, tok, recipe.data.max_seq_length, data)
    train.setup_trainable(model, recipe, new)
    optimizer = train.make_optimizer(recipe)
    stepper = step.Stepper(model, optimizer, recipe, mx.distributed.init())
    return StepSetup(recipe, model, tok, optimizer, stepper, encoded, tok.pad_token_id or 0)
