"""The planner: a query in, the planner's steps out, many queries batched (octo_mlx.generation).

The planner sees only the bare query wrapped in the model's own chat template (no function
descriptions: the paper's point is that fine-tuning internalises them). Generation stops at the
model's end marker, and the text is split on ``<nexa_split>`` by :func:`parse_plan`.

The step budget is part of the format: a plan has at most ``MAX_STEPS`` steps and no step
repeated verbatim. :class:`StepBudget` enforces it while decoding (the model is stopped as soon
as it closes its fifth step with ``<nexa_split>``, before a sixth begins, or closes a repeat)
and :func:`within_budget` cuts the parsed steps the same way, so a degenerate plan (one step
written nineteen times) leaves the planner as one step.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from octo_mlx.data import MAX_STEPS, PLAN_SPLIT
from octo_mlx.files import read_json_object
from octo_mlx.functions.dates import annotate_clock
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
from octo_mlx.syntax import CLOCK, TASK_FILE


@dataclass(frozen=True)
class PlanOutput(Generation):
    """One generated plan: the generation (text, counts, timings) and ``steps = parse_plan(text)``."""

    steps: tuple[str, ...] = ()

    @classmethod
    def of(cls, generation: Generation, step_budget: bool = True) -> PlanOutput:
        """The plan of a planner's generation (cut by :func:`within_budget` unless
        ``step_budget`` is False)."""
        steps = parse_plan(generation.text)
        return cls(**asdict(generation), steps=tuple(within_budget(steps) if step_budget else steps))


def parse_plan(text: str) -> list[str]:
    """Split a planner output into steps, leniently (for model outputs).

    Cuts at the first chat end marker (octo_mlx.generation.END_MARKERS), strips whitespace and
    drops empty pieces (e.g. a trailing ``<nexa_split>``). ``octo_mlx.data.check_record`` is the
    strict check of training data.
    """
    return [s.strip() for s in cut_at_end_marker(text).split(PLAN_SPLIT) if s.strip()]


def within_budget(steps: Sequence[str], max_steps: int = MAX_STEPS) -> list[str]:
    """The steps up to the first verbatim repeat of an earlier step, at most ``max_steps``: what
    :class:`StepBudget` lets a plan keep (a repeat means the model has started to loop)."""
    kept: list[str] = []
    for step in steps:
        if step in kept or len(kept) == max_steps:
            break
        kept.append(step)
    return kept


class StepBudget:
    """A logits processor that ends a plan (only the end marker allowed) as soon as the model
    closes its ``max_steps``-th step with ``<nexa_split>`` or closes a step that repeats an
    earlier one token for token. Made per sequence: ``prompt_tokens`` is where its generated
    tokens start in the context mlx-lm passes (a query may itself contain ``<nexa_split>``).
    A tokenizer without ``<nexa_split>`` gets no processor (:func:`plan_processors`).
    """

    def __init__(self, split_id: int, stop_id: int, prompt_tokens: int, max_steps: int = MAX_STEPS):
        self.split_id, self.stop_id = split_id, stop_id
        self.prompt_tokens, self.max_steps = prompt_tokens, max_steps

    def spent(self, generated: Sequence[int]) -> bool:
        """Whether the plan must end here: its last token closed one step too many or a repeat."""
        if not generated or generated[-1] != self.split_id:
            return False
        steps: list[tuple[int, ...]] = []
        current: list[int] = []
        for token in generated[:-1]:
            if token == self.split_id:
                if current:
                    steps.append(tuple(current))
                current = []
            else:
                current.append(token)
        if not current:  # an empty step (two splits in a row) closes nothing
            return False
        return len(steps) + 1 >= self.max_steps or tuple(current) in steps

    def __call__(self, tokens, logits):
        import mlx.core as mx

        generated = tokens[self.prompt_tokens :]
        if len(generated) == 0 or int(generated[-1]) != self.split_id:  # the usual case, cheaply
            return logits
        if not self.spent(
            [int(t) for t in generated.tolist()] if hasattr(generated, "tolist") else generated
        ):
            return logits
        only_stop = mx.broadcast_to(mx.arange(int(logits.shape[-1])) == self.stop_id, logits.shape)
        return mx.where(only_stop, mx.array(0.0, logits.dtype), mx.array(-mx.inf, logits.dtype))


def chat_messages(query: str, clock: bool = False) -> list[dict[str, str]]:
    """The planner conversation: the bare query as the only user message (no system prompt);
    ``clock``: with each 12-hour time followed by its 24-hour form
    (:func:`octo_mlx.functions.dates.annotate_clock`), for a planner taught so (:func:`clock_for`)."""
    return [{"role": "user", "content": annotate_clock(query) if clock else query}]


def clock_for(config: Mapping) -> bool:
    """Whether a planner adapter was taught requests with 24-hour times written in
    (its adapter_config.json records ``"queries": CLOCK``); it must be asked the same way."""
    return config.get("queries") == CLOCK


def clock_of(adapter: str | Path | None, model: str | Path | None = None) -> bool:
    """:func:`clock_for` of the planner an adapter folder (else a model folder) holds: an
    adapter's adapter_config.json, a fully fine-tuned model's octo-mlx-task.json (False: both
    None, or a folder that records neither)."""
    folder = adapter if adapter is not None else model
    for name in ("adapter_config.json", TASK_FILE):
        if folder is not None and (Path(folder) / name).is_file():
            return clock_for(read_json_object(Path(folder) / name))
    return False


def plan_prompt(tokenizer, query: str, clock: bool = False) -> list[int]:
    """The token ids the planner sees for ``query``: the bare query through the chat template."""
    return encode_prompt(tokenizer, chat_messages(query, clock))


def encode_queries(
    model,
    tokenizer,
    queries: Sequence[str],
    max_tokens: int,
    labels: Sequence[str] | None = None,
    clock: bool = False,
) -> list[list[int]]:
    """The planner prompts of ``queries``, every one checked against the model's context minus
    ``max_tokens`` before any is generated: first by characters (absurd text is never tokenized),
    then by tokens.

    Args:
        labels: how an error names each query (default ``query N``, from 1).
        clock: 24-hour times written in (:func:`chat_messages`).

    Raises:
        OctoError: a query whose prompt does not fit, named by its label.
    """
    limit = prompt_limit(model, tokenizer, max_tokens)
    labels = list(labels) if labels is not None else [f"query {i + 1}" for i in range(len(queries))]
    check_texts(queries, limit, labels)
    prompts = [plan_prompt(tokenizer, q, clock) for q in queries]
    check_prompts(prompts, limit, labels)
    return prompts


def plan_processors(tokenizer, prompt_tokens: int | None = None) -> list:
    """The planner's logits processors: every added-token table entry but ``<nexa_split>``
    masked (``models.tokens.TableMask``; none for a tokenizer without the table), then, given
    the prompt's length, the :class:`StepBudget` of that one sequence."""
    return _PlanParts(tokenizer).processors(prompt_tokens)


