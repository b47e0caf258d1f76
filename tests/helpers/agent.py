"""Tiny trained adapters for the agent, and scripted planner/action stand-ins for the loop's logic.

The tiny planner LoRA learns a handful of (query -> plan) pairs, re-plan prompts included
(written with octo_mlx.syntax.replan_query, as re-plan training data must be); the tiny action
LoRA learns the calls of those steps, each with the observation it will read at run time. Both
train in seconds on the 2-layer llama. The scripted stand-ins exist only here: the product's
action model is a trained adapter, never a rule.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from octo_mlx.data import PlanExample, write_split
from octo_mlx.domains.world import new_state
from octo_mlx.functions.calls import Call, CallProblem
from octo_mlx.functions.simulator import execute
from octo_mlx.syntax import replan_query
from octo_mlx.train.loop import train
from octo_mlx.train.recipe import load_recipe
from tests.helpers.datasets import tiny_overrides

REQUEST = "Text Alice that I'm running late and set an alarm for 7:30"
PLAN = ["Send a text message to Alice saying I'm running late", "Set an alarm for 07:30"]
CALLS = [
    Call("send_text_message", {"contact_name": "Alice", "message": "I'm running late"}),
    Call("set_timer_alarm", {"time": "07:30", "label": "alarm"}),
]
LONG_REQUEST = "Tell me a very long story"  # the planner writes on and on: time to press Ctrl-C
LONG_PLAN = ["Tell a story that goes " + "on and " * 150 + "on"]

# A re-plan the planner learns: the text to "Alicia" fails (no such contact) and the new plan
# depends on that observation; the same prompt with another error asks for another plan.
TYPO_REQUEST = "Text Alicia that the meeting moved"
TYPO_STEP = "Send a text message to Alicia saying the meeting moved"
NO_CONTACT = "no contact named 'Alicia'; create_contact can add one"
OTHER_ERROR = "the messaging service is down"
REPLANS = {
    NO_CONTACT: ["Create a contact named Alicia with phone +14155550123", TYPO_STEP],
    OTHER_ERROR: ["Send an email to Alicia saying the meeting moved"],
}


def failed_observation(error: str) -> dict:
    arguments = {"contact_name": "Alicia", "message": "the meeting moved"}
    return {
        "function": "send_text_message",
        "arguments": arguments,
        "ok": False,
        "result": None,
        "error": error,
    }


def replan_prompt(error: str) -> str:
    return replan_query(TYPO_REQUEST, [], (TYPO_STEP, failed_observation(error)))


def _plan_examples() -> list[PlanExample]:
    pairs = [(REQUEST, PLAN), (LONG_REQUEST, LONG_PLAN), (TYPO_REQUEST, [TYPO_STEP])]
    pairs += [(replan_prompt(error), steps) for error, steps in REPLANS.items()]
    return [
        PlanExample(f"p{i}", q, tuple(s), tuple("send_text_message" for _ in s), ("android",), "offline")
        for i, (q, s) in enumerate(pairs)
    ]


CREATE_STEP = REPLANS[NO_CONTACT][0]
RECOVERY = [  # what the agent runs for TYPO_REQUEST: the failed text, the re-plan's two steps
    (TYPO_STEP, Call("send_text_message", {"contact_name": "Alicia", "message": "the meeting moved"})),
    (CREATE_STEP, Call("create_contact", {"name": "Alicia", "phone_number": "+14155550123"})),
    (TYPO_STEP, Call("send_text_message", {"contact_name": "Alicia", "message": "the meeting moved"})),
]


def _action_records() -> list[dict]:
    """Each step the agent meets with the observation it reads there (the gold calls run in order
    on the seeded device, as at run time)."""
    from octo_mlx.domains.catalog import find_function

    records = []
    for n, sequence in enumerate([list(zip(PLAN, CALLS)), RECOVERY]):
        state, observation = new_state(0), None
        for i, (step, call) in enumerate(sequence):
            records.append(
                {
                    "id": f"a{n}-{i}",
                    "step": step,
                    "observation": observation,
                    "call": call.to_dict(),
                    "domains": ["android"],
                    "template": f"{call.function}/agent{n}{i}",
                    "dependent": False,
                    "generator": "offline",
                }
            )
            observation = execute(find_function(call.function, ["android"]), call.arguments, state).to_dict()
    return records


def _write(folder: Path, lines: Sequence[dict], manifest: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid"):
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (folder / "dataset.json").write_text(json.dumps(manifest))
    return folder


def train_agent_adapters(tiny_llama: Path, root: Path) -> tuple[Path, Path]:
    """(planner adapter, action adapter) on the tiny llama, both taught their examples by heart."""
    plans = root / "plans"
    plans.mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid"):
        write_split(plans / f"{split}.jsonl", _plan_examples())
    actions = _write(
        root / "actions",
        _action_records(),
        {"generator": "offline", "seed": 0, "domains": ["android"], "task": "action", "counts": {}},
    )
    fast = ["lora.rank=16", "lora.alpha=32", "train.learning_rate=2e-3", "train.schedule=constant"]
    fast += ["train.warmup_ratio=0", "output.save_best=false", "train.save_every=1000"]
    planner = train(
        load_recipe(None, tiny_overrides(tiny_llama, plans, root / "planner", *fast, "train.epochs=60"))
    ).last_dir
    action = train(
        load_recipe(
            None,
            tiny_overrides(
                tiny_llama, actions, root / "action", *fast, "model.new_tokens=[]", "train.epochs=60"
            ),
        )
    ).last_dir
    return planner, action


# --- scripted stand-ins (tests only) -------------------------------------------------------------


@dataclass
class Out:
    """What a planner hands back last (a PlanOutput's ``steps``)."""

    steps: tuple[str, ...]


class ScriptedPlanner:
    """Plans from a table: query -> steps (a missing query: no steps); records every query."""

    def __init__(self, plans: dict[str, Sequence[str]]):
        self.plans = plans
        self.queries: list[str] = []

    def stream(self, query: str) -> Iterable:
        self.queries.append(query)
        steps = tuple(self.plans.get(query, ()))
        for i, step in enumerate(steps):
            yield ("<nexa_split>" if i else "") + step
        yield Out(steps)


@dataclass
class Decoded:
    """A DecodedCall's fields the agent reads."""

    text: str
    call: Call | None
    problem: CallProblem | None = None
    generation: object = None


@dataclass
class ScriptedAction:
    """Answers each step from a table: step -> a Call, a CallProblem, or a list of them (one per
    attempt). Records (step, observation, error) of every request."""

    answers: dict
    domains: list
    seen: list = field(default_factory=list)

    def act(self, step, observation=None, active=None, error=None):
        self.seen.append((step, observation, error))
        answer = self.answers[step]
        if isinstance(answer, list):
            answer = answer[min(sum(1 for s, _, _ in self.seen if s == step) - 1, len(answer) - 1)]
        if isinstance(answer, CallProblem):
            return Decoded("<nexa_0>{", None, answer)
        return Decoded(f"{answer.function}{answer.arguments_json()}", answer)


class NoRetryAction(ScriptedAction):
    """An action model whose ``act`` takes no ``error``: a refused call cannot be retried."""

    def act(self, step, observation=None, active=None):
        return super().act(step, observation, active)


def zeroed_planner_and_split(planner: Path, root: Path) -> tuple[Path, Path]:
    """(a copy of ``planner`` with every update zeroed: the bare base as an adapter, the
    validation split of the requests the planner knows by heart) under ``root``."""
    import shutil

    from safetensors.numpy import load_file, save_file

    zero = root / "zero"
    shutil.copytree(planner, zero)
    weights = load_file(str(zero / "adapters.safetensors"))
    save_file(
        {k: v * 0 if k.endswith("lora_b") else v for k, v in weights.items()},
        str(zero / "adapters.safetensors"),
    )
    data = root / "data"
    data.mkdir()
    for split in ("train", "valid"):
        write_split(data / f"{split}.jsonl", _plan_examples())
    return zero, data / "valid.jsonl"
