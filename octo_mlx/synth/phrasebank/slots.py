"""Generated slot values: times, dates, phone numbers, addresses, ids.

Each generator returns the canonical value (what a function argument holds: "19:30",
"+14155550134", "2026-06-14") together with the surface forms a user would type ("7:30 pm",
"(415) 555-0134", "June 14"), so queries can be colloquial while steps stay canonical.
"""

from __future__ import annotations

import datetime as dt
import random
import string
from collections.abc import Sequence
from typing import TypeVar

from octo_mlx.functions.dates import weekday_date
from octo_mlx.functions.simulator import TODAY
from octo_mlx.synth.phrasebank import pools

T = TypeVar("T")

# Dates are drawn from one year after this day; relative words ("tomorrow") are resolved
# against it so the canonical ISO date of every slot is well defined.
REFERENCE_DAY = dt.date.fromisoformat(TODAY)  # the simulator's calendar, so ISO dates agree with it
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MINUTES = (0, 0, 0, 15, 30, 30, 45, 5, 10, 20, 40, 50)


def pick(r: random.Random, seq: Sequence[T]) -> T:
    """One element of ``seq`` (a thin alias that keeps the bank readable)."""
    return seq[r.randrange(len(seq))]


def clock(r: random.Random, lo: int = 5, hi: int = 23) -> tuple[str, str]:
    """A time of day: ("HH:MM", spoken form such as "7:30 pm", "19:30" or "7 am")."""
    h, m = r.randint(lo, hi), pick(r, _MINUTES)
    return f"{h:02d}:{m:02d}", spoken_clock(r, h, m)


def spoken_clock(r: random.Random, h: int, m: int) -> str:
    """How a user writes a time: 12-hour with am/pm most often, sometimes 24-hour."""
    if r.random() < 0.3:
        return f"{h:02d}:{m:02d}"
    suffix = (
        pick(r, ("am", "pm", "AM", "PM", "a.m.", "p.m.")) if r.random() < 0.3 else ("am" if h < 12 else "pm")
    )
    if suffix.lower().startswith("a") != (h < 12):  # keep the meridiem right after picking a spelling
        suffix = {"am": "pm", "pm": "am", "AM": "PM", "PM": "AM", "a.m.": "p.m.", "p.m.": "a.m."}[suffix]
    h12 = h % 12 or 12
    return f"{h12} {suffix}" if m == 0 and r.random() < 0.7 else f"{h12}:{m:02d} {suffix}"


def day(r: random.Random) -> tuple[str, str, str]:
    """A day with its preposition: (ISO "2025-06-14", query form, step form).

    Query forms mix relative words ("tomorrow", "next Friday"), month-day ("on June 14") and
    ISO ("on 2025-06-14"); the step form keeps relative words and writes dates as "on June 14".
    """
    roll = r.random()
    if roll < 0.15:
        word = pick(r, ("today", "tomorrow"))
        d = REFERENCE_DAY + dt.timedelta(days=0 if word == "today" else 1)
        return d.isoformat(), word, word
    if roll < 0.35:
        wd = r.randrange(7)
        d = weekday_date(wd, REFERENCE_DAY)  # the one convention the action model's dates share
        word = f"next {_WEEKDAYS[wd]}" if r.random() < 0.6 else f"on {_WEEKDAYS[wd]}"
        return d.isoformat(), word, word
    d = REFERENCE_DAY + dt.timedelta(days=r.randint(2, 330))
    month_day = f"{d:%B} {d.day}"
    query = pick(
        r, (month_day, month_day, f"{d:%b} {d.day}", d.isoformat(), f"the {_ordinal(d.day)} of {d:%B}")
    )
    return d.isoformat(), f"on {query}", f"on {month_day}"


def date_range(r: random.Random, max_nights: int = 10) -> tuple[str, str, str, str, str, str]:
    """Two days for a stay or a rental: (ISO in, ISO out, query in, query out, step in, step out).

    Forms carry no preposition ("July 10", "tomorrow", "next Friday"): templates say "from .. to ..".
    """
    iso, q, s = day(r)
    q, s = q.removeprefix("on "), s.removeprefix("on ")
    out = dt.date.fromisoformat(iso) + dt.timedelta(days=r.randint(1, max_nights))
    month_day = f"{out:%B} {out.day}"
    out_q = pick(
        r, (month_day, month_day, f"{out:%b} {out.day}", out.isoformat(), f"the {_ordinal(out.day)}")
    )
    return iso, out.isoformat(), q, out_q, s, month_day