class _PlanParts:
    """What every plan's processors share, read from the tokenizer once (its vocabulary is a
    dict of ~50k entries built per call)."""

    def __init__(self, tokenizer):
        from octo_mlx.generation import stop_token_ids
        from octo_mlx.models.tokens import TableMask

        mask = TableMask(tokenizer, (PLAN_SPLIT,))
        self.masks: list = [mask] if mask.blocked else []
        split_id = getattr(tokenizer, "_tokenizer", tokenizer).get_vocab().get(PLAN_SPLIT)
        stops = stop_token_ids(tokenizer)
        self.budget = (int(split_id), stops[0]) if split_id is not None and stops else None

    def processors(self, prompt_tokens: int | None) -> list:
        if prompt_tokens is None or self.budget is None:
            return list(self.masks)
        return [*self.masks, StepBudget(*self.budget, prompt_tokens)]


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
    step_budget: bool = True,
) -> tuple[list[PlanOutput], RunStats]:
    """Generate from tokenized prompts and parse each completion as a plan, in input order.

    Every added-token table entry but ``<nexa_split>`` is masked and, unless ``step_budget`` is
    False (to measure what it changes), each plan keeps to the step budget
    (:func:`plan_processors`). See :func:`octo_mlx.generation.generate` for the other arguments;
    returns the plans and the run's stats.
    """
    parts = _PlanParts(tokenizer)
    if step_budget:
        processors = lambda i: parts.processors(len(prompts[i]))  # noqa: E731
    else:
        processors = (lambda i: parts.masks) if parts.masks else None
    outputs, run = generate(
        model, tokenizer, prompts, max_tokens, batch_size, greedy, temperature, seed, labels, processors
    )
    return [PlanOutput.of(g, step_budget) for g in outputs], run


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
    step_budget: bool = True,
    clock: bool = False,
) -> list[PlanOutput]:
    """Plan each query with the bare-query chat prompt (``clock``: :func:`chat_messages`); see
    :func:`plan_prompts` for the other Args.

    Every query is checked against the model's context before the first is planned
    (:func:`encode_queries`); ``labels`` name them in that error (default ``query N``).
    """
    labels = list(labels) if labels is not None else [f"query {i + 1}" for i in range(len(queries))]
    prompts = encode_queries(model, tokenizer, queries, max_tokens, labels, clock)
    return plan_prompts(
        model, tokenizer, prompts, max_tokens, batch_size, greedy, temperature, seed, labels, step_budget
    )[0]


