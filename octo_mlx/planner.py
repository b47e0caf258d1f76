"""The planner: a query in, the planner's steps out, many queries batched (octo_mlx.generation).

The planner sees only the bare query wrapped in the model's own chat template (no function
descriptions: the paper's point is that fine-tuning internalises them). Generation stops at the
model's end marker, and the text is split on ``<nexa_split>`` by :func:`parse_plan`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from octo_mlx.data import PLAN_SPLIT
from octo_mlx.generation import (
    Generation,
    RunStats,
    check_prompts,
    check_texts,
    cut_at_end_marker,
    encode_prompt,
    generate,
    generate_stream,
    prompt_limit,
)


@dataclass(frozen=True)
class PlanOutput(Generation):
    """One generated plan: the generation (text, counts, timings) and ``steps = parse_plan(text)``."""

    steps: tuple[str, ...] = ()

    @classmethod
    def of(cls, generation: Generation) -> PlanOutput:
        """The plan of a planner's generation."""
        return cls(**asdict(generation), steps=tuple(parse_plan(generation.text)))


def parse_plan(text: str) -> list[str]:
    """Split a planner output into steps, leniently (for model outputs).

    Cuts at the first chat end marker (octo_mlx.generation.END_MARKERS), strips whitespace and
    drops empty pieces (e.g. a trailing ``<nexa_split>``). ``octo_mlx.data.check_record`` is the
    strict check of training data.
    """
    return [s.strip() for s in cut_at_end_marker(text).split(PLAN_SPLIT) if s.strip()]


def chat_messages(query: str) -> list[dict[str, str]]:
    """The planner conversation: the bare query as the only user message (no system prompt)."""
    return [{"role": "user", "content": query}]


def plan_prompt(tokenizer, query: str) -> list[int]:
    """The token ids the planner sees for ``query``: the bare query through the chat template."""
    return encode_prompt(tokenizer, chat_messages(query))


def encode_queries(
    model, tokenizer, queries: Sequence[str], max_tokens: int, labels: Sequence[str] | None = None
) -> list[list[int]]:
    """The planner prompts of ``queries``, every one checked against the model's context minus
    ``max_tokens`` before any is generated: first by characters (absurd text is never tokenized),
    then by tokens.

    Args:
        labels: how an error names each query (default ``query N``, from 1).

    Raises:
        OctoError: a query whose prompt does not fit, named by its label.
    """
    limit = prompt_limit(model, tokenizer, max_tokens)
    labels = list(labels) if labels is not None else [f"query {i + 1}" for i in range(len(queries))]
    check_texts(queries, limit, labels)
    prompts = [plan_prompt(tokenizer, q) for q in queries]
    check_prompts(prompts, limit, labels)
    return prompts


def plan_processors(tokenizer) -> list:
    """The planner's logits processors: every added-token table entry but ``<nexa_split>``
    masked (``models.tokens.TableMask``; none for a tokenizer without the table)."""
    from octo_mlx.models.tokens import TableMask

    mask = TableMask(tokenizer, (PLAN_SPLIT,))
    return [mask] if mask.blocked else []


def plan_prompts(
    model,
    tokenizer,
    prompts: Sequence[list[int]],
    max_tokens: int = 128,
    batch_size: int = 16,
    greedy: bool = True,
    temperature: float = 0.7,
    seed: int = 0,
    labels: Sequence[str] | None = None,
) -> tuple[list[PlanOutput], RunStats]:
    """Generate from tokenized prompts and parse each completion as a plan, in input order.

    Every added-token table entry but ``<nexa_split>`` is masked (:func:`plan_processors`). See
    :func:`octo_mlx.generation.generate` for the arguments; returns the plans and the run's stats.
    """
    masks = plan_processors(tokenizer)
    processors = (lambda i: masks) if masks else None
    outputs, run = generate(
        model, tokenizer, prompts, max_tokens, batch_size, greedy, temperature, seed, labels, processors
    )
    return [PlanOutput.of(g) for g in outputs], run


def generate_plans(
    model,
    tokenizer,
    queries: Sequence[str],
    max_tokens: int = 128,
    batch_size: int = 16,
    greedy: bool = True,
    temperature: float = 0.7,
    seed: int = 0,
    labels: Sequence[str] | None = None,
) -> list[PlanOutput]:
    """Plan each query with the bare-query chat prompt; see :func:`plan_prompts` for Args.

    Every query is checked against the model's context before the first is planned
    (:func:`encode_queries`); ``labels`` name them in that error (default ``query N``).
    """
    labels = list(labels) if labels is not None else [f"query {i + 1}" for i in range(len(queries))]
    prompts = encode_queries(model, tokenizer, queries, max_tokens, labels)
    return plan_prompts(model, tokenizer, prompts, max_tokens, batch_size, greedy, temperature, seed, labels)[
        0
    ]


class Planner:
    """A loaded planner model: ``Planner(model, tokenizer).plan("query")`` -> PlanOutput.

    Args:
        model, tokenizer: as returned by ``mlx_lm.load`` / ``octo_mlx.adapters.folder.load_with_adapter``.
        max_tokens: most generated tokens per plan.
        batch_size: most queries decoded together by :meth:`plan_many`.
    """

    def __init__(self, model, tokenizer, max_tokens: int = 128, batch_size: int = 16):
        self.model = model
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.batch_size = batch_size

    def plan(self, query: str, greedy: bool = True) -> PlanOutput:
        """Plan one query."""
        return self.plan_many([query], greedy=greedy)[0]

    def plan_many(self, queries: Sequence[str], greedy: bool = True) -> list[PlanOutput]:
        """Plan many queries, batched, in input order."""
        return generate_plans(self.model, self.tokenizer, queries, self.max_tokens, self.batch_size, greedy)

    def stream(self, query: str) -> Iterator[str | PlanOutput]:
        """Plan one query greedily at batch 1, token by token (the agent's plan as it is written):
        yields each new piece of text as soon as it can no longer change (``<nexa_split>`` in it as
        written), then, last, the :class:`PlanOutput`. Closing the iterator stops decoding at once.

        Raises:
            OctoError: the query does not fit the model's context (before any decoding).
        """
        prompt = encode_queries(self.model, self.tokenizer, [query], self.max_tokens)[0]
        pieces = generate_stream(
            self.model,
            self.tokenizer,
            prompt,
            max_tokens=self.max_tokens,
            logits_processors=plan_processors(self.tokenizer),
        )
        try:
            for piece in pieces:
                if piece.text:
                    yield piece.text
                if piece.generation is not None:
                    yield PlanOutput.of(piece.generation)
        finally:
            pieces.close()


def plan_queries(
    queries: Sequence[str],
    model: str | Path | None = None,
    adapter: str | Path | None = None,
    max_tokens: int = 128,
    force: bool = False,
) -> list[PlanOutput]:
    """Load a planner (base model, optionally an adapter) and plan each query: `octo-mlx plan`.

    Args:
        queries: the requests.
        model: the base model folder (default: the adapter's base, else the default model).
        adapter: an adapter folder from `octo-mlx train` or mlx_lm.lora.
        max_tokens: most generated tokens per plan.
        force: use the adapter on a base whose weights differ from its own (with a warning).
    """
    from octo_mlx.adapters.folder import load_with_adapter

    loaded, tokenizer, _ = load_with_adapter(model, adapter, force)
    return Planner(loaded, tokenizer, max_tokens=max_tokens).plan_many(queries)
