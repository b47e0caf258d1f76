"""What the teacher is asked, and how its replies are read: tasks, messages, lenient JSON parsing.

The paper's recipe (shared/brief/paper.md, "Making the data"): pick the step count first, ask a
strong LLM at raised temperature for a diverse query that the functions answer in that many
steps, ask for its plan, then ask a judge to accept or reject the pair. The plan carries every
step's gold call (function and arguments); a step that acts on the previous step's result gets
its arguments from a further request that shows that result (octo_mlx.synth.gold_calls).
Every task here is planned up front from the seed (step count, suggested functions, style), so
a run is a pure function of (seed, teacher replies): that is what makes the request cache and
resume exact.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from octo_mlx.data import NO_FUNCTION
from octo_mlx.functions.dates import convention
from octo_mlx.functions.simulator import TODAY

# Style hints rotate per (task, attempt): the paper raises the temperature for diversity; a
# varied instruction adds diversity that does not depend on the sampler.
STYLES = (
    "casual and short",
    "polite and complete sentences",
    "terse, like a voice command",
    "in a hurry, one long sentence",
    "friendly, mentions why they need it",
    "precise, with exact times and numbers",
    "conversational, starts with 'hey' or 'can you'",
    "formal, like writing to an assistant",
)

SYSTEM = (
    "You write training data for a small on-device planner agent. Follow the instructions "
    "exactly and reply with one JSON object only, no prose."
)

QUERY_SCHEMA = {
    "type": "object",
    "properties": {"query": {"type": "string"}},
    "required": ["query"],
    "additionalProperties": False,
}
# A call's arguments travel as JSON text, as in OpenAI tool calls: a strict JSON schema cannot
# describe an object whose keys differ from function to function.
PLAN_SCHEMA = {
    "type": "object",
    "properties": {
        "steps": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "step": {"type": "string"},
                    "function": {"type": "string"},
                    "arguments": {"type": "string"},
                    "uses_previous_result": {"type": "boolean"},
                },
                "required": ["step", "function", "arguments", "uses_previous_result"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["steps"],
    "additionalProperties": False,
}
CALL_SCHEMA = {
    "type": "object",
    "properties": {"arguments": {"type": "string"}},
    "required": ["arguments"],
    "additionalProperties": False,
}
JUDGE_SCHEMA = {
    "type": "object",
    "properties": {"valid": {"type": "boolean"}, "reason": {"type": "string"}},
    "required": ["valid", "reason"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Task:
    """One planned example: what the teacher is asked to write.

    Args:
        index: position in the run (ids and seeds derive from it).
        n_steps: the requested step count (1 for an irrelevant query).
        functions: the suggested function per step, or ("none",) for an irrelevant query.
        domains: the domains whose functions the teacher is shown.
    """

    index: int
    n_steps: int
    functions: tuple[str, ...]
    domains: tuple[str, ...]

    @property
    def irrelevant(self) -> bool:
        return self.functions == (NO_FUNCTION,)


def derive_seed(seed: int, *parts: Any) -> int:
    """A stable 31-bit seed for one request (same in every process: no Python hash())."""
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).hexdigest()
    return int(digest[:8], 16) & 0x7FFFFFFF


def allocate(n: int, weights: Mapping[int, float]) -> dict[int, int]:
    """Split n into integer counts proportional to weights (largest remainder; sums to n)."""
    total = sum(weights.values())
    exact = {k: n * w / total for k, w in weights.items()}
    counts = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: (counts[k] - exact[k], k))[: n - sum(counts.values())]:
        counts[k] += 1
    return counts


class _Bag:
    """Draw items so that each appears equally often: shuffle, hand out, reshuffle when empty."""

    def __init__(self, items: Sequence[str], rng: random.Random):
        self.items, self.rng, self.left = list(items), rng, []

    def draw(self) -> str:
        if not self.left:
            self.left = self.rng.sample(self.items, len(self.items))
        return self.left.pop()


def plan_tasks(
    domains: Sequence[Any],
    n: int,
    seed: int,
    steps: Mapping[int, float],
    irrelevant: float = 0.0,
    multi_domain: bool = False,
) -> list[Task]:
    """Plan n tasks: step counts in proportion to ``steps``, a share of irrelevant queries,
    functions balanced across the domain(s).

    Args:
        domains: Domain objects (``.name``, ``.names``).
        n: number of tasks (= examples requested).
        seed: makes the plan reproducible.
        steps: step count -> weight (the paper: 1..5 equally).
        irrelevant: share of queries that need no function.
        multi_domain: each step draws its domain with equal probability (workflows across
            domains); otherwise each task stays in one domain, the domains taking turns.
    """
    rng = random.Random(f"tasks:{seed}")
    n_irr = round(n * irrelevant)
    counts = allocate(n - n_irr, steps)
    step_list = [k for k in sorted(counts) for _ in range(counts[k])] + [0] * n_irr
    rng.shuffle(step_list)
    bags = {d.name: _Bag(d.names, rng) for d in domains}
    turns = _Bag([d.name for d in domains], rng)
    names = tuple(d.name for d in domains)
    tasks = []
    for i, k in enumerate(step_list):
        if k == 0:
            tasks.append(Task(i, 1, (NO_FUNCTION,), names if multi_domain else (turns.draw(),)))
            continue
        if multi_domain:
            picks = [rng.choice(names) for _ in range(k)]
            funcs = tuple(bags[d].draw() for d in picks)
            tasks.append(Task(i, k, funcs, names))
        else:
            d = turns.draw()
            tasks.append(Task(i, k, tuple(bags[d].draw() for _ in range(k)), (d,)))
    return tasks


def style_for(seed: int, task: Task, attempt: int) -> str:
    return STYLES[derive_seed(seed, "style", task.index, attempt) % len(STYLES)]


def tools_text(tools: Sequence[dict]) -> str:
    """The functions as OpenAI tools, one compact JSON object per line."""
    return "\n".join(json.dumps(t, separators=(",", ":"), ensure_ascii=False) for t in tools)


def query_messages(task: Task, tools: Sequence[dict], style: str) -> list[dict]:
    """Ask for one user query (raised temperature: this is where diversity comes from)."""
    head = f"Functions available on the phone (OpenAI tools format):\n{tools_text(tools)}\n\n"
    if task.irrelevant:
        ask = (
            "Write one realistic request a user might say to their phone that NONE of these "
            "functions can help with (small talk, general knowledge, or a task outside these apps)."
        )
    else:
        plural = "step" if task.n_steps == 1 else "steps"
        ask = (
            f"Write one realistic request a user might say to their phone that needs exactly "
            f"{task.n_steps} {plural}, one function call per step, using these functions in this "
            f"order: {', '.join(task.functions)}. Make it specific (names, places, times, amounts) "
            "and natural; never write function names."
        )
    tail = f' Style: {style}.\nReply with JSON only: {{"query": "..."}}'
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": head + ask + tail}]


def plan_messages(task: Task, tools: Sequence[dict], query: str) -> list[dict]:
    """Ask for the plan of a query: every step with its call (function and arguments), and
    whether it acts on the previous step's result (structured JSON)."""
    plural = "step" if task.n_steps == 1 else "steps"
    content = (
        f"Functions available on the phone (OpenAI tools format):\n{tools_text(tools)}\n\n"
        f"User request: {json.dumps(query, ensure_ascii=False)}\n\n"
        f"Break the request into exactly {task.n_steps} {plural}. Each step is one short imperative "
        "sentence that one function call carries out; keep the concrete values; never write "
        "function names in the step text. For each step give the function it calls and the "
        "call's arguments: a JSON object as a string, valid against the function's parameters, "
        "holding the values the step states. A step that acts on what the step just before it "
        'returns (e.g. "Add the cheapest product found to the cart") has uses_previous_result '
        'true and arguments "{}": you will be shown that result and asked for its arguments then. '
        f"{convention(TODAY)}\n"
        'Reply with JSON only: {"steps": [{"step": "...", "function": "...", '
        '"arguments": "{\\"name\\": \\"value\\"}", "uses_previous_result": false}]}'
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}]