class Planner:
    """A loaded planner model: ``Planner(model, tokenizer).plan("query")`` -> PlanOutput.

    Args:
        model, tokenizer: as returned by ``mlx_lm.load`` / ``octo_mlx.adapters.folder.load_with_adapter``.
        max_tokens: most generated tokens per plan.
        batch_size: most queries decoded together by :meth:`plan_many`.
        step_budget: keep every plan to the step budget (:class:`StepBudget`).
        clock: write 24-hour times into the request, for a planner taught so (:func:`clock_for`).
        lookup: draft tokens checked per forward pass by :meth:`stream` (prompt lookup,
            :func:`octo_mlx.generation.lookup_draft`): the same plan, sooner. 0: off (the agent
            turns it on: :func:`octo_mlx.agent.session.open_session`).
    """

    def __init__(
        self,
        model,
        tokenizer,
        max_tokens: int = 128,
        batch_size: int = 16,
        step_budget: bool = True,
        clock: bool = False,
        lookup: int = 0,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.step_budget = step_budget
        self.clock = clock
        self.lookup = lookup

    def plan(self, query: str, greedy: bool = True) -> PlanOutput:
        """Plan one query."""
        return self.plan_many([query], greedy=greedy)[0]

    def plan_many(self, queries: Sequence[str], greedy: bool = True) -> list[PlanOutput]:
        """Plan many queries, batched, in input order."""
        return generate_plans(
            self.model,
            self.tokenizer,
            queries,
            self.max_tokens,
            self.batch_size,
            greedy,
            step_budget=self.step_budget,
            clock=self.clock,
        )

    def stream(self, query: str) -> Iterator[str | PlanOutput]:
        """Plan one query greedily at batch 1, token by token (the agent's plan as it is written):
        yields each new piece of text as soon as it can no longer change (``<nexa_split>`` in it as
        written), then, last, the :class:`PlanOutput`. Closing the iterator stops decoding at once.

        Raises:
            OctoError: the query does not fit the model's context (before any decoding).
        """
        prompt = encode_queries(self.model, self.tokenizer, [query], self.max_tokens, clock=self.clock)[0]
        pieces = generate_stream(
            self.model,
            self.tokenizer,
            prompt,
            max_tokens=self.max_tokens,
            logits_processors=plan_processors(self.tokenizer, len(prompt) if self.step_budget else None),
            lookup=self.lookup,
        )
        try:
            for piece in pieces:
                if piece.text:
                    yield piece.text
                if piece.generation is not None:
                    yield PlanOutput.of(piece.generation, self.step_budget)
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
    clock = clock_of(adapter, model)
    return Planner(loaded, tokenizer, max_tokens=max_tokens, clock=clock).plan_many(queries)
