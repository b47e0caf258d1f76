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
