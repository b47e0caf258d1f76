"""Calendar words resolved to ISO dates (octo_mlx.functions.dates): the one convention the
offline synthesizer's gold dates and the action model's prompts share."""

from __future__ import annotations

import datetime as dt
import random
import re

import pytest

from octo_mlx.functions.dates import annotate_clock, annotate_dates
from octo_mlx.functions.simulator import TODAY
from octo_mlx.synth.phrasebank import slots


@pytest.mark.parametrize("seed", range(3))
def test_every_date_the_synthesizer_writes_resolves_to_its_gold_date(seed):
    r = random.Random(seed)
    for _ in range(400):
        iso, query, step = slots.day(r)
        for text in (query, step):
            assert iso in annotate_dates(f"Book it {text}", TODAY), (text, iso)  # an ISO date stays as is
        iso_in, iso_out, q_in, q_out, s_in, s_out = slots.date_range(r)
        for a, b in ((q_in, q_out), (s_in, s_out)):
            got = annotate_dates(f"Hotels in Rome from {a} to {b}", TODAY)
            annotated = sum(not x[:4].isdigit() for x in (a, b))  # an ISO date is not annotated again
            assert iso_in in got and iso_out in got and got.count(" (") == annotated, (a, b, got)


@pytest.mark.parametrize(
    ("text", "today", "dates"),
    [
        ("from Wednesday to June 16", "2025-06-02", ["2025-06-11", "2025-06-16"]),  # a Monday
        ("next Friday", "2025-06-06", ["2025-06-13"]),  # said on a Friday: next week's
        ("this Friday", "2025-06-06", ["2025-06-13"]),  # the first one after today
        ("this Monday", "2025-06-04", ["2025-06-09"]),
        ("on March 28", "2025-06-02", ["2026-03-28"]),  # passed this year: next year's
        ("on Jun 2nd", "2025-06-02", ["2025-06-02"]),  # today counts
        ("the 3rd of February, 2027", "2025-06-02", ["2027-02-03"]),
        ("from Dec 30 to the 2nd", "2025-06-02", ["2025-12-30", "2026-01-02"]),
        ("14 Sept until tomorrow", "2025-06-02", ["2025-09-14", "2025-06-03"]),
        ("on February 29", "2025-06-02", ["2028-02-29"]),
        ("the day after tomorrow", "2025-06-02", ["2025-06-04"]),
        ("June 14,2026 to the 20th", "2025-06-02", ["2026-06-14", "2026-06-20"]),
        ("from June 3 to the 14th of July", "2025-06-02", ["2025-06-03", "2025-07-14"]),
        ("on june 5", "2025-06-02", ["2025-06-05"]),  # a full month name in lower case is still one
    ],
)
def test_calendar_words_resolve_by_the_convention(text, today, dates):
    got = annotate_dates(text, today)
    assert [got[i + 1 : i + 11] for i in range(len(got)) if got[i] == "("] == dates, got
    assert re.sub(r" \(\d{4}-\d\d-\d\d\)", "", got) == text  # the words stay as written


def test_words_stay_quoted_text_and_non_dates_are_left_alone_and_it_is_idempotent():
    text = 'Email Ann "see you on Friday" and play the 1st video on Friday; February 30 is no day'
    got = annotate_dates(text, dt.date(2025, 6, 2))
    assert got == text.replace("video on Friday", "video on Friday (2025-06-13)")
    assert annotate_dates(got, "2025-06-02") == got
    assert (
        annotate_dates("Set the volume to 5 and call May", "2025-06-02") == "Set the volume to 5 and call May"
    )


@pytest.mark.parametrize("seed", range(3))
def test_every_time_the_synthesizer_writes_gets_its_24_hour_form(seed):
    r = random.Random(seed)
    for _ in range(400):
        hhmm, spoken = slots.clock(r, 0, 23)
        got = annotate_clock(f"Wake me at {spoken} please")
        assert (got.count(f"({hhmm})") == 1) != (spoken == hhmm), (spoken, hhmm, got)  # 24-hour: as is


def test_clock_words_quoted_text_and_idempotence():
    text = 'at 12 AM, 12:30 p.m. and 4am; text Jack "moved to 3 pm"; room 5 pmx; 19:30'
    got = annotate_clock(text)
    assert got == text.replace("AM,", "AM (00:00),").replace("p.m.", "p.m. (12:30)").replace(
        "4am", "4am (04:00)"
    )
    assert annotate_clock(got) == got


@pytest.mark.parametrize(
    "text",
    [
        "you may 5 times text mar 3",  # "may" and an abbreviation in lower case name no month
        "Show what I bought last Friday",
        "Remind me every Monday",
        "Book a table a week from Friday",
        "Flights after June 3",
        "Play the video up to the 14th",  # a range's end without a start
        "Meet on June 7:30",  # a time, not the 7th
    ],
)
def test_days_no_convention_covers_are_left_alone(text):
    assert annotate_dates(text, "2025-06-02") == text


def test_a_date_with_its_year_is_not_annotated_twice():
    once = annotate_dates("Fly on June 14, 2026 and back on 20 June 2026", "2025-06-02")
    assert once.count("(2026-06-14)") == 1 and once.count("(2026-06-20)") == 1, once
    assert annotate_dates(once, "2025-06-02") == once


def test_language_names_get_their_codes_outside_quotes_once():
    from octo_mlx.functions.languages import CODES, annotate_languages

    assert annotate_languages("Top stories about the Nobel Prize in Indonesian") == (
        "Top stories about the Nobel Prize in Indonesian (id)"
    )
    once = annotate_languages('Text Ana "I speak French" in Spanish')
    assert once == 'Text Ana "I speak French" in Spanish (es)' and annotate_languages(once) == once
    assert (
        annotate_languages("the english muffin recipe") == "the english muffin recipe"
    )  # a name is capitalised
    assert all(len(code) == 2 and code.islower() for code in CODES.values())
