"""Calendar words in a step, resolved to ISO dates against a given today; 12-hour times of day
written as 24-hour ones.

A 135M action model cannot do calendar arithmetic: "next Wednesday" or "March 28" asks it which
day today is and which year comes next, and most of its wrong arguments were wrong dates
(RESULTS.md, "The action model"). :func:`annotate_dates` writes the ISO date after each calendar
expression ("from Wednesday (2025-06-11) to June 16 (2025-06-16)"), so the model copies a date
instead of computing one, and the same adapter serves any today. The words stay, so an argument
that quotes them (a message's text) still can, and nothing inside double quotes is annotated.

The one convention, shared with the offline synthesizer (:mod:`octo_mlx.synth.phrasebank.slots`)
so that its gold dates and these agree:

- "today", "tonight": today; "tomorrow": the day after; "the day after tomorrow": two days on.
- a weekday, bare or with "on" or "next" ("Friday", "next Friday"): that day of the week after
  today's (Monday to Sunday); "this Friday": the first Friday after today.
- a month and day without a year ("June 14", "Jun 14th", "14 June", "the 14th of June"): the
  first such day on or after today; with a year ("June 14, 2026"): that day. A month is written
  with a capital ("call May 5 times" names no day).
- "to the 14th" (a range's end): the first 14th on or after the date written before it in the
  step; without an earlier date it names no day.
- an ISO date is left as it is; a day said relative to something else ("last Friday", "every
  Monday", "after June 3", "a week from Friday") is left alone, since no convention covers it.

:func:`annotate_clock` does the same for the planner's request: "10:05 pm (22:05)", "7 a.m.
(07:00)", because the planner wrote "10:05" for "10:05 pm" (RESULTS.md, "Planner accuracy"),
and its steps carry 24-hour times.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_FULL_MONTHS = ("january", "february", "march", "april", "may", "june", "july") + (
    "august",
    "september",
    "october",
    "november",
    "december",
)
_MONTHS = {
    name: i + 1
    for i, full in enumerate(_FULL_MONTHS)
    for name in {full, full[:3], "sept" if full == "september" else full[:3]}
}

_MONTH = r"(?P<{g}>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<{g}>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?:(?:,\s*|\s+)(?P<{g}>20\d\d))?"
_PATTERN = re.compile(
    r"\b(?:"
    + r"(?P<iso>\d{4}-\d\d-\d\d)"
    + r"|(?P<rel>today|tonight|tomorrow)"
    + r"|(?:(?P<which>next|this)\s+)?(?P<wd>"
    + "|".join(WEEKDAYS)
    + r")"
    + r"|"
    + _MONTH.format(g="m1")
    + r"\s+"
    + _DAY.format(g="d1")
    + _YEAR.format(g="y1")
    + r"|(?:the\s+)?"
    + _DAY.format(g="d2")
    + r"\s+(?:of\s+)?"
    + _MONTH.format(g="m2")
    + _YEAR.format(g="y2")
    + r"|(?:to|until|till|through)\s+the\s+(?P<d3>[0-3]?\d)(?:st|nd|rd|th)(?!\s+of\b)"
    + r")\b"
    + r"(?!:\d)"  # "June 7:30" is a time
    + r"(?!,?\s*(?:20\d\d\s*)?\(\d{4}-\d\d-\d\d\))",  # already annotated: left alone (idempotent)
    re.IGNORECASE,
)
# Words before a day that make it relative to something no convention covers.
_RELATIVE = re.compile(
    r"\b(?:last|past|previous|every|each|after|before|since|week\s+from|weeks\s+from)\s+(?:the\s+)?$",
    re.IGNORECASE,
)
_DAY_AFTER = re.compile(r"\bthe\s+day\s+after\s+$", re.IGNORECASE)
# Month words that are also other words, or abbreviations ("jan", "mar"): a month only with a capital.
_AMBIGUOUS_MONTHS = {"may", "march"} | {name for name in _MONTHS if name not in _FULL_MONTHS}


def convention(today: dt.date | str) -> str:
    """The convention in one sentence, for a teacher that writes gold calls against ``today``
    (octo_mlx.synth.prompts), so that its dates and :func:`annotate_dates` agree."""
    if isinstance(today, str):
        today = dt.date.fromisoformat(today)
    return (
        f"Today is {WEEKDAYS[today.weekday()].capitalize()} {today.isoformat()}. Dates in arguments "
        "are ISO (YYYY-MM-DD): a weekday, bare or with 'next', is that day of the week after this "
        "one; a month and day without a year is the first such day on or after today."
    )


def weekday_date(weekday: int, today: dt.date, which: str = "next") -> dt.date:
    """The date of ``weekday`` (0 = Monday): in the week after today's (``which="next"``, also a
    bare weekday), or the first one after today (``which="this"``)."""
    if which == "this":
        return today + dt.timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)
    return today + dt.timedelta(days=7 - today.weekday() + weekday)


def month_day_date(month: int, day: int, today: dt.date, year: int | None = None) -> dt.date | None:
    """That day of that month: in ``year``, else the first one on or after today (None: no such day)."""
    for y in (year,) if year else range(today.year, today.year + 5):  # February 29: up to four years on
        try:
            d = dt.date(y, month, day)
        except ValueError:
            continue
        if year or d >= today:
            return d
    return None


def _day_of_month(day: int, after: dt.date) -> dt.date | None:
    for k in range(13):
        y, m = divmod(after.month - 1 + k, 12)
        try:
            d = dt.date(after.year + y, m + 1, day)
        except ValueError:
            continue
        if d >= after:
            return d
    return None


def resolve(match: re.Match, today: dt.date, previous: dt.date | None = None) -> dt.date | None:
    """The date one match of the calendar pattern names (None: not a real day, "February 30")."""
    g = match.groupdict()
    if g["iso"]:
        try:
            return dt.date.fromisoformat(g["iso"])
        except ValueError:
            return None
    if g["rel"]:
        return today + dt.timedelta(days=1 if g["rel"].lower() == "tomorrow" else 0)
    if g["wd"]:
        return weekday_date(WEEKDAYS.index(g["wd"].lower()), today, (g["which"] or "next").lower())
    if g["d3"]:
        return _day_of_month(int(g["d3"]), previous) if previous else None
    month, day, year = (g["m1"], g["d1"], g["y1"]) if g["m1"] else (g["m2"], g["d2"], g["y2"])
    if month[0].islower() and month.lower() in _AMBIGUOUS_MONTHS:
        return None  # "you may 5", "jan" as a name: a month in a step is written with a capital
    return month_day_date(_MONTHS[month.lower()], int(day), today, int(year) if year else None)


_QUOTED = re.compile(r'"[^"]*"|\u201c[^\u201d]*\u201d')  # a message's own words, kept as written


def in_quotes(text: str) -> Callable[[int], bool]:
    """Whether a position of ``text`` lies inside double quotes (a message's own words, which the
    annotations leave as written)."""
    spans = [m.span() for m in _QUOTED.finditer(text)]
    return lambda at: any(a <= at < b for a, b in spans)


def annotate_dates(text: str, today: dt.date | str) -> str:
    """``text`` with the ISO date written after each calendar expression it holds, in brackets;
    none inside double quotes (the text of a message or a title)."""
    if isinstance(today, str):
        today = dt.date.fromisoformat(today)
    quoted = in_quotes(text)
    out, last, previous = [], 0, None
    for match in _PATTERN.finditer(text):
        if quoted(match.start()):
            continue
        before = text[max(0, match.start() - 20) : match.start()]
        day_after = (match["rel"] or "").lower() == "tomorrow" and bool(_DAY_AFTER.search(before))
        if _RELATIVE.search(before) and not day_after:
            continue
        date = resolve(match, today, previous)
        if date is None:
            continue
        if day_after:  # "the day after tomorrow"
            date += dt.timedelta(days=1)
        previous = date
        if match["iso"]:
            continue  # already a date: only the start of a range ("2025-08-24 to the 31st")
        out.append(text[last : match.end()] + f" ({date.isoformat()})")
        last = match.end()
    return "".join(out) + text[last:]


_CLOCK = re.compile(
    r"\b(?P<h>1[0-2]|0?[1-9])(?::(?P<m>[0-5]\d))?\s*(?P<ap>[ap]\.m\.|[ap]m)(?![a-z0-9])"
    r"(?!\s*\(\d\d:\d\d\))",  # already annotated: left alone (idempotent)
    re.IGNORECASE,
)


def annotate_clock(text: str) -> str:
    """``text`` with the 24-hour time written after each 12-hour one ("7:30 pm (19:30)"); none
    inside double quotes. A time already in 24 hours ("19:30") is left as it is."""
    quoted = in_quotes(text)

    def write(match: re.Match) -> str:
        if quoted(match.start()):
            return match.group(0)
        hour = int(match["h"]) % 12 + (12 if match["ap"].lower().startswith("p") else 0)
        return f"{match.group(0)} ({hour:02d}:{match['m'] or '00'})"

    return _CLOCK.sub(write, text)
