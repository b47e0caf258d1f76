"""The simulated device: examples run, determinism, readers never write, bad calls never raise."""

from __future__ import annotations

import copy
import json

import pytest

from octo_mlx.domains.catalog import load_domain, load_domains
from octo_mlx.domains.world import new_state
from octo_mlx.errors import OctoError
from octo_mlx.functions.contract import Function
from octo_mlx.functions.signatures import domain_from_callables, octo_function
from octo_mlx.functions.simulator import DeviceState, Observation, execute

DOMAINS = load_domains()
ALL = [f for d in DOMAINS for f in d]


def _run_examples(domain, state):
    """Every example of every function, in domain order (examples are written to chain)."""
    return [(f, ex, execute(f, ex, state)) for f in domain for ex in (f.examples or [{}])]


@pytest.mark.parametrize("domain", DOMAINS, ids=[d.name for d in DOMAINS])
def test_every_function_runs_on_its_examples(domain):
    state = new_state(0)
    for f, ex, obs in _run_examples(domain, state):
        assert obs.ok, (f.name, ex, obs.error)
        json.dumps(obs.result)  # JSON-able
        assert obs.function == f.name and obs.error is None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_examples_run_for_other_seeds_too(seed):
    for domain in DOMAINS:
        state = new_state(seed)
        failed = [(f.name, o.error) for f, _, o in _run_examples(domain, state) if not o.ok]
        assert not failed


def test_same_seed_same_world_and_same_results():
    a, b = new_state(5), new_state(5)
    assert a == b and a.to_json() == b.to_json()
    assert new_state(5).shop.catalogue != new_state(6).shop.catalogue
    for domain in DOMAINS:
        ra = [o for _, _, o in _run_examples(domain, a)]
        rb = [o for _, _, o in _run_examples(domain, b)]
        assert ra == rb
    assert a == b


@pytest.mark.parametrize("domain", DOMAINS, ids=[d.name for d in DOMAINS])
def test_state_changes_only_for_side_effect_functions(domain):
    state = new_state(0)
    changed_by: dict[str, bool] = {}
    for f in domain:
        for ex in f.examples or [{}]:
            before = copy.deepcopy(state.to_dict())
            obs = execute(f, ex, state)
            assert obs.ok
            changed = state.to_dict() != before
            if not f.side_effects:
                assert not changed, f"reader {f.name} changed the state"
            changed_by[f.name] = changed_by.get(f.name, False) or changed
    # the flag is not over-claimed either: every writer changes something on its examples
    assert all(changed_by[f.name] for f in domain if f.side_effects), changed_by


def test_a_reader_that_writes_is_caught():
    @octo_function(side_effects=False)
    def sneaky(state: DeviceState) -> str:
        """Claims to only read."""
        state.phone.brightness = 0
        return "ok"

    f = domain_from_callables("demo", [sneaky])["sneaky"]
    state = new_state(0)
    with pytest.raises(RuntimeError, match="side_effects=False"):
        execute(f, {}, state)
    assert state == new_state(0)


def _bad_calls(f: Function):
    props = f.parameters["properties"]
    yield ["not", "a", "dict"], None
    yield "{not json", None
    yield {"unexpected_argument": 1}, "unexpected_argument"
    for name in props:
        good = dict(f.examples[0]) if f.examples else {}
        good[name] = [["wrong type"]]
        yield good, name
    for name in f.required:
        good = dict(f.examples[0])
        del good[name]
        yield good, name


@pytest.mark.parametrize("f", ALL, ids=[f.name for f in ALL])
def test_bad_arguments_never_raise_and_change_nothing(f):
    state = new_state(0)
    before = state.to_dict()
    for args, field in _bad_calls(f):
        obs = execute(f, args, state)
        assert isinstance(obs, Observation) and not obs.ok
        assert obs.error.startswith("invalid arguments") and "\n" not in obs.error
        if field:
            assert field in obs.error, (args, obs.error)
    assert state.to_dict() == before


def _call(state, domain, fn_name, **args):
    return execute(load_domain(domain)[fn_name], args, state)


def test_shop_ids_chain_from_search_to_return():
    state = new_state(0)
    hits = _call(
        state, "ecommerce", "search_products", query="office chairs", sort_by="price_low_to_high"
    ).result
    assert hits and all("chair" in h["name"].lower() for h in hits)
    assert [h["price"] for h in hits] == sorted(h["price"] for h in hits)
    pick = next(h for h in hits if h["in_stock"])
    cart = _call(state, "ecommerce", "add_to_cart", product_id=pick["product_id"], quantity=2).result
    assert cart["subtotal"] == pytest.approx(2 * pick["price"])
    order = _call(state, "ecommerce", "checkout", payment_method="default_card").result
    assert _call(state, "ecommerce", "view_cart").result["items"] == []
    assert (
        _call(state, "ecommerce", "track_order", order_id=order["order_id"]).result["status"] == "processing"
    )
    assert _call(state, "ecommerce", "return_item", order_id=order["order_id"], reason="too big").ok
    cheap = _call(state, "ecommerce", "search_products", query="headphones", max_price=50).result
    assert all(h["price"] <= 50 for h in cheap)
    for name, args in [("add_to_cart", {"product_id": "P9999"}), ("track_order", {"order_id": "ORD-42"})]:
        obs = _call(state, "ecommerce", name, **args)
        assert not obs.ok and list(args.values())[0] in obs.error
    assert not _call(state, "ecommerce", "checkout", payment_method="paypal").ok  # empty cart


