"""The offline synthesizer on a user's own tools, phrased from their specs alone
(octo_mlx.synth.phrasebank.generic): the queries read like requests a person types, values fit
their parameters, and a bundled domain can be phrased that way with its bank unused."""

from __future__ import annotations

import json
import random
import re

import pytest

from octo_mlx.data import check_record
from octo_mlx.domains.catalog import load_domain
from octo_mlx.synth.offline import resolve_phrases, synthesize_offline
from octo_mlx.synth.phrasebank.generic import (
    HOLDOUT,
    described_examples,
    from_pattern,
    generic_phrases,
    role_of,
    verb_phrase,
)

# A flight-booking tools file as a new user writes one (OpenAI tools format).
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_flight_cost",
            "description": "Returns the price of a flight between two cities in a travel class.",
            "parameters": {
                "type": "object",
                "properties": {
                    "travel_from": {"type": "string", "description": "Departure city, e.g. 'Boston'"},
                    "travel_to": {"type": "string", "description": "Arrival city"},
                    "travel_class": {"type": "string", "enum": ["economy", "business", "first"]},
                },
                "required": ["travel_from", "travel_to"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "register_credit_card",
            "description": "Stores a payment card for later bookings.",
            "parameters": {
                "type": "object",
                "properties": {
                    "card_number": {"type": "string", "pattern": "^\\d{16}$"},
                    "holder_name": {"type": "string", "description": "Name on the card"},
                    "expiry": {
                        "type": "string",
                        "pattern": "^(0[1-9]|1[0-2])/\\d{2}$",
                        "examples": ["09/27"],
                    },
                },
                "required": ["card_number", "holder_name", "expiry"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "bookFlight",
            "description": "Books a seat on a flight for a passenger on a date.",
            "parameters": {
                "type": "object",
                "properties": {
                    "flight_code": {"type": "string", "pattern": "^[A-Z]{2}\\d{3,4}$"},
                    "passenger": {"type": "string"},
                    "departure_date": {"type": "string", "format": "date"},
                    "seats": {"type": "integer", "minimum": 1, "maximum": 6},
                },
                "required": ["flight_code", "passenger", "departure_date"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "send_itinerary",
            "description": "Emails the itinerary to someone.",
            "parameters": {
                "type": "object",
                "properties": {"email": {"type": "string", "format": "email"}, "note": {"type": "string"}},
                "required": ["email"],
            },
        },
    },
]


@pytest.fixture(scope="module")
def travel(tmp_path_factory):
    path = tmp_path_factory.mktemp("tools") / "tools.json"
    path.write_text(json.dumps({"name": "trips", "tools": TOOLS}))
    return load_domain(path)


@pytest.fixture(scope="module")
def dataset(travel):
    return synthesize_offline([travel], 300, seed=0, steps=(1, 2, 3))


def test_names_become_verb_phrases():
    assert verb_phrase("book_flight") == ("book a flight", "flight")
    assert verb_phrase("bookFlight") == ("book a flight", "flight")
    assert verb_phrase("get_weather_forecast")[0] == "get the weather forecast"
    assert verb_phrase("weather_forecast")[0] == "get the weather forecast"  # a noun phrase is asked for
    assert verb_phrase("add_to_cart")[0] == "add to the cart"
    assert verb_phrase("open_or_lock_door")[0] == "open or lock the door"
    assert verb_phrase("search_hotels")[0] == "search hotels"


def test_parameters_get_roles_from_their_names_and_descriptions():
    assert role_of("travel_from", {}) == "origin" and role_of("travel_to", {}) == "destination"
    assert role_of("to", {}, messaging=True) == "person"  # a message goes to someone, not to a city
    assert role_of("start_time", {}) == "time" and role_of("check_out", {}) == "date"
    assert role_of("card_number", {"type": "string"}) == "id"
    assert role_of("card_number", {"type": "integer"}) == "count"
    assert (
        role_of("where", {}) == "place" and role_of("x", {"description": "Email address to use"}) == "email"
    )
    assert role_of("name", {}, noun="contact") == "person" and role_of("name", {}, noun="playlist") == "title"
    assert described_examples({"description": 'Topic, e.g. "Jensen Huang" or "climate summit".'}) == [
        "Jensen Huang",
        "climate summit",
    ]


def test_simple_patterns_make_matching_values():
    r = random.Random(0)
    for pattern in (r"^\d{16}$", r"^[A-Z]{2}\d{3,4}$", r"^\+[1-9]\d{1,14}$", r"^FL-\d{8}-[A-Z]{3}$"):
        for _ in range(20):
            assert re.search(pattern, from_pattern(r, pattern))
    assert from_pattern(r, r"^(a|b)\d$") is None  # groups: left to the schema's examples


def test_every_sampled_call_is_valid_and_values_fit_their_meaning(travel):
    r = random.Random(0)
    for function in travel.functions:
        phrases = generic_phrases(function)
        for _ in range(100):
            args = phrases.sample(r).args
            function.validate_arguments(args)
            if "card_number" in args:
                assert args["card_number"].isdigit()  # never a topic such as "solar eclipse timelapse"
            if "travel_from" in args:  # a city, not a code or a topic
                assert not any(ch.isdigit() for ch in args["travel_from"])


def test_queries_read_like_requests_not_specs(dataset, travel):
    examples = [e for split in dataset.splits.values() for e in split]
    assert len(examples) == 300
    known = {"trips": set(travel.names)}
    names = set(travel.names)
    for e in examples:
        assert check_record(e.to_record(), known) == []
        assert "=" not in e.query and "_" not in e.query  # no key=value dumps, no function names
        assert not any(n in e.query for n in names)
        for step in e.steps:
            assert not step.startswith(("Use ", "Call ")) and "_" not in step
    # the values a step states are in its query too, as a person writes them or verbatim
    one_step = [e for e in examples if len(e.steps) == 1 and e.calls[0].arguments.get("passenger")]
    assert one_step and all(e.calls[0].arguments["passenger"].lower() in e.query.lower() for e in one_step)
    holders = [
        e.calls[k].arguments["holder_name"]
        for e in examples
        for k, f in enumerate(e.functions)
        if f == "register_credit_card"
    ]
    assert holders and all(len(h.split()) <= 2 and h[0].isupper() for h in holders)  # a person's name


def test_the_held_out_family_is_only_in_test(dataset):
    assert all(fams == (HOLDOUT,) for name, fams in dataset.holdout.items() if name != "none")
    for split in ("train", "valid", "test"):
        used = {f.split("/")[1] for e in dataset.splits[split] for f in dataset.families[e.id]}
        assert (HOLDOUT in used) == (split == "test")
    need = re.compile(r"\bI (need|want|have) to\b")
    assert not any(need.search(e.query) for s in ("train", "valid") for e in dataset.splits[s])
    assert any(need.search(e.query) for e in dataset.splits["test"])


def test_a_bundled_domain_can_be_phrased_without_its_bank():
    android = load_domain("android")
    entries, generic = resolve_phrases([android], generic=True)
    assert set(generic) == set(android.names)
    banked, none = resolve_phrases([android])
    assert none == [] and banked["android"][0].phrases != entries["android"][0].phrases
    ds = synthesize_offline([android], 60, seed=1, generic_phrasing=True)
    assert set(ds.generic) == set(android.names) and sum(len(v) for v in ds.splits.values()) == 60


def test_any_valid_schema_is_phrased_even_true_and_small_ranges(tmp_path):
    from octo_mlx.synth.phrasebank.generic import describe_call

    tools = [
        {
            "name": "set_ratio",
            "description": "Sets a mixing ratio.",
            "parameters": {
                "type": "object",
                "properties": {
                    "ratio": {"type": "number", "maximum": 0.5},
                    "extra": True,
                    "tags": {"type": "array"},
                },
                "required": ["ratio"],
            },
        },
        {"name": "reset", "description": "Resets it.", "parameters": {"type": "object", "properties": {}}},
    ]
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"name": "mixer", "tools": tools}))
    mixer = load_domain(path)
    r = random.Random(0)
    for _ in range(50):
        args = generic_phrases(mixer["set_ratio"]).sample(r).args
        mixer["set_ratio"].validate_arguments(args)
        assert args["ratio"] <= 0.5
    assert describe_call(mixer["set_ratio"], {"ratio": 0.25, "extra": 3}).startswith("Set the ratio")


