"""Travel: flights, hotels, cars, advisories, currency, bookings.

Our design (the paper names the domain, not its functions). Flight and hotel offers are a pure
function of the seed and the search (there is no finite timetable to run out of), and their
ids encode that search (``FL-20250710-NEWYORK-LONDON-2``), so booking needs no stored offers
and searching changes nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import Field

from octo_mlx.domains.world import USD_RATES, usd_rate
from octo_mlx.functions.signatures import domain_from_module, octo_function
from octo_mlx.functions.simulator import TODAY, CallError, DeviceState

DATE = r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"
ISO4217 = r"^[A-Z]{3}$"
Date = Annotated[str, Field(pattern=DATE)]
AIRLINES = (
    ("UA", "United"),
    ("DL", "Delta"),
    ("BA", "British Airways"),
    ("LH", "Lufthansa"),
    ("AF", "Air France"),
)
HOTEL_NAMES = ("Grand Plaza", "Riverside Inn", "City Central Hotel", "Harbour View", "The Park Suites")


def _slug(place: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", place.upper())[:16] or "X"


def _day(text: str, field: str) -> dt.date:
    try:
        d = dt.date.fromisoformat(text)
    except ValueError as e:
        raise CallError(f"{field} {text!r} is not a real date") from e
    if d < dt.date.fromisoformat(TODAY):
        raise CallError(f"{field} {text} is in the past (today is {TODAY})")
    return d


def _nights(check_in: str, check_out: str) -> int:
    n = (_day(check_out, "check_out") - _day(check_in, "check_in")).days
    if n <= 0:
        raise CallError(f"check_out {check_out} must be after check_in {check_in}")
    return n


def _flights(state: DeviceState, origin: str, destination: str, day: str) -> list[dict]:
    o, d, stamp = _slug(origin), _slug(destination), day.replace("-", "")
    rng = state.rng("flights", o, d, day)
    base = rng.randint(90, 900)
    out = []
    for i in range(1, 4):
        code, airline = rng.choice(AIRLINES)
        hour = rng.randint(6, 21)
        out.append(
            {
                "flight_id": f"FL-{stamp}-{o}-{d}-{i}",
                "flight_number": f"{code}{rng.randint(100, 2999)}",
                "airline": airline,
                "departure": f"{day} {hour:02d}:{rng.choice(['00', '15', '30', '45'])}",
                "duration_min": rng.randint(60, 720),
                "stops": rng.choice([0, 0, 1]),
                "price_usd": round(base * rng.uniform(0.8, 1.5), 2),
            }
        )
    return out


def _hotels(state: DeviceState, city: str) -> list[dict]:
    c = _slug(city)
    rng = state.rng("hotels", c)
    names = rng.sample(HOTEL_NAMES, 3)
    return [
        {
            "hotel_id": f"HT-{c}-{i}",
            "name": f"{names[i - 1]} {city.strip().title()}",
            "stars": rng.randint(2, 5),
            "nightly_usd": round(rng.uniform(60, 420), 2),
        }
        for i in range(1, 4)
    ]


def _booking(state: DeviceState, kind: str, details: dict, price: float) -> dict:
    booking = {
        "booking_id": state.new_id("BK"),
        "kind": kind,
        "status": "booked",
        "price_usd": round(price, 2),
    }
    booking |= details
    state.travel.bookings.append(booking)
    return dict(booking)


@octo_function(examples=[{"origin": "New York", "destination": "London", "date": "2025-07-10"}])
def search_flights(state: DeviceState, origin: str, destination: str, date: Date) -> list[dict]:
    """Searches flights between two cities on one day.

    Args:
        origin: Departure city or airport code, e.g. "San Francisco" or "SFO".
        destination: Arrival city or airport code, e.g. "Tokyo".
        date: Travel date as "YYYY-MM-DD", e.g. "2025-07-10".

    Returns:
        Flights with flight_id (for book_flight), flight number, airline, departure, stops and price.
    """
    _day(date, "date")
    return _flights(state, origin, destination, date)


@octo_function(side_effects=True, examples=[{"flight_id": "FL-20250710-NEWYORK-LONDON-1", "passengers": 2}])
def book_flight(
    state: DeviceState, flight_id: str, passengers: Annotated[int, Field(ge=1, le=9)] = 1
) -> dict:
    """Books seats on a flight found by search_flights.

    Args:
        flight_id: The id from search_flights, e.g. "FL-20250710-NEWYORK-LONDON-1".
        passengers: Number of travellers, 1 to 9. Default 1.

    Returns:
        The booking id, flight details and total price.
    """
    m = re.fullmatch(r"FL-(\d{4})(\d{2})(\d{2})-([A-Z0-9]+)-([A-Z0-9]+)-([1-3])", flight_id.strip().upper())
    if not m:
        raise CallError(f"no flight with id {flight_id!r}; search_flights returns valid ids")
    day = f"{m[1]}-{m[2]}-{m[3]}"
    _day(day, "flight date")
    flight = _flights(state, m[4], m[5], day)[int(m[6]) - 1]
    if flight["flight_id"] in state.travel.sold_out:
        raise CallError(f"flight {flight['flight_id']} is sold out; search_flights lists the others")
    details = {
        "flight_id": flight["flight_id"],
        "flight_number": flight["flight_number"],
        "passengers": passengers,
    }
    return _booking(
        state, "flight", details | {"departure": flight["departure"]}, flight["price_usd"] * passengers
    )


@octo_function(examples=[{"flight_number": "UA837"}])
def check_flight_status(
    state: DeviceState, flight_number: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{2}\d{1,4}$")]
) -> dict:
    """Checks the live status of a flight by its number.

    Args:
        flight_number: Airline code and number, e.g. "UA837".

    Returns:
        Whether it is on time, delayed (with minutes) or boarding, and its gate.
    """
    rng = state.rng("status", flight_number.upper())
    status = rng.choice(["on time", "on time", "delayed", "boarding"])
    delay = rng.randint(15, 120) if status == "delayed" else 0
    return {
        "flight_number": flight_number.upper(),
        "status": status,
        "delay_min": delay,
        "gate": f"{rng.choice('ABCDE')}{rng.randint(1, 40)}",
    }


@octo_function(examples=[{"city": "Paris", "check_in": "2025-07-10", "check_out": "2025-07-13"}])
def search_hotels(state: DeviceState, city: str, check_in: Date, check_out: Date) -> list[dict]:
    """Searches hotels in a city for a stay.

    Args:
        city: City to stay in, e.g. "Paris".
        check_in: Arrival date "YYYY-MM-DD", e.g. "2025-07-10".
        check_out: Departure date "YYYY-MM-DD", after check_in, e.g. "2025-07-13".

    Returns:
        Hotels with hotel_id (for book_hotel), name, stars, nightly and total price.
    """
    nights = _nights(check_in, check_out)
    return [h | {"total_usd": round(h["nightly_usd"] * nights, 2)} for h in _hotels(state, city)]


@octo_function(
    side_effects=True,
    examples=[{"hotel_id": "HT-PARIS-2", "check_in": "2025-07-10", "check_out": "2025-07-13"}],
)
def book_hotel(state: DeviceState, hotel_id: str, check_in: Date, check_out: Date) -> dict:
    """Books a hotel found by search_hotels.

    Args:
        hotel_id: The id from search_hotels, e.g. "HT-PARIS-2".
        check_in: Arrival date "YYYY-MM-DD".
        check_out: Departure date "YYYY-MM-DD", after check_in.

    Returns:
        The booking id, hotel, dates and total price.
    """
    m = re.fullmatch(r"HT-([A-Z0-9]+)-([1-3])", hotel_id.strip().upper())
    if not m:
        raise CallError(f"no hotel with id {hotel_id!r}; search_hotels returns valid ids")
    nights = _nights(check_in, check_out)
    hotel = _hotels(state, m[1])[int(m[2]) - 1]
    details = {
        "hotel_id": hotel["hotel_id"],
        "name": hotel["name"],
        "check_in": check_in,
        "check_out": check_out,
    }
    return _booking(state, "hotel", details, hotel["nightly_usd"] * nights)


@octo_function(
    side_effects=True,
    examples=[{"location": "LAX", "pickup_date": "2025-07-10", "return_date": "2025-07-14"}],
)
def rent_car(state: DeviceState, location: str, pickup_date: Date, return_date: Date) -> dict:
    """Rents a car to pick up and return at one place.

    Args:
        location: Pick-up city or airport, e.g. "LAX" or "Denver".
        pickup_date: Pick-up date "YYYY-MM-DD".
        return_date: Return date "YYYY-MM-DD", after the pick-up.

    Returns:
        The booking id, car class, dates and total price.
    """
    days = (_day(return_date, "return_date") - _day(pickup_date, "pickup_date")).days
    if days <= 0:
        raise CallError(f"return_date {return_date} must be after pickup_date {pickup_date}")
    rng = state.rng("car", _slug(location))
    car, daily = rng.choice([("compact", 39.0), ("midsize", 52.0), ("SUV", 74.0)])
    details = {"location": location, "car": car, "pickup_date": pickup_date, "return_date": return_date}
    return _booking(state, "car", details, daily * days)


@octo_function(examples=[{"country": "Japan"}])
def get_travel_advisory(state: DeviceState, country: str) -> dict:
    """Gives the (simulated) travel advisory level for a country.

    Args:
        country: Country name, e.g. "Japan".

    Returns:
        The level from 1 (normal precautions) to 4 (do not travel) and a summary.
    """
    level = state.rng("advisory", country.lower()).choices([1, 2, 3, 4], weights=[75, 20, 4, 1])[0]
    text = {
        1: "exercise normal precautions",
        2: "exercise increased caution",
        3: "reconsider travel",
        4: "do not travel",
    }
    return {"country": country, "level": level, "summary": text[level]}


@octo_function(examples=[{"amount": 250, "from_currency": "USD", "to_currency": "EUR"}])
def convert_currency(
    state: DeviceState,
    amount: Annotated[float, Field(gt=0)],
    from_currency: Annotated[str, Field(pattern=ISO4217)],
    to_currency: Annotated[str, Field(pattern=ISO4217)],
) -> dict:
    """Converts an amount of money between currencies at today's rate.

    Args:
        amount: The amount to convert, e.g. 250.
        from_currency: ISO 4217 code of the source currency, e.g. "USD".
        to_currency: ISO 4217 code of the target currency, e.g. "JPY".

    Returns:
        The converted amount and the rate used.
    """
    for code in (from_currency, to_currency):
        if code not in USD_RATES:
            raise CallError(f"unsupported currency {code!r} (supported: {', '.join(sorted(USD_RATES))})")
    rate = usd_rate(state, to_currency) / usd_rate(state, from_currency)
    return {
        "amount": amount,
        "from": from_currency,
        "to": to_currency,
        "rate": round(rate, 6),
        "converted": round(amount * rate, 2),
    }


@octo_function(side_effects=True, examples=[{"booking_id": "BK-1003"}])
def cancel_booking(state: DeviceState, booking_id: str) -> dict:
    """Cancels a flight, hotel or car booking.

    Args:
        booking_id: The booking's id, e.g. "BK-1042".

    Returns:
        The cancelled booking and the refund.
    """
    for b in state.travel.bookings:
        if b["booking_id"] == booking_id.strip().upper():
            if b["status"] == "cancelled":
                raise CallError(f"booking {b['booking_id']} is already cancelled")
            b["status"] = "cancelled"
            return {
                "booking_id": b["booking_id"],
                "kind": b["kind"],
                "status": "cancelled",
                "refund_usd": b["price_usd"],
            }
    known = ", ".join(b["booking_id"] for b in state.travel.bookings) or "none"
    raise CallError(f"no booking with id {booking_id!r} (your bookings: {known})")


DOMAIN = domain_from_module(
    "travel",
    globals(),
    "Travel: search and book flights, hotels and cars, flight status, advisories, currency, cancellations.",
)