def call_messages(tool: dict, step: str, observation: Mapping[str, Any]) -> list[dict]:
    """Ask for the arguments of a step that acts on the previous step's result, given what that
    call returned in the simulated world (what the action model will be shown too)."""
    content = (
        f"Function (OpenAI tools format):\n{tools_text([tool])}\n\n"
        f"Step: {json.dumps(step, ensure_ascii=False)}\n"
        f"What the previous step's call returned: {json.dumps(observation, ensure_ascii=False)}\n\n"
        "Write the arguments of the call of this function that carries out the step: valid "
        "against its parameters, with the values the step states and the ones it takes from "
        f"the previous result. {convention(TODAY)}\n"
        'Reply with JSON only: {"arguments": "{\\"name\\": \\"value\\"}"}'
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}]


def judge_messages(
    task: Task,
    tools: Sequence[dict],
    query: str,
    steps: Sequence[str],
    functions: Sequence[str],
    calls: Sequence[Any] | None = None,
    dependent: Sequence[bool] = (),
) -> list[dict]:
    """Ask the judge to accept or reject one (query, plan) pair, with a reason.

    Args:
        calls: the plan's gold calls (``Call``), shown beside each step when given.
        dependent: which steps took values from the previous step's result.
    """
    head = f"Functions available on the phone (OpenAI tools format):\n{tools_text(tools)}\n\n"
    if task.irrelevant:
        ask = (
            f"User request: {json.dumps(query, ensure_ascii=False)}\n\n"
            "Is it true that none of these functions can help with this request? valid=true "
            "when no function is relevant, false when some function could serve it."
        )
    else:
        lines = []
        for i, (s, f) in enumerate(zip(steps, functions)):
            call = f
            if calls is not None:
                call = f"{f}({calls[i].arguments_json()})"
                if i < len(dependent) and dependent[i]:
                    call += " [values from the previous step's result]"
            lines.append(f"{i + 1}. {s} -> {call}")
        plan = "\n".join(lines)
        ask = (
            f"User request: {json.dumps(query, ensure_ascii=False)}\n\n"
            f"Proposed plan (step -> function call):\n{plan}\n\n"
            "Is this plan correct? It is correct when every step is needed, each step is carried "
            "out by the function named with the values the step states, the steps are in an order "
            "that works, and together they fulfil the whole request."
        )
    tail = '\nReply with JSON only: {"valid": true or false, "reason": "one sentence"}'
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": head + ask + tail}]