# A smart-home tools file whose values decide the verb: a switch, a verb pair, a kind of volume,
# and an event whose times follow the spec's own layout.
HOME = [
    {
        "name": "enable_dark_mode",
        "description": "Turns dark mode on or off.",
        "parameters": {
            "type": "object",
            "properties": {"enabled": {"type": "boolean", "description": "true for on"}},
            "required": ["enabled"],
        },
    },
    {
        "name": "open_or_close_window",
        "description": "Opens or closes the bedroom window.",
        "parameters": {
            "type": "object",
            "properties": {"action": {"type": "string", "enum": ["open", "close"]}},
            "required": ["action"],
        },
    },
    {
        "name": "set_volume",
        "description": "Sets the volume of the ringer, media or alarm.",
        "parameters": {
            "type": "object",
            "properties": {
                "level": {"type": "integer", "minimum": 0, "maximum": 10},
                "volume_type": {"type": "string", "enum": ["ring", "media", "alarm"]},
            },
            "required": ["level", "volume_type"],
        },
    },
    {
        "name": "create_event",
        "description": "Schedules an event in a calendar.",
        "parameters": {
            "type": "object",
            "properties": {
                "title": {"type": "string", "description": "e.g. 'Dentist'"},
                "start_time": {
                    "type": "string",
                    "description": 'Start as "YYYY-MM-DD-HH-MM", e.g. "2025-06-03-14-30".',
                    "pattern": "^\\d{4}-\\d{2}-\\d{2}-\\d{2}-\\d{2}$",
                },
                "end_time": {
                    "type": "string",
                    "description": 'End, e.g. "2025-06-03-15-00".',
                    "pattern": "^\\d{4}-\\d{2}-\\d{2}-\\d{2}-\\d{2}$",
                },
            },
            "required": ["title", "start_time", "end_time"],
        },
    },
    {
        "name": "find_route",
        "description": "Finds a route between two places.",
        "parameters": {
            "type": "object",
            "properties": {"origin": {"type": "string"}, "destination": {"type": "string"}},
            "required": ["origin", "destination"],
        },
    },
]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    path = tmp_path_factory.mktemp("home") / "home.json"
    path.write_text(json.dumps({"name": "home", "tools": HOME}))
    return load_domain(path)