def street_address(r: random.Random) -> str:
    """A shipping address such as "42 Oak Avenue, Denver"."""
    return f"{r.randint(1, 999)} {pick(r, pools.STREETS)}, {pick(r, pools.CITIES)}"


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def phone(r: random.Random) -> tuple[str, str]:
    """A phone number: (E.164 "+14155550134", how a user writes it)."""
    kind = r.random()
    if kind < 0.6:  # North America
        area = r.choice(("415", "212", "646", "312", "206", "617", "512", "303", "305", "416", "604", "773"))
        ex, line = f"{r.randint(200, 999)}", f"{r.randint(0, 9999):04d}"
        e164 = f"+1{area}{ex}{line}"
        shown = pick(r, (f"({area}) {ex}-{line}", f"{area}-{ex}-{line}", f"+1 {area} {ex} {line}", e164))
    elif kind < 0.8:  # UK mobile
        rest = f"{r.randint(0, 999999):06d}"
        sub = f"7{r.randint(100, 999)}"
        e164 = f"+44{sub}{rest}"
        shown = pick(r, (f"0{sub} {rest}", f"+44 {sub} {rest}", e164))
    else:  # continental Europe
        cc, digits = pick(r, (("33", 9), ("49", 10), ("34", 9), ("39", 10), ("31", 9)))
        num = str(r.randint(6, 7)) + "".join(str(r.randint(0, 9)) for _ in range(digits - 1))
        e164 = f"+{cc}{num}"
        shown = pick(r, (e164, f"+{cc} {num[:3]} {num[3:6]} {num[6:]}"))
    return e164, shown


_NAMED_RELATIONS = tuple(x for x in pools.RELATIONS if not x.startswith("my "))  # "Mom", not "my boss"


def person(r: random.Random, relations: bool = True) -> str:
    """A contact as a user names it: a first name, a full name or a relation ("Mom")."""
    roll = r.random()
    if relations and roll < 0.2:
        return pick(r, _NAMED_RELATIONS)
    if roll < 0.6:
        return pick(r, pools.FIRST_NAMES)
    return f"{pick(r, pools.FIRST_NAMES)} {pick(r, pools.LAST_NAMES)}"


def email_address(r: random.Random, name: str | None = None) -> str:
    """A plausible address, derived from a person's name when given."""
    first = name or pick(r, pools.FIRST_NAMES)
    last = pick(r, pools.LAST_NAMES)
    local = pick(r, (f"{first}.{last}", f"{first[0]}{last}", f"{first}{r.randint(1, 99)}", first))
    local = "".join(c for c in local.lower() if c.isascii() and (c.isalnum() or c == "."))
    return f"{local}@{pick(r, pools.EMAIL_DOMAINS)}"


def code(r: random.Random, n: int = 6, alphabet: str = string.ascii_uppercase + string.digits) -> str:
    """A booking reference style code, e.g. "QX7P2K"."""
    return "".join(r.choice(alphabet) for _ in range(n))


def order_id(r: random.Random) -> str:
    """An order number such as "112-4839201"."""
    return f"{r.randint(100, 999)}-{r.randint(1000000, 9999999)}"


def flight_number(r: random.Random) -> tuple[str, str]:
    """(canonical "UA837", spoken "UA 837" or "UA837")."""
    airline, num = pick(r, pools.AIRLINE_CODES), r.randint(10, 2999)
    return f"{airline}{num}", pick(r, (f"{airline}{num}", f"{airline} {num}"))


def coupon(r: random.Random) -> str:
    """A coupon code such as "SAVE20"."""
    return f"{pick(r, pools.COUPON_WORDS)}{pick(r, (5, 10, 15, 20, 25, 30, 50))}"


def money(r: random.Random) -> tuple[float, str]:
    """An amount: (number, how a user writes it: "250", "1,200", "75.50")."""
    amount = pick(r, (20, 50, 75, 100, 120, 150, 200, 250, 300, 500, 750, 1000, 1200, 1500, 2000, 5000))
    if r.random() < 0.2:
        amount = round(amount + r.randint(1, 99) / 100, 2)
    shown = f"{amount:,.2f}" if isinstance(amount, float) else f"{amount:,}"
    return float(amount), shown


def level(r: random.Random, lo: int = 0, hi: int = 10) -> tuple[int, str]:
    """A 0-10 level: (number, how a user says it: "7", "level 7", "7 out of 10", "70%", "max")."""
    n = r.randint(lo, hi)
    forms = [str(n), str(n), f"level {n}", f"{n} out of 10", f"{n}/10", f"{n * 10}%"]
    if n == hi == 10:
        forms += ["max", "maximum", "full"]
    if n == lo == 0:
        forms += ["zero"]
    return n, pick(r, forms)
