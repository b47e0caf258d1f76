"""Phrase bank of the travel domain: flights, hotels, car rental, advisories, currency, bookings.

Dates are ISO in the arguments and "July 10" / "tomorrow" / "next Friday" in the text; ids
(flight FL-..., hotel HT-CITY-k, booking BK-...) follow the simulated world's formats. After a
search, a step can say "book the cheapest one" ("Book the cheapest flight found").
"""

from __future__ import annotations

import random
import re

from octo_mlx.domains import world
from octo_mlx.synth.phrasebank import gold, pools
from octo_mlx.synth.phrasebank.slots import date_range, day, flight_number, money, pick
from octo_mlx.synth.phrasebank.spec import FunctionPhrases, Slots, fam, slots

# Currencies the simulated exchange knows, with their names for the query side.
_CURRENCY_NAMES = dict(pools.CURRENCIES)
CURRENCIES = tuple(c for c in world.USD_RATES if c in _CURRENCY_NAMES)


def _slug(place: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", place.upper())[:16] or "X"  # the world's id format


def _place(r: random.Random) -> tuple[str, str]:
    """Two distinct endpoints, both as airport codes or both as city names."""
    a, b = r.sample(pools.AIRPORTS, 2)
    return (a[0], b[0]) if r.random() < 0.35 else (a[1], b[1])


def _flights(r: random.Random) -> Slots:
    origin, destination = _place(r)
    iso, date_q, date_s = day(r)
    return slots({"origin": origin, "destination": destination, "date": iso}, date=date_s, date_q=date_q)


def _passengers(r: random.Random) -> tuple[dict, str, str]:
    if r.random() < 0.4:
        k = r.randint(2, 5)
        word = ("two", "three", "four", "five")[k - 2]
        q = pick(
            r,
            (f" for {k} people", f" for {word} passengers", f" for the {word} of us", f" for {k} travelers"),
        )
        return {"passengers": k}, f" for {k} passengers", q
    return {}, "", ""


def _book_flight(r: random.Random) -> Slots:
    (o, d), (iso, _, _) = _place(r), day(r)
    fid = f"FL-{iso.replace('-', '')}-{_slug(o)}-{_slug(d)}-{r.randint(1, 3)}"
    extra, pax, pax_q = _passengers(r)
    return slots({"flight_id": fid, **extra}, fid=fid, pax=pax, pax_q=pax_q)


def _status(r: random.Random) -> Slots:
    canonical, shown = flight_number(r)
    return slots({"flight_number": canonical}, flight=canonical, flight_q=shown)


def _stay(r: random.Random, city_key: str, in_key: str, out_key: str, cities) -> Slots:
    iso_in, iso_out, in_q, out_q, in_s, out_s = date_range(r, 9)
    city = pick(r, cities)
    return slots(
        {city_key: city, in_key: iso_in, out_key: iso_out},
        place=city,
        start=in_s,
        end=out_s,
        start_q=in_q,
        end_q=out_q,
    )


def _hotels(r: random.Random) -> Slots:
    return _stay(r, "city", "check_in", "check_out", pools.CITIES)


def _book_hotel(r: random.Random) -> Slots:
    iso_in, iso_out, in_q, out_q, in_s, out_s = date_range(r, 9)
    hid = f"HT-{_slug(pick(r, pools.CITIES))}-{r.randint(1, 3)}"
    return slots(
        {"hotel_id": hid, "check_in": iso_in, "check_out": iso_out},
        hid=hid,
        start=in_s,
        end=out_s,
        start_q=in_q,
        end_q=out_q,
    )


def _car(r: random.Random) -> Slots:
    places = tuple(c for _, c in pools.AIRPORTS) + tuple(code for code, _ in pools.AIRPORTS)
    return _stay(r, "location", "pickup_date", "return_date", places)


def _advisory(r: random.Random) -> Slots:
    return slots({"country": pick(r, pools.COUNTRIES)})


def _convert(r: random.Random) -> Slots:
    a, b = r.sample(CURRENCIES, 2)
    amount, shown = money(r)
    return slots(
        {"amount": amount, "from_currency": a, "to_currency": b},
        amount=shown,
        amount_q=shown,
        src=a,
        dst=b,
        src_q=pick(r, (a, _CURRENCY_NAMES[a])),
        dst_q=pick(r, (b, _CURRENCY_NAMES[b])),
    )


def _cancel(r: random.Random) -> Slots:
    bid = f"BK-{r.randint(1001, 1099)}"
    return slots({"booking_id": bid}, bid=bid)


# The bank proper: one family per line or two (hand-wrapped; ruff would put one string per line).
# fmt: off
PHRASES = (
    FunctionPhrases(
        "search_flights", _flights,
        steps=("Search flights from {origin} to {destination} {date}",
               "Find flights from {origin} to {destination} {date}",
               "Look up flights between {origin} and {destination} {date}",
               "Look for flights from {origin} to {destination} {date}",
               "Check which flights go from {origin} to {destination} {date}",
               "Please find a flight from {origin} to {destination} {date}",
               "search flights {origin} to {destination}, {date}"),
        families=(
            fam("direct", "vp", "search flights from {origin} to {destination} {date_q}",
                "find flights from {origin} to {destination} {date_q}",
                "look up flights {origin} to {destination} {date_q}"),
            fam("casual", "vp", "check airfare from {origin} to {destination} {date_q}",
                "see what's flying from {origin} to {destination} {date_q}",
                "scope out flights between {origin} and {destination} {date_q}"),
            fam("ask", "q", "are there any flights from {origin} to {destination} {date_q}",
                "what flights go from {origin} to {destination} {date_q}",
                "how much is a flight from {origin} to {destination} {date_q}"),
            fam("need", "s", "I need to fly from {origin} to {destination} {date_q}",
                "I want to get from {origin} to {destination} by plane {date_q}",
                "I'm planning to fly {origin} to {destination} {date_q}"),
            fam("terse", "t", "flights {origin}-{destination} {date_q}",
                "{origin} -> {destination} flights, {date_q}", "fly {origin} to {destination} {date_q}"),
        ),
        holdout="casual", produces="flights", chain=("flight", 0),
    ),
    FunctionPhrases(
        "book_flight", _book_flight,
        steps=("Book the flight {fid}{pax}", "Book seats on flight {fid}{pax}", "Reserve flight {fid}{pax}",
               "Make a booking on flight {fid}{pax}", "Please book flight {fid}{pax}",
               "book flight {fid}{pax}", "Buy tickets for flight {fid}{pax}"),
        families=(
            fam("direct", "vp", "book flight {fid}{pax_q}", "reserve seats on {fid}{pax_q}",
                "book {fid}{pax_q}",
                after=("book {ref}{pax_q}", "reserve {ref}{pax_q}")),
            fam("casual", "vp", "lock in flight {fid}{pax_q}", "grab seats on {fid}{pax_q}",
                "snag flight {fid}{pax_q}",
                after=("lock in {ref}{pax_q}", "grab seats on {ref}{pax_q}")),
            fam("ask", "q", "can you book flight {fid}{pax_q}", "could you reserve {fid}{pax_q}",
                "would you get me on {fid}{pax_q}",
                after=("can you book {ref}{pax_q}", "could you reserve {ref}{pax_q}")),
            fam("need", "s", "I want to book flight {fid}{pax_q}", "I'd like seats on {fid}{pax_q}",
                "I need flight {fid} booked{pax_q}",
                after=("I want {ref} booked{pax_q}", "I'd like to book {ref}{pax_q}")),
            fam("terse", "t", "book {fid}{pax_q}", "reserve: {fid}{pax_q}", "{fid} - book{pax_q}",
                after=("book {ref}{pax_q}", "reserve: {ref}{pax_q}")),
        ),
        holdout="ask", produces="booking", consumes=("flights",), chain=("flight", 1),
        steps_after=("Book {ref}{pax}", "Book seats on {ref}{pax}", "Reserve {ref}{pax}",
                     "Buy tickets for {ref}{pax}", "Please book {ref}{pax}",
                     "Make a flight booking on {ref}{pax}"),
        fill=gold.flight_id,
    ),
    FunctionPhrases(
        "check_flight_status", _status,
        steps=("Check the status of flight {flight}", "Check whether flight {flight} is on time",
               "Get the live status of flight {flight}", "See if flight {flight} is delayed",
               "Look up the current status of flight {flight}", "status check for flight {flight}",
               "Please tell me if flight {flight} is on schedule"),
        families=(
            fam("direct", "vp", "check the status of flight {flight_q}", "check flight {flight_q}",
                "get the live status of {flight_q}"),
            fam("casual", "vp", "see if {flight_q} is on time",
                "find out whether flight {flight_q} is delayed", "keep me posted on {flight_q}'s status"),
            fam("ask", "q", "is flight {flight_q} on time", "has {flight_q} been delayed",
                "what gate is {flight_q} leaving from"),
            fam("need", "s", "I need to know if {flight_q} is delayed",
                "I want the status of flight {flight_q}",
                "I'm picking someone up from {flight_q} and need its status"),
            fam("terse", "t", "status {flight_q}", "{flight_q} on time?", "flight {flight_q} status"),
        ),
        holdout="need", produces="flight_status",
    ),
    FunctionPhrases(
        "search_hotels", _hotels,
        steps=("Search hotels in {place} from {start} to {end}",
               "Find hotels in {place} from {start} to {end}",
               "Look up hotels in {place} from {start} to {end}",
               "Look for a hotel in {place} from {start} to {end}",
               "Check hotel availability in {place} between {start} and {end}",
               "search hotels: {place}, {start} to {end}",
               "Please find somewhere to stay in {place} from {start} until {end}"),
        families=(
            fam("direct", "vp", "search hotels in {place} from {start_q} to {end_q}",
                "find a hotel in {place} from {start_q} until {end_q}",
                "look up hotels in {place}, {start_q} to {end_q}"),
            fam("casual", "vp", "look for somewhere to stay in {place} from {start_q} to {end_q}",
                "scout hotels in {place}, {start_q} to {end_q}",
                "hunt for a room in {place} from {start_q} to {end_q}"),
            fam("ask", "q", "what hotels are available in {place} from {start_q} to {end_q}",
                "are there any rooms in {place} between {start_q} and {end_q}",
                "where can I stay in {place} from {start_q} to {end_q}"),
            fam("need", "s", "I need a place to stay in {place} from {start_q} to {end_q}",
                "I'm looking for a hotel in {place}, checking in {start_q} and out {end_q}",
                "I want a hotel in {place} from {start_q} to {end_q}"),
            fam("terse", "t", "hotels {place} {start_q}-{end_q}", "{place} hotel, {start_q} to {end_q}",
                "stay: {place} / {start_q} - {end_q}"),
        ),
        holdout="terse", produces="hotels", chain=("hotel", 0),
    ),
    FunctionPhrases(
        "book_hotel", _book_hotel,
        steps=("Book the hotel {hid} from {start} to {end}", "Reserve hotel {hid} from {start} to {end}",
               "Make a reservation at hotel {hid} from {start} to {end}",
               "Book a room at hotel {hid} from {start} to {end}",
               "Please reserve {hid} from {start} until {end}", "book hotel {hid}, {start} to {end}",
               "Secure a stay at hotel {hid} from {start} to {end}"),
        families=(
            fam("direct", "vp", "book hotel {hid} from {start_q} to {end_q}",
                "reserve {hid} from {start_q} until {end_q}",
                after=("book {ref}", "reserve {ref} for those dates")),
            fam("casual", "vp", "lock in {hid} for {start_q} to {end_q}",
                "grab a room at {hid}, {start_q} to {end_q}",
                after=("lock in {ref}", "grab a room at {ref}")),
            fam("ask", "q", "can you book {hid} from {start_q} to {end_q}",
                "could you reserve hotel {hid} for {start_q} to {end_q}",
                after=("can you book {ref}", "could you reserve {ref}")),
            fam("need", "s", "I want to book hotel {hid} from {start_q} to {end_q}",
                "I'd like a room at {hid}, {start_q} to {end_q}",
                after=("I want {ref} booked", "I'd like a room at {ref}")),
            fam("terse", "t", "book {hid} {start_q}-{end_q}", "hotel {hid}: {start_q} to {end_q}",
                after=("book {ref}", "reserve: {ref}")),
        ),
        holdout="casual", produces="booking", consumes=("hotels",), chain=("hotel", 1),
        steps_after=("Book {ref} for the same dates", "Reserve {ref} for the same dates",
                     "Make a reservation at {ref} for the same dates",
                     "Book a room at {ref} for the same dates", "Please reserve {ref} for those same dates",
                     "book {ref}, same dates"),
        fill=gold.hotel_for_the_searched_dates,
    ),
    FunctionPhrases(
        "rent_car", _car,
        steps=("Rent a car in {place} from {start} to {end}",
               "Book a rental car at {place} from {start} to {end}",
               "Reserve a rental car in {place} from {start} to {end}",
               "Hire a car in {place} from {start} to {end}",
               "Please get a rental car at {place} from {start} until {end}",
               "rent car: {place}, {start} to {end}",
               "Arrange a car rental in {place} between {start} and {end}"),
        families=(
            fam("direct", "vp", "rent a car in {place} from {start_q} to {end_q}",
                "book a rental car at {place} from {start_q} until {end_q}",
                "reserve a car in {place}, {start_q} to {end_q}"),
            fam("casual", "vp", "get me wheels in {place} from {start_q} to {end_q}",
                "sort out a car hire at {place}, {start_q} to {end_q}",
                "line up a rental in {place} from {start_q} to {end_q}"),
            fam("ask", "q", "can I rent a car in {place} from {start_q} to {end_q}",
                "could you get me a rental car at {place} from {start_q} to {end_q}",
                "are rental cars available at {place} from {start_q} to {end_q}"),
            fam("need", "s", "I need a car in {place} from {start_q} to {end_q}",
                "I'll need a rental at {place} between {start_q} and {end_q}",
                "I want to hire a car in {place} from {start_q} to {end_q}"),
            fam("terse", "t", "car rental {place} {start_q}-{end_q}",
                "rent car: {place}, {start_q} to {end_q}", "car @ {place} {start_q} - {end_q}"),
        ),
        holdout="ask", produces="booking",
    ),
    FunctionPhrases(
        "get_travel_advisory", _advisory,
        steps=("Get the travel advisory for {country}", "Check the travel advisory level for {country}",
               "Look up the travel safety advisory for {country}",
               "Find out whether it is safe to travel to {country}",
               "Show the current travel warnings for {country}", "travel advisory: {country}",
               "Please check the safety advisory for {country}"),
        families=(
            fam("direct", "vp", "get the travel advisory for {country}",
                "check the travel advisory for {country}", "look up the travel warnings for {country}"),
            fam("casual", "vp", "see if it's safe to travel to {country}",
                "find out how risky a trip to {country} is", "check on the safety situation in {country}"),
            fam("ask", "q", "is it safe to travel to {country} right now",
                "are there any travel warnings for {country}", "what's the advisory level for {country}"),
            fam("need", "s", "I want to know the travel advisory for {country}",
                "I need to check if {country} is safe to visit",
                "I'm thinking of going to {country} and want the travel advisory"),
            fam("terse", "t", "advisory {country}", "{country} travel warning?",
                "travel advisory: {country}"),
        ),
        holdout="casual", produces="advisory",
    ),
    FunctionPhrases(
        "convert_currency", _convert,
        steps=("Convert {amount} {src} to {dst}", "Convert {amount} from {src} to {dst}",
               "Work out how much {amount} {src} is in {dst}", "Change {amount} {src} into {dst}",
               "Calculate what {amount} {src} comes to in {dst}", "convert {amount} {src} -> {dst}",
               "Please find the {dst} value of {amount} {src}"),
        families=(
            fam("direct", "vp", "convert {amount_q} {src_q} to {dst_q}",
                "change {amount_q} {src_q} into {dst_q}", "convert {amount_q} from {src_q} to {dst_q}"),
            fam("casual", "vp", "work out {amount_q} {src_q} in {dst_q}",
                "figure out what {amount_q} {src_q} comes to in {dst_q}",
                "turn {amount_q} {src_q} into {dst_q} for me"),
            fam("ask", "q", "how much is {amount_q} {src_q} in {dst_q}",
                "what's {amount_q} {src_q} worth in {dst_q}",
                "how many {dst_q} do I get for {amount_q} {src_q}"),
            fam("need", "s", "I need to know what {amount_q} {src_q} is in {dst_q}",
                "I want {amount_q} {src_q} converted to {dst_q}",
                "I have {amount_q} {src_q} and want to know its value in {dst_q}"),
            fam("terse", "t", "{amount_q} {src_q} -> {dst_q}", "fx {amount_q} {src_q} to {dst_q}",
                "{amount_q} {src_q} in {dst_q}?"),
        ),
        holdout="need", produces="conversion",
    ),
    FunctionPhrases(
        "cancel_booking", _cancel,
        steps=("Cancel the booking {bid}", "Cancel reservation {bid}", "Call off the booking {bid}",
               "Please cancel my booking {bid}", "Scrap reservation {bid}", "cancel {bid}",
               "Undo the booking {bid}"),
        families=(
            fam("direct", "vp", "cancel booking {bid}", "cancel my reservation {bid}",
                "cancel the booking with id {bid}"),
            fam("casual", "vp", "call off booking {bid}", "scrap reservation {bid}",
                "get rid of booking {bid}"),
            fam("ask", "q", "can you cancel booking {bid}", "could you cancel reservation {bid} for me",
                "would you cancel {bid}"),
            fam("need", "s", "I need to cancel booking {bid}",
                "I won't make it, so I want booking {bid} cancelled",
                "I'd like to cancel my reservation {bid}"),
            fam("terse", "t", "cancel {bid}", "booking {bid}: cancel", "{bid} - cancel"),
        ),
        holdout="terse",
    ),
)
# fmt: on