def _steps_and_asks(function, n=60, seed=0):
    """(arguments, the step as the planner's first template writes it, a query clause) n times."""
    r = random.Random(seed)
    phrases = generic_phrases(function)
    out = []
    for _ in range(n):
        s = phrases.sample(r)
        out.append(
            (s.args, phrases.steps[0].format_map(s.text), phrases.families[0].clauses[0].format_map(s.text))
        )
    return out


def test_a_switch_is_turned_on_or_off_and_a_verb_pair_takes_the_chosen_verb(home):
    for args, step, asked in _steps_and_asks(home["enable_dark_mode"]):
        state = "on" if args["enabled"] else "off"
        assert step == f"Turn {state} dark mode", step  # never "with enabled off"
        assert "enabled" not in asked and (
            state in asked.split() or ("enable" if args["enabled"] else "disable") in asked
        )
    seen = set()
    for args, step, asked in _steps_and_asks(home["open_or_close_window"]):
        seen.add(args["action"])
        assert step.startswith(args["action"].capitalize() + " the window") and "action" not in step
        assert asked.startswith(args["action"] + " ")
    assert seen == {"open", "close"}


def test_a_kind_qualifies_its_object_and_a_setter_sets_to_a_value(home):
    for args, step, asked in _steps_and_asks(home["set_volume"]):
        assert step == f"Set the {args['volume_type']} volume to {args['level']}", step
        assert "volume type" not in asked


def test_dates_in_the_specs_own_layout_are_drawn_and_an_end_follows_its_start(home):
    event = home["create_event"]
    starts = set()
    for args, step, _ in _steps_and_asks(event, n=80):
        event.validate_arguments(args)
        start, end = args["start_time"], args["end_time"]
        starts.add(start)
        assert start[:10] == end[:10] and end > start  # one day, the end later
        hm = lambda v: f"{v[11:13]}:{v[14:16]}"  # noqa: E731
        assert f"from {hm(start)} to {hm(end)}" in step, step
    assert len(starts) > 40 and "2025-06-03-14-30" not in starts  # drawn, not the example copied


def test_a_route_never_ends_where_it_starts(home):
    for args, _, _ in _steps_and_asks(home["find_route"], n=300):
        assert args["origin"] != args["destination"]


def test_descriptions_lose_the_words_that_stand_for_parameters():
    from octo_mlx.synth.phrasebank.generic import _imperative

    assert _imperative("Gives the weather forecast for a location for the next three days.") == (
        "give the weather forecast"
    )
    assert (
        _imperative("Connects to a nearby Bluetooth device by name.")
        == "connect to a nearby Bluetooth device"
    )
    assert _imperative("Books a hotel found by search_hotels.") == "book a hotel"
    assert (
        _imperative("Opens or locks the front door's smart lock.")
        == "open or lock the front door's smart lock"
    )
    assert (
        _imperative("Checks the smoke detector: battery level and connectivity.")
        == "check the smoke detector"
    )
    assert _imperative("Turns Do Not Disturb mode on or off.") == "turn Do Not Disturb mode"


