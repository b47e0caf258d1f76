"""What an earlier result makes of a dependent step's call: the picks and the fills.

A dependent step names an earlier result in words ("the cheapest product found"). Its gold call is
the one that result makes true in the seeded world, so each step-side wording of
``spec.RESULTS`` (and of a bank's own ``refs``) has a *pick*: the rule that takes the referred
value from the earlier call's observation (the cheapest of the products the search returned).
A consumer function has a *fill*: which of its arguments that value gives (``add_to_cart``:
``product_id``), the others staying what the step itself says ("Add 2 units of the cheapest
product found to the cart": quantity 2).

Picks are plain rules an action model can learn from the observation it is given: first,
cheapest, highest-rated, earliest; ties go to the earlier item. A pick that finds nothing (the
search failed or returned no match, the cart is empty) returns None: the synthesizer then draws
the example again rather than guess.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Pick = Callable[[Any, Mapping[str, Any]], Any]  # (result, the observation's arguments) -> value | None


def _first(result: Any, _args: Mapping) -> Any:
    return result[0] if isinstance(result, list) and result else None


def _last(key: str) -> Pick:
    def pick(result: Any, _args: Mapping) -> Any:
        items = result.get(key) if isinstance(result, dict) else None
        return items[-1] if items else None

    return pick


def _first_or_whole(result: Any, _args: Mapping) -> Any:
    """The first record of a list, or the one record returned."""
    if isinstance(result, list):
        return result[0] if result else None
    return result if isinstance(result, dict) and result else None


def by_name(parameter: str) -> Callable[[Any, Mapping, str], dict | None]:
    """A fill for a parameter a record gives by name ("product_id" from ``{"product_id": ...}``);
    None when the record lacks it. The value's type is the schema's to check: the synthesizer
    validates every gold call and draws again when one is refused."""

    def fill(value: Any, _args: Mapping, _ref: str) -> dict | None:
        return {parameter: value[parameter]} if isinstance(value, dict) and parameter in value else None

    return fill


def _whole(result: Any, _args: Mapping) -> Any:
    return result if result not in (None, [], {}, "") else None


def _field(name: str, form: str = "{}") -> Pick:
    """One field of the result, written as ``form`` ("{} min")."""

    def pick(result: Any, _args: Mapping) -> Any:
        value = result.get(name) if isinstance(result, dict) else None
        return None if value is None else value if form == "{}" else form.format(value)

    return pick


def _best(key: str, lowest: bool, within: str | None = None) -> Pick:
    """The item with the lowest (or highest) ``key``; ``within`` picks from ``result[within]``."""

    def pick(result: Any, _args: Mapping) -> Any:
        items = result.get(within) if within and isinstance(result, dict) else result
        if not isinstance(items, list) or not items:
            return None
        return (min if lowest else max)(items, key=lambda item: item[key])

    return pick


def _first_where(key: str, value: Any) -> Pick:
    def pick(result: Any, _args: Mapping) -> Any:
        items = result if isinstance(result, list) else []
        return next((item for item in items if item.get(key) == value), None)

    return pick


def _first_of(key: str) -> Pick:
    def pick(result: Any, _args: Mapping) -> Any:
        items = result.get(key) if isinstance(result, dict) else None
        return items[0] if items else None

    return pick


def _one(key: str, pick: Pick) -> Pick:
    """The field ``key`` of what ``pick`` finds ("the link to the first video found": its url)."""

    def inner(result: Any, args: Mapping) -> Any:
        value = pick(result, args)
        return value.get(key) if isinstance(value, dict) else None

    return inner


# Step-side wording -> pick, for every wording in spec.RESULTS and the banks' own refs
# (tests/test_action_data.py checks that none is missing).
PICKS: dict[str, Pick] = {
    # android
    "the first article found": _first,
    "the most relevant article found": _first,  # the news search lists by relevance
    "the articles found": _whole,
    "the weather forecast": _whole,
    "the first video found": _first,
    "the top video found": _first,
    "the link to the first video found": _one("url", _first),
    "the route found": _whole,
    "the travel time of the route": _field("duration_min", "{} min"),
    "the photo just taken": _whole,
    "the smoke detector status": _whole,
    "the smoke detector battery level": _field("battery", "{}%"),
    # ecommerce
    "the cheapest product found": _best("price", lowest=True),
    "the first product found": _first,
    "the top-rated product found": _best("rating", lowest=False),
    "the product": _whole,
    "the cart contents": _whole,
    "the most expensive item": _best("price", lowest=False, within="items"),
    "the most recently added item": _last("items"),
    "the cheapest item": _best("price", lowest=True, within="items"),
    "the first item in the cart": _first_of("items"),
    "the order status": _field("status"),
    "the tracking information": _whole,
    "the estimated delivery date": _field("estimated_delivery"),
    # video_streaming
    "the highest-rated video found": _best("rating", lowest=False),
    "the most recent video found": _best("year", lowest=False),
    "the first recommended video": _first,
    "the highest-rated recommended video": _best("rating", lowest=False),
    # travel
    "the cheapest flight found": _best("price_usd", lowest=True),
    "the earliest flight found": _best("departure", lowest=True),
    "the first flight found": _first,
    "the first nonstop flight found": _first_where("stops", 0),
    "the cheapest hotel found": _best("nightly_usd", lowest=True),
    "the highest-rated hotel found": _best("stars", lowest=False),
    "the first hotel found": _first,
    "the booking confirmation": _whole,
    "the booking reference": _field("booking_id"),
    "the travel advisory": _whole,
    "the converted amount": _field("converted"),
    "the flight status": _whole,
    # any domain phrased from its specs
    "the first result found": _first_or_whole,
}


def pick(ref_step: str, observation: Mapping[str, Any]) -> Any:
    """The value ``ref_step`` ("the cheapest product found") names in an earlier call's
    observation (``Observation.to_dict()``); None when the call failed or the value is not there.

    Raises:
        KeyError: a wording without a pick (a bank bug: the tests check every wording).
    """
    rule = PICKS[ref_step]
    if not observation.get("ok"):
        return None
    return rule(observation.get("result"), observation.get("arguments") or {})


# --- fills: (value, the earlier call's arguments, ref_step) -> the arguments the value gives ----


product_id = by_name("product_id")
title = by_name("title")
flight_id = by_name("flight_id")


def hotel_for_the_searched_dates(value: Any, args: Mapping, _ref: str) -> dict | None:
    """ "Book the cheapest hotel found for the same dates": the hotel, and the search's dates."""
    if not (isinstance(value, dict) and "hotel_id" in value and "check_in" in args and "check_out" in args):
        return None
    return {"hotel_id": value["hotel_id"], "check_in": args["check_in"], "check_out": args["check_out"]}


