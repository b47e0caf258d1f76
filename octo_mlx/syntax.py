"""The call syntax of the action model, the slot map, and a parser that never evaluates anything.

One call per step, written as a functional token, the arguments as one JSON object, the end
token::

    <nexa_7>{"contact_name": "Alice", "message": "I will be late"}<nexa_end>
    <nexa_none><nexa_end>                      (no function applies)

The tokens are entries of the one added-token table (:mod:`octo_mlx.models.tokens`). A slot is
not a function: an action adapter records which function each slot it uses stands for, as a
:class:`SlotMap`. The arguments are written compactly (``", "`` and ``": "`` separators, keys in
the order the function declares them), the exact form constrained decoding produces, so a
training target is a sentence of the decoding grammar.

:func:`parse_call` reads model output with ``json`` only (through
:func:`octo_mlx.functions.calls.parse_arguments`) and checks it against the function's schema;
whatever the text, it returns a :class:`Call` or raises a :class:`CallProblem`, nothing else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from octo_mlx.errors import OctoError
from octo_mlx.functions.calls import NO_CALL, Call, CallProblem, check_call, parse_arguments
from octo_mlx.functions.contract import Domain, Function
from octo_mlx.functions.dates import annotate_dates
from octo_mlx.functions.languages import annotate_languages
from octo_mlx.generation import END_MARKERS
from octo_mlx.models.tokens import END, N_SLOTS, NONE, slot_token

_FUNCTIONAL = re.compile(r"<nexa_(\d{1,9})>")  # a slot token (the table check follows)
_TABLE_LIKE = re.compile(r"<nexa_[A-Za-z0-9_]{0,32}>")  # anything spelled like a table entry
_SHOWN = 60  # characters of model output quoted in a problem's message


@dataclass(frozen=True)
class SlotMap:
    """Which function each functional token stands for: ``slots`` as (slot, function name) pairs,
    by slot. An action adapter records it (:meth:`to_json`); decoding generates only the slots of
    the active functions.
    """

    slots: tuple[tuple[int, str], ...]

    def __post_init__(self):
        _check_pairs(self.slots, None)
        object.__setattr__(self, "slots", tuple(sorted(self.slots)))

    @classmethod
    def for_functions(cls, names: Iterable[str]) -> SlotMap:
        """Slots 0, 1, ... for ``names`` in the order given (a stable order is the caller's)."""
        return cls(tuple(enumerate(names)))

    @classmethod
    def for_domains(cls, domains: Iterable[Domain]) -> SlotMap:
        """Slots for every function of ``domains``, in domain then declaration order (the bundled
        android domain first gives Octopus v2's order: ``<nexa_0>`` takes a photo)."""
        return cls.for_functions(f.name for d in domains for f in d.functions)

    @property
    def names(self) -> list[str]:
        return [name for _, name in self.slots]

    def __len__(self) -> int:
        return len(self.slots)

    def __contains__(self, name: object) -> bool:
        return any(n == name for _, n in self.slots)

    def slot(self, name: str) -> int:
        """The slot of function ``name``.

        Raises:
            OctoError: no slot stands for it.
        """
        for slot, n in self.slots:
            if n == name:
                return slot
        raise OctoError(f"no slot stands for function {name!r} ({len(self)} slots)", "slot map")

    def token(self, name: str) -> str:
        """The functional token of function ``name`` (``<nexa_K>``)."""
        return slot_token(self.slot(name))

    def function(self, slot: int) -> str | None:
        """The function slot ``slot`` stands for, or None."""
        return next((n for s, n in self.slots if s == slot), None)

    def to_json(self) -> dict[str, Any]:
        """``{"slots": {"0": NAME, ...}}``: the form an adapter records."""
        return {"slots": {str(slot): name for slot, name in self.slots}}

    @classmethod
    def from_json(cls, value: Any, where: str = "slot map") -> SlotMap:
        """The slot map of :meth:`to_json`.

        Raises:
            OctoError: ``where: ...`` for any other shape, a slot outside the table, a name given
                twice.
        """
        slots = value.get("slots") if isinstance(value, dict) and set(value) == {"slots"} else None
        if not isinstance(slots, dict):
            raise OctoError('a slot map is {"slots": {"0": FUNCTION_NAME, ...}}', where)
        pairs = []
        for key, name in slots.items():
            if not (isinstance(key, str) and key.isdigit() and key == str(int(key))):
                raise OctoError(f"slot {key!r} is not a slot number (0 .. {N_SLOTS - 1})", where)
            pairs.append((int(key), name))
        _check_pairs(pairs, where)
        return cls(tuple(pairs))


def _check_pairs(pairs: Iterable[tuple[int, str]], where: str | None) -> None:
    seen_slots: set[int] = set()
    seen_names: set[str] = set()
    for slot, name in pairs:
        if not isinstance(slot, int) or isinstance(slot, bool) or not 0 <= slot < N_SLOTS:
            raise OctoError(f"slot {slot!r} is outside the table's slots 0 .. {N_SLOTS - 1}", where)
        if not isinstance(name, str) or not name.isidentifier():
            raise OctoError(f"slot {slot}: {name!r} is not a function name", where)
        if slot in seen_slots:
            raise OctoError(f"slot {slot} given twice", where)
        if name in seen_names:
            raise OctoError(f"function {name!r} has two slots", where)
        seen_slots.add(slot)
        seen_names.add(name)


def ordered_arguments(arguments: Mapping[str, Any], function: Function) -> dict[str, Any]:
    """``arguments`` with the keys the function declares first, in its declared order (the order
    the decoding grammar writes them), any others after as given."""
    declared = list(function.parameters.get("properties", {}))
    out = {k: arguments[k] for k in declared if k in arguments}
    out.update((k, v) for k, v in arguments.items() if k not in out)
    return out


def format_call(call: Call, slots: SlotMap, function: Function | None = None) -> str:
    """The text of ``call`` as the action model writes it (its training target).

    Args:
        call: the gold call (``NO_CALL`` for a step no function serves).
        slots: the adapter's slot map.
        function: the call's function; given, the arguments are written in its declared order,
            as constrained decoding writes them (give it for training targets).

    Raises:
        OctoError: no slot stands for the call's function.
    """
    if call.is_none:
        return NONE + END
    arguments = call.arguments if function is None else ordered_arguments(call.arguments, function)
    return slots.token(call.function) + Call(call.function, arguments).arguments_json() + END


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


def parse_call(
    text: str, slots: SlotMap, active_functions: Iterable[Function] | Mapping[str, Function]
) -> Call:
    """The call the model wrote, checked against its function's schema; nothing is evaluated.

    Args:
        text: the model's output from its first generated token, the end token included when it
            wrote one (decode the generated ids, do not strip end markers).
        slots: the adapter's slot map.
        active_functions: the functions of the active domains (a call of any other is refused).

    Returns:
        the call (``Call(NO_CALL)`` for ``<nexa_none><nexa_end>``).

    Raises:
        CallProblem: "syntax" (no functional token first, text after the end, arguments that are
            not one JSON object), "unknown_function" (a token no function stands for),
            "out_of_domain", "unterminated" (no ``<nexa_end>``), "too_long", "unknown_argument",
            "missing_argument", "invalid_argument". Never anything else.
    """
    if not isinstance(text, str):
        raise CallProblem("syntax", f"model output must be text, got {type(text).__name__}")
    active = (
        dict(active_functions)
        if isinstance(active_functions, Mapping)
        else {f.name: f for f in active_functions}
    )
    body = text.lstrip()
    if body.startswith(NONE):
        name, body = NO_CALL, body[len(NONE) :]
    else:
        match = _FUNCTIONAL.match(body)
        if match is None:
            spelled = _TABLE_LIKE.match(body)
            if spelled is not None and spelled.group(0) not in (END, NONE):
                raise CallProblem("unknown_function", f"{spelled.group(0)} is not a functional token")
            raise CallProblem(
                "syntax", f"a call starts with a functional token or {NONE}; got {_shown(body)}"
            )
        token = match.group(0)
        slot = int(match.group(1))
        if token != slot_token(slot) or slot >= N_SLOTS:
            raise CallProblem("unknown_function", f"{token} is not a slot of the table (0 .. {N_SLOTS - 1})")
        name = slots.function(slot)
        if name is None:
            raise CallProblem("unknown_function", f"{token}: no function stands for slot {slot}")
        if name not in active:
            raise CallProblem(
                "out_of_domain", f"{token} stands for {name}, which no active domain holds", name
            )
        body = body[match.end() :]
    end = body.find(END)
    if end < 0:
        raise CallProblem(
            "unterminated", f"no {END}: the output stopped after {len(body)} characters of arguments", name
        )
    rest = body[end + len(END) :]
    for marker in END_MARKERS:
        rest = rest.replace(marker, "")
    if rest.strip():
        raise CallProblem("syntax", f"text after {END}: {_shown(rest.strip())}", name)
    arguments_text = body[:end]
    if name == NO_CALL:
        if arguments_text.strip():
            raise CallProblem("syntax", f"{NONE} takes no arguments; got {_shown(arguments_text)}")
        return Call(NO_CALL)
    arguments = parse_arguments(arguments_text, name)
    return check_call(Call(name, arguments), active[name])


# --- what the action model reads --------------------------------------------------------------

TASK_FILE = "octo-mlx-task.json"  # a fully fine-tuned action model's task, slots and domains
DATES = "iso-annotated/1"  # in an action model's task record: it was taught steps with dates annotated
LANGUAGES = "iso639-annotated/1"  # in an action model's task record: its steps' language names carried codes
CLOCK = "clock-annotated/1"  # a planner's "queries" record: it was taught requests with 24-hour times
MAX_OBSERVATION_CHARS = 2_000  # a bundled search result is < 1,000; longer ones are cut, and say so


def render_observation(observation: Mapping[str, Any] | None) -> str:
    """The previous call's outcome as the action model reads it: its function, then its result
    (or its error) as compact JSON, cut at MAX_OBSERVATION_CHARS."""
    if not observation:
        return ""
    name = observation.get("function", "?")
    if observation.get("ok", True):
        body = json.dumps(observation.get("result"), ensure_ascii=False, separators=(",", ":"))
        text = f"Result of {name}: {body}"
    else:
        text = f"{name} failed: {observation.get('error')}"
    if len(text) > MAX_OBSERVATION_CHARS:
        text = text[:MAX_OBSERVATION_CHARS] + " ...(cut)"
    return text


def action_messages(
    step: str,
    observation: Mapping[str, Any] | None = None,
    error: str | None = None,
    today: str | None = None,
    languages: bool = False,
) -> list[dict[str, str]]:
    """The chat turns of one action-model request: the step, then the previous result if any.
    Training (:mod:`octo_mlx.train`) and the action model (:mod:`octo_mlx.action`) both use it,
    so the model is asked at run time exactly as it was taught.

    Args:
        error: why the call the model wrote for this step was refused (the agent's one retry,
            :mod:`octo_mlx.agent`): added as the last line, :data:`RETRY_NOTE`.
        today: the ISO date calendar words in the step are resolved against
            (:func:`octo_mlx.functions.dates.annotate_dates`); None leaves the step as written
            (an action model trained before dates were annotated, :data:`DATES`).
        languages: write each language name's ISO 639-1 code after it
            (:func:`octo_mlx.functions.languages.annotate_languages`), for a model taught so
            (:data:`LANGUAGES`).
    """
    if today is not None:
        step = annotate_dates(step, today)
    if languages:
        step = annotate_languages(step)
    parts = [step.strip(), render_observation(observation)]
    if error:
        parts.append(RETRY_NOTE.format(error=error))
    return [{"role": "user", "content": "\n\n".join(p for p in parts if p)}]


# --- what the planner reads to re-plan --------------------------------------------------------

RETRY_NOTE = "Your call for this step was refused: {error}"
REPLAN_ASK = "Plan the remaining steps."


def replan_query(
    query: str,
    done: Sequence[tuple[str, Mapping[str, Any] | None]],
    failed: tuple[str, Mapping[str, Any] | None],
) -> str:
    """The planner's input to re-plan after a failed step: the request, each step run so far with
    its observation, the failed step with its error, and the ask. The agent (:mod:`octo_mlx.agent`)
    sends it as the bare query of an ordinary plan prompt and reads the answer as the remaining
    steps; re-plan training examples must be written with this function, so that the planner is
    asked at run time exactly as it was taught::

        Text Alicia that I'm late and set an alarm for 7:30

        Step 1: Send a text message to Alicia saying I'm late
        send_text_message failed: no contact named 'Alicia'; create_contact can add one

        Plan the remaining steps.

    Args:
        query: the user's request.
        done: (step, observation) of every step run before the failed one, in order.
        failed: the failed step and its observation (``ok`` false, ``error`` set).
    """
    lines = [query.strip(), ""]
    for i, (step, observation) in enumerate([*done, failed], 1):
        lines.append(f"Step {i}: {step.strip()}")
        lines.append(render_observation(observation) or "(no observation)")
    return "\n".join([*lines, "", REPLAN_ASK])


def action_tokens(slots: SlotMap) -> list[str]:
    """The table entries whose rows an action adapter trains: its slots, ``<nexa_none>``,
    ``<nexa_end>``."""
    return [END, NONE, *(slot_token(s) for s, _ in slots.slots)]
