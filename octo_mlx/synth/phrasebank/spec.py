"""The phrase-bank vocabulary: how one function is asked for, and how its step is written.

A function's entry (:class:`FunctionPhrases`) holds

- a slot sampler: ``Random -> Slots`` with the call's arguments (valid against the function's
  JSON schema) and the text forms templates use (``{time}`` = "19:30", ``{time_q}`` = "7:30 pm");
- step templates: the planner's output, one clear imperative per function ("Set an alarm for
  {time} labeled {label}"), canonical values only;
- paraphrase *families*: distinct ways a user asks (a different verb, construction or register),
  each with a few surface variants. One family per function is held out for the test split;
- optional dependencies: ``produces`` names the kind of result a step yields ("articles"), and a
  consumer's ``after`` clauses / ``steps_after`` refer to an earlier result through ``{ref}``
  ("email {ref} to {recipient_q}" -> "Email the first article found to myself"); its ``fill``
  turns the referred value into the call's arguments (phrasebank/gold.py).

Step templates: at least three per function (and per dependent form). The first
:data:`PLANNER_STEPS` are the planner's: plans are written with all but the **third, held out**
for the action data's test split (:data:`HELD_OUT_STEP`), so action models are tested on step
wordings they never saw; its wording shares no skeleton with the function's other templates.
Templates after the first three are more wordings of the same step that only the action data's
train and valid splits use (a planner is taught one canonical way to write a step; the action
model reads whatever a planner or a person writes).

Forms decide how a clause joins its neighbours in a multi-step query: ``vp`` is a verb phrase
("text Mom that ...", joined by "and then", wrappable in "Can you ...?"), ``s`` a statement
sentence ("I need Mom to know ..."), ``q`` a question sentence ("what's the weather in Paris"),
``t`` a terse note ("msg Mom: running late").
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

FORMS = ("vp", "s", "q", "t")
PLANNER_STEPS = 3  # the first templates (in steps and steps_after): the planner's, held-out one included
HELD_OUT_STEP = 2  # index of the step template only the test split uses (the last one when fewer)


def held_out_index(count: int) -> int:
    """The index of the held-out step template among ``count`` templates (``count`` >= 2)."""
    return min(HELD_OUT_STEP, count - 1)


@dataclass(frozen=True)
class Slots:
    """One sampled set of slot values.

    Args:
        args: the function call's arguments (checked against its JSON schema by the tests).
        text: every placeholder a template may use; ``args`` rendered as strings are included.
    """

    args: dict[str, Any]
    text: dict[str, str]


def slots(args: Mapping[str, Any], **text: Any) -> Slots:
    """Build Slots: the text forms default to the arguments themselves."""
    shown = {k: show_value(v) for k, v in args.items()}
    shown.update({k: show_value(v) for k, v in text.items()})
    return Slots(dict(args), shown)


def show_value(v: Any) -> str:
    """A slot value as text: booleans "on"/"off", whole floats without ".0", lists joined by "and"."""
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, list):
        return " and ".join(show_value(x) for x in v)
    return str(v)


@dataclass(frozen=True)
class Family:
    """One paraphrase family: a distinct way of asking, with surface variants.

    Args:
        name: short id, unique within the function ("direct", "ask", "need", "terse"...).
        form: how the clause joins a multi-step query (one of FORMS).
        clauses: query templates over the slot text (lower-case start unless a proper noun).
        after: templates that refer to an earlier step's result as ``{ref}``.
    """

    name: str
    form: str
    clauses: tuple[str, ...]
    after: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.form not in FORMS:
            raise ValueError(f"family {self.name!r}: form {self.form!r} not in {FORMS}")
        if not self.clauses:
            raise ValueError(f"family {self.name!r} has no clauses")


def fam(name: str, form: str, *clauses: str, after: tuple[str, ...] | list[str] = ()) -> Family:
    """Shorthand for a Family in the bank files."""
    return Family(name, form, tuple(clauses), tuple(after))


@dataclass(frozen=True)
class FunctionPhrases:
    """Everything the offline synthesizer knows about asking for one function.

    Args:
        name: the function name (must exist in the domain).
        sample: draws slot values.
        steps: step templates (planner output), canonical values.
        families: paraphrase families (at least 4 for bundled functions).
        holdout: the family reserved for the test split.
        produces: the kind of result later steps may refer to (a key of RESULTS), if any.
        consumes: result kinds the ``after`` clauses accept ("*" = any kind).
        steps_after: step templates using ``{ref}`` (an earlier result), used with ``after``.
        chain: (chain name, rank): within one plan, functions of the same chain keep rank
            order (search before add-to-cart before checkout).
        fill: ``(value, earlier call's arguments, ref wording) -> arguments`` (or None when the
            value does not fit): what the earlier result a dependent step names gives its call
            (phrasebank/gold.py); required with ``steps_after``.
    """

    name: str
    sample: Callable[[random.Random], Slots]
    steps: tuple[str, ...]
    families: tuple[Family, ...]
    holdout: str
    produces: str | None = None
    consumes: tuple[str, ...] = ()
    steps_after: tuple[str, ...] = ()
    chain: tuple[str, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    fill: Callable[[Any, Mapping[str, Any], str], dict | None] | None = field(default=None, compare=False)

    def family(self, name: str) -> Family:
        for f in self.families:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no family {name!r}")

    def accepts(self, kind: str) -> bool:
        return bool(self.steps_after) and ("*" in self.consumes or kind in self.consumes)


# Result kinds: how a later step refers to what an earlier one found. Each entry pairs the
# query wording with the step wording, e.g. ("the top story", "the first article found").
RESULTS: dict[str, tuple[tuple[str, str], ...]] = {
    "articles": (
        ("the top story", "the first article found"),
        ("the first article", "the first article found"),
        ("the top article", "the first article found"),
        ("the best one", "the most relevant article found"),
        ("the headlines", "the articles found"),
        ("what you find", "the articles found"),
    ),
    "forecast": (
        ("the forecast", "the weather forecast"),
        ("the weather report", "the weather forecast"),
        ("what the weather will be", "the weather forecast"),
    ),
    "videos": (
        ("the first video", "the first video found"),
        ("the top result", "the first video found"),
        ("the best one", "the top video found"),
        ("the link", "the link to the first video found"),
    ),
    "route": (
        ("the route", "the route found"),
        ("the directions", "the route found"),
        ("the ETA", "the travel time of the route"),
    ),
    "photo": (
        ("the photo", "the photo just taken"),
        ("the picture", "the photo just taken"),
        ("the shot", "the photo just taken"),
    ),
    "smoke_status": (
        ("the detector status", "the smoke detector status"),
        ("the battery level", "the smoke detector battery level"),
    ),
    "products": (
        ("the cheapest one", "the cheapest product found"),
        ("the first result", "the first product found"),
        ("the top-rated one", "the top-rated product found"),
        ("the best one", "the top-rated product found"),
        ("the cheapest option", "the cheapest product found"),
    ),
    "product": (
        ("that product", "the product"),
        ("that one", "the product"),
        ("the item", "the product"),
    ),
    "cart": (
        ("my cart", "the cart contents"),
        ("what's in my cart", "the cart contents"),
    ),
    "order": (
        ("the order status", "the order status"),
        ("the tracking info", "the tracking information"),
        ("the delivery date", "the estimated delivery date"),
    ),
    "video_results": (
        ("the first result", "the first video found"),
        ("the top result", "the first video found"),
        ("the best-rated one", "the highest-rated video found"),
        ("the newest one", "the most recent video found"),
    ),
    "recommendations": (
        ("the top recommendation", "the first recommended video"),
        ("the first suggestion", "the first recommended video"),
        ("the best-rated suggestion", "the highest-rated recommended video"),
    ),
    "flights": (
        ("the cheapest flight", "the cheapest flight found"),
        ("the cheapest one", "the cheapest flight found"),
        ("the earliest one", "the earliest flight found"),
        ("the first option", "the first flight found"),
        ("the nonstop one", "the first nonstop flight found"),
    ),
    "hotels": (
        ("the cheapest hotel", "the cheapest hotel found"),
        ("the best-rated one", "the highest-rated hotel found"),
        ("the first option", "the first hotel found"),
        ("the cheapest one", "the cheapest hotel found"),
    ),
    "booking": (
        ("the confirmation", "the booking confirmation"),
        ("the booking details", "the booking confirmation"),
        ("the reservation number", "the booking reference"),
    ),
    "advisory": (
        ("the advisory", "the travel advisory"),
        ("the safety info", "the travel advisory"),
    ),
    "conversion": (
        ("the result", "the converted amount"),
        ("the converted amount", "the converted amount"),
        ("how much that is", "the converted amount"),
    ),
    "flight_status": (
        ("the status", "the flight status"),
        ("the flight status", "the flight status"),
        ("whether it's on time", "the flight status"),
    ),
    # any domain phrased from its specs (phrasebank/generic.py): a record the earlier call
    # returned (the first, when it returned a list) whose field a later call takes by name
    "result": (
        ("the first result", "the first result found"),
        ("the top result", "the first result found"),
        ("the first one", "the first result found"),
        ("what you find", "the first result found"),
    ),
}