def forward_by_email(value: Any, _args: Mapping, ref: str) -> dict:
    """An email of the value: the subject is its title (or name, else the wording), the body the value."""
    return {"title": subject(value, ref), "content": render(value)}


def forward_by_text(value: Any, _args: Mapping, _ref: str) -> dict:
    return {"message": render(value)}


def subject(value: Any, ref: str) -> str:
    """An email subject for a forwarded value: its title or name, else the step's wording
    ("the weather forecast" -> "Weather forecast")."""
    if isinstance(value, dict):
        for key in ("title", "name"):
            if isinstance(value.get(key), str) and value[key]:
                return value[key]
    words = ref.removeprefix("the ")
    return words[:1].upper() + words[1:]


def render(value: Any) -> str:
    """A forwarded value as message text, by one fixed rule: a string as it is; a number as JSON
    writes it; a list item by item ("; "); a title with a URL as "title (url)"; any other object
    as "key: value" pairs (", ", underscores read as spaces), nested values rendered the same way
    and null ones left out."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "; ".join(render(v) for v in value)
    if isinstance(value, dict):
        if isinstance(value.get("title"), str) and isinstance(value.get("url"), str):
            return f"{value['title']} ({value['url']})"
        parts = [f"{k.replace('_', ' ')}: {render(v)}" for k, v in value.items() if v is not None]
        return ", ".join(parts)
    return "" if value is None else str(value)