# --- reading replies ------------------------------------------------------------------------


class ReplyError(ValueError):
    """A reply that cannot be used (its text is kept as the rejection reason)."""


def extract_json(text: str) -> dict | None:
    """The first JSON object in ``text`` (code fences, prose before or after are ignored)."""
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = decoder.raw_decode(text, m.start())
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


def _obj(text: str, what: str) -> dict:
    obj = extract_json(text)
    if obj is None:
        snippet = " ".join(text.split())[:60]
        raise ReplyError(f"{what} reply has no JSON object: {snippet!r}")
    return obj


def parse_query_reply(text: str) -> str:
    """The query of a query reply; raises ReplyError."""
    obj = _obj(text, "query")
    q = obj.get("query", obj.get("request"))
    if not isinstance(q, str) or not q.strip():
        raise ReplyError(f"query reply has no 'query' string (keys: {sorted(obj)})")
    return " ".join(q.split())


@dataclass(frozen=True)
class PlanStep:
    """One step of a plan reply: its text, function, arguments (a JSON object or its text, as
    written; read by octo_mlx.synth.gold_calls) and whether it acts on the previous result."""

    step: str
    function: str
    arguments: Any = field(default=None, hash=False)
    uses_previous: bool = False


def parse_plan_reply(text: str) -> list[PlanStep]:
    """The steps of a plan reply; accepts {"steps"|"plan": [{"step"|"description",
    "function"|"name", "arguments", "uses_previous_result"}]} ("true"/"false" as text too);
    raises ReplyError."""
    obj = _obj(text, "plan")
    items = obj.get("steps", obj.get("plan"))
    if not isinstance(items, list) or not items:
        raise ReplyError(f"plan reply has no 'steps' list (keys: {sorted(obj)})")
    out = []
    for i, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise ReplyError(f"plan step {i} is not an object")
        s = item.get("step", item.get("description"))
        f = item.get("function", item.get("name"))
        if not isinstance(s, str) or not isinstance(f, str):
            raise ReplyError(f"plan step {i} needs 'step' and 'function' strings")
        uses = _boolean(item.get("uses_previous_result", False))
        if uses is None:
            raise ReplyError(f"plan step {i}: 'uses_previous_result' must be true or false")
        out.append(PlanStep(" ".join(s.split()), f.strip(), item.get("arguments"), uses))
    return out


def parse_call_reply(text: str) -> Any:
    """The arguments of a call reply (a JSON object or its text, as written); raises ReplyError."""
    obj = _obj(text, "call")
    if "arguments" not in obj:
        raise ReplyError(f"call reply has no 'arguments' (keys: {sorted(obj)})")
    return obj["arguments"]


def _boolean(value: Any) -> bool | None:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value if isinstance(value, bool) else None


def parse_judge_reply(text: str) -> tuple[bool, str]:
    """(valid, reason) of a judge reply; raises ReplyError."""
    obj = _obj(text, "judge")
    valid = _boolean(obj.get("valid"))
    if valid is None:
        raise ReplyError(f"judge reply has no boolean 'valid' (keys: {sorted(obj)})")
    reason = obj.get("reason", "")
    return valid, " ".join(str(reason).split())