def test_numbers_are_asked_with_the_unit_their_description_names():
    from octo_mlx.synth.phrasebank.generic import sample_value

    schema = {"type": "number", "minimum": 50, "maximum": 90, "description": "Degrees Fahrenheit, e.g. 72."}
    r = random.Random(0)
    said = [sample_value(r, "target_temperature", schema) for _ in range(200)]
    assert all(50 <= v.value <= 90 and v.canonical == re.sub(r"\.0$", "", str(v.value)) for v in said)
    assert any(v.spoken.endswith(" degrees Fahrenheit") for v in said)
    assert any(v.spoken == v.canonical for v in said)  # sometimes bare
    scale = [sample_value(r, "level", {"type": "integer", "minimum": 0, "maximum": 10}) for _ in range(200)]
    assert any(v.spoken == f"{v.value} out of 10" for v in scale)


def test_a_record_an_earlier_call_returns_feeds_a_later_call_by_name(home):
    """Functions that run (typed Python) produce records; a later function taking an id of the
    same name refers to "the first result" and its gold call takes that record's field, made
    true by running the earlier call. Functions loaded from a file are only echoed: no producer."""
    from octo_mlx.functions.signatures import domain_from_callables, octo_function

    @octo_function
    def search_books(query: str) -> list[dict]:
        """Searches the library for books.

        Args:
            query: Words to search for, e.g. "sea stories".
        """
        return [{"book_id": f"B{len(query)}-{i}", "title": f"{query} {i}"} for i in range(3)]

    @octo_function(side_effects=True)
    def borrow_book(book_id: str) -> str:
        """Borrows a book.

        Args:
            book_id: The book's id.
        """
        return f"borrowed {book_id}"

    library = domain_from_callables("library", [search_books, borrow_book])
    ds = synthesize_offline([library], 120, seed=0, steps=(2,))
    examples = [e for split in ds.splits.values() for e in split]
    dependent = [e for e in examples if "the first result found" in e.steps[1]]
    assert len(dependent) >= 5
    for e in dependent:
        assert e.functions == ("search_books", "borrow_book"), e.steps
        query = e.calls[0].arguments["query"]
        assert e.calls[1].arguments == {"book_id": f"B{len(query)}-0"}  # the first record's id
        assert e.calls[1].arguments["book_id"] not in e.query  # referred to, never stated
    assert all(generic_phrases(f).produces is None for f in home.functions)  # echoed, never a source


def test_odd_specs_neither_crash_nor_mislabel():
    """A boolean that is not the switch, a kind of something else, an id beside a setter's number,
    braces in a description, list-valued enums, an exclusive minimum: phrased, valid, not misread."""
    from octo_mlx.functions.contract import Function

    def fn(name, description, props, required=None):
        return Function(
            name, description, {"type": "object", "properties": props, "required": required or list(props)}
        )

    cases = [
        fn(
            "set_alarm",
            "Sets an alarm.",
            {"time": {"type": "string", "format": "time"}, "repeat": {"type": "boolean"}},
        ),
        fn("book_flight", "Books a {thing}.", {"seat_type": {"type": "string", "enum": ["aisle", "window"]}}),
        fn(
            "update_order",
            "Updates an order.",
            {"order_id": {"type": "integer"}, "quantity": {"type": "integer"}},
        ),
        fn(
            "open_or_close_gate",
            "Opens or closes it.",
            {"action": {"type": "string", "enum": [["open"], "close"]}},
        ),
        fn("set_gain", "Sets the gain.", {"gain": {"type": "number", "exclusiveMinimum": 0, "maximum": 1}}),
    ]
    r = random.Random(0)
    texts = {}
    for f in cases:
        p = generic_phrases(f)
        for _ in range(60):
            s = p.sample(r)
            f.validate_arguments(s.args)
            assert s.args.get("gain", 1) > 0
            target = re.search(r" to (\d+)", p.steps[0].format_map(s.text))
            if f.name == "update_order" and target:  # what it is set to is the quantity, never the id
                assert int(target.group(1)) == s.args["quantity"]
            for t in (*p.steps[:3], *(c for fam_ in p.families for c in fam_.clauses)):
                texts.setdefault(f.name, set()).add(t.format_map(s.text))
    alarm = " ".join(texts["set_alarm"])
    assert "Turn off" not in alarm and "turn off" not in alarm  # repeat=false does not switch the alarm off
    assert not any("aisle flight" in t or "window flight" in t for t in texts["book_flight"])
    assert not any("{" in t for ts in texts.values() for t in ts)