def test_travel_ids_chain_from_search_to_cancel():
    state = new_state(0)
    flights = _call(
        state, "travel", "search_flights", origin="Boston", destination="Rome", date="2025-09-01"
    ).result
    booking = _call(state, "travel", "book_flight", flight_id=flights[1]["flight_id"], passengers=3).result
    assert booking["price_usd"] == pytest.approx(3 * flights[1]["price_usd"])
    assert _call(state, "travel", "check_flight_status", flight_number=flights[1]["flight_number"]).ok
    hotels = _call(
        state, "travel", "search_hotels", city="Rome", check_in="2025-09-01", check_out="2025-09-04"
    )
    hotel = hotels.result[0]
    booked = _call(
        state,
        "travel",
        "book_hotel",
        hotel_id=hotel["hotel_id"],
        check_in="2025-09-01",
        check_out="2025-09-04",
    ).result
    assert booked["price_usd"] == pytest.approx(hotel["total_usd"], abs=0.02)
    assert _call(state, "travel", "cancel_booking", booking_id=booking["booking_id"]).ok
    assert not _call(state, "travel", "cancel_booking", booking_id=booking["booking_id"]).ok  # twice
    assert not _call(state, "travel", "book_flight", flight_id="FL-123").ok
    assert not _call(state, "travel", "search_flights", origin="A", destination="B", date="2020-01-01").ok
    back = _call(
        state, "travel", "convert_currency", amount=100, from_currency="EUR", to_currency="JPY"
    ).result
    there = _call(
        state, "travel", "convert_currency", amount=back["converted"], from_currency="JPY", to_currency="EUR"
    ).result
    assert there["converted"] == pytest.approx(100, abs=0.05)


def test_phone_contacts_and_messages():
    state = new_state(0)
    assert not _call(state, "android", "send_text_message", contact_name="Zed Nobody", message="hi").ok
    assert _call(state, "android", "create_contact", name="Zed Nobody", phone_number="+15550001111").ok
    sent = _call(state, "android", "send_text_message", contact_name="zed nobody", message="hi").result
    assert sent["phone_number"] == "+15550001111" and state.phone.messages[-1]["message"] == "hi"
    bad = _call(
        state,
        "android",
        "create_calendar_event",
        title="x",
        start_time="2025-06-03-10-00",
        end_time="2025-06-03-09-00",
    )
    assert not bad.ok and "after" in bad.error


def test_state_json_round_trip(tmp_path):
    state = new_state(3)
    for domain in DOMAINS:
        _run_examples(domain, state)
    again = DeviceState.from_json(state.to_json())
    assert again == state
    path = tmp_path / "state.json"
    state.save(path)
    loaded = DeviceState.load(path)
    assert loaded == state
    # continuing from the reloaded state gives the same results and ids
    f = load_domain("travel")["rent_car"]
    args = {"location": "Denver", "pickup_date": "2025-08-01", "return_date": "2025-08-03"}
    assert execute(f, args, state) == execute(f, args, loaded)
    with pytest.raises(OctoError, match="unknown key shop.basket"):
        DeviceState.from_dict({**state.to_dict(), "shop": {"basket": {}}})
    path.write_text("{oops")
    with pytest.raises(OctoError, match="state.json:1"):
        DeviceState.load(path)
    text = state.to_json().replace("Denver", "D\u00e9nver")  # then saved as Latin-1, not UTF-8
    assert text != state.to_json()
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(OctoError) as e:  # one line naming the file and line (#11)
        DeviceState.load(path)
    line = next(i for i, x in enumerate(text.splitlines(), 1) if "\u00e9" in x)
    assert e.value.where == f"{path}:{line}" and "UTF-8" in e.value.message


def test_functions_without_implementation_are_echoed(tmp_path):
    spec = tmp_path / "home.json"
    spec.write_text(
        json.dumps(
            [
                {
                    "name": "water_plants",
                    "description": "Waters the plants.",
                    "parameters": {
                        "type": "object",
                        "properties": {"minutes": {"type": "integer", "minimum": 1}},
                        "required": ["minutes"],
                    },
                },
                {"name": "read_moisture", "description": "Reads soil moisture.", "side_effects": False},
            ]
        )
    )
    d = load_domain(spec)
    state = new_state(0)
    assert execute(d["water_plants"], {"minutes": 5}, state).ok
    assert state.call_log[-1]["arguments"] == {"minutes": 5}
    assert not execute(d["water_plants"], {"minutes": 0}, state).ok
    n = len(state.call_log)
    assert execute(d["read_moisture"], {}, state).ok and len(state.call_log) == n


def test_user_implementation_errors_become_observations():
    def divide(a: float, b: float) -> float:
        """Divides a by b."""
        return a / b

    f = domain_from_callables("maths", [divide])["divide"]
    assert execute(f, {"a": 1, "b": 4}, new_state()).result == 0.25
    obs = execute(f, {"a": 1, "b": 0}, new_state())
    assert not obs.ok and "ZeroDivisionError" in obs.error


@pytest.mark.parametrize("language", ["Japanese", "j", "Indones", "EN"])
def test_a_news_language_is_an_iso_639_1_code(language):
    """The schema says what its description says: a language name or a cut-off code is refused
    (and so cannot be decoded under the call grammar)."""
    android = load_domain("android")
    assert execute(android["get_trending_news"], {"query": "Nobel Prize", "language": "ja"}, new_state(0)).ok
    bad = execute(android["get_trending_news"], {"query": "Nobel Prize", "language": language}, new_state(0))
    assert not bad.ok and "language" in bad.error
