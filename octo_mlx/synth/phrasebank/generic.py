"""Phrasing for any function, from its spec alone: the offline synthesizer's road for a user's
own tools (a domain without a hand-written bank), no network.

What a spec gives, and what is made of it:

- **a verb phrase** from the name ("book_flight" -> "book a flight", "get_weather_forecast" ->
  "get the weather forecast", "add_to_cart" -> "add to the cart", "weatherForecast" -> "get the
  weather forecast"): the step's head and every family's;
- **values** from each parameter's schema: ``const``, ``enum``, examples (the function's, the
  schema's, and values quoted after "e.g." in the parameter's description), ``format`` (date,
  date-time, time, email, uri, uuid), numeric ranges, arrays, and otherwise the parameter's
  *role* read from its name and description (a city, a person, an email address, a date, an
  amount, a file path, a search query, a message, an id...). A value that breaks the schema's
  ``pattern`` is replaced by an example that keeps it, or left out when the parameter is optional;
- **a verb phrase the values decide** where the spec says so: a switch's boolean turns the thing
  on or off ("turn off do not disturb", never "with enabled off"), an "X_or_Y" name takes the
  verb its enum chose ("lock the door"), a ``*_type`` enum qualifies the object ("set the ring
  volume"), and a setter's number is what it is set to ("to 4");
- **dates in the spec's own layout** (an example such as "2025-06-03-14-30" gives the layout; the
  values are drawn), a start and an end of one thing made one span ("on June 3 from 14:30 to
  15:30"), numbers said with the unit their description names ("69 degrees Fahrenheit");
- **a phrase per value**, led by the preposition its role calls for ("from Paris", "to Rome", "on
  June 14", "at 7:30 pm", "for Mia", "saying ...", "called ..."): canonical in steps ("at 19:30"),
  written as people write them in queries ("at 7:30 pm", "tomorrow", "(415) 555-0134");
- **six phrasing families**: imperative, polite request, statement of need, the description's
  own words, terse note and casual typing; one (the statement of need) is held out for the
  test split;
- **step templates** with canonical values: "Book a flight from Paris to Rome on June 14"
  (the planner's two), the description's wording (held out: the action data's test split only),
  and more wordings for the action data's training split.

A bundled domain uses its hand-written bank, the better source; ``resolve_phrases(...,
generic=True)`` (``octo-mlx data synth --generic-phrasing``) phrases it with this module instead,
which is how its quality is measured against the bank (RESULTS.md).
"""

from __future__ import annotations

import json
import math
import random
import re
import string
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from octo_mlx.synth.phrasebank import gold, pools
from octo_mlx.synth.phrasebank.slots import (
    clock,
    code,
    day,
    email_address,
    money,
    person,
    phone,
    pick,
    spoken_clock,
    street_address,
)
from octo_mlx.synth.phrasebank.spec import FunctionPhrases, Slots, fam, show_value

HOLDOUT = "need"  # the family only the test split uses: statements of need ("I need to ...")

# Verbs whose object takes "the", "a", or no article; a name that starts with none of them is a
# noun phrase ("weather_forecast") and is asked for with "get the ...".
_THE = set(
    "get check view show fetch retrieve read track cancel delete remove update open close stop pause resume "
    "lock unlock refresh clear reset mute unmute download print rate review edit modify archive rename move "
    "copy save confirm approve reject accept decline return refund mark complete finish end dismiss set "
    "change adjust increase decrease raise lower toggle switch activate deactivate assign publish deploy "
    "restart merge renew".split()
)
_A = set(
    "create add register book make send schedule submit post upload buy order rent reserve start "
    "generate write draft log record report request file take plan issue build new borrow lend sell "
    "ship hire".split()
)
_BARE = set(
    "search find lookup look list browse explore query play turn enable disable connect disconnect "
    "convert translate calculate compute compare navigate call text email message pay transfer sync "
    "install uninstall login logout sign subscribe unsubscribe follow unfollow like go run watch listen "
    "apply estimate count predict analyze analyse summarize summarise scan share invite notify remind".split()
)
_PREPOSITIONS = {"to", "on", "from", "in", "into", "for", "with", "at", "by", "of", "onto", "about"}
_DETERMINERS = {"a", "an", "the", "my", "your", "all", "some", "this", "that", "our"}


def _words(name: str) -> list[str]:
    """ "getWeatherForecast" / "get_weather_forecast" -> ["get", "weather", "forecast"]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).replace("_", " ").replace("-", " ")
    return [w.lower() for w in spaced.split()]


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" and not word.startswith(("uni", "use", "eu")) else "a"


def _with_articles(rest: list[str]) -> list[str]:
    """ "on nest hub" -> "on the nest hub": a preposition inside the name gets its article."""
    out: list[str] = []
    for i, w in enumerate(rest):
        out.append(w)
        nxt = rest[i + 1] if i + 1 < len(rest) else None
        if w in _PREPOSITIONS and nxt and nxt not in _DETERMINERS and nxt not in _PREPOSITIONS:
            out.append("the")
    return out


def verb_phrase(name: str) -> tuple[str, str]:
    """(verb phrase, its object) of a function name: ("book a flight", "flight")."""
    words = _words(name) or [name]
    verbs = _THE | _A | _BARE
    if len(words) > 3 and words[1] in ("or", "and") and words[0] in verbs and words[2] in verbs:
        # "open_or_lock_door" -> "open or lock the door"
        tail, tail_noun = verb_phrase("_".join(words[2:]))
        return f"{words[0]} {words[1]} {tail}", tail_noun
    verb, rest = words[0], words[1:]
    if verb not in verbs:
        rest, verb = words, "get"
        article = "the"
    elif not rest:
        return verb, verb
    elif rest[0] in _DETERMINERS or rest[0] in _PREPOSITIONS or verb in _BARE:
        article = ""
    elif verb in _A and not rest[-1].endswith("s"):
        article = _article(rest[0])
    else:
        article = "the"
    noun = " ".join(w for w in rest if w not in _PREPOSITIONS and w not in _DETERMINERS) or verb
    body = _with_articles(rest)
    return " ".join([verb, *([article] if article else []), *body]), noun


def _imperative(description: str) -> str:
    """The description's first clause, third person turned imperative, its parameters cut:
    "Gives the weather forecast for a location for the next three days." -> "give the weather
    forecast"; "Checks the smoke detector: battery, ..." -> "check the smoke detector". What
    follows an indefinite object ("for a location", "to one recipient") names a parameter whose
    value the query states, so it goes; so do "on or off" and what follows a colon or "and"."""
    first = re.split(r"(?<=[.!?])\s", (description or "").strip(), maxsplit=1)[0].rstrip(".!? ")
    first = re.sub(r"\s*\([^)]*\)", "", first)  # "(simulated)"
    first = re.split(r"[:;]|,? and (?=[a-z]+s\b)|\s\S*_\S*", first, maxsplit=1)[0]  # no names of functions
    for cut in re.finditer(_PARAMETER_PHRASE, first):
        if " " in first[: cut.start()].strip():  # never the verb alone ("connect to a device")
            first = first[: cut.start()]
            break
    first = re.sub(r"\s(?:on or off|or off)$", "", first.strip())
    first = re.sub(
        r"(?:\s(?:found|made|returned|given))?(?:\s(?:by|with|from|of|to|for|in|on|at))+$", "", first
    )
    if not first:
        return ""
    if "_" in first or "{" in first or "}" in first or " " not in first.strip():
        return ""  # a function's name or a bare verb: the caller says the name's verb phrase instead
    verb, _, rest = first.partition(" ")
    rest = re.sub(r"^or (\w+)", lambda m: f"or {_base_verb(m.group(1))}", rest)  # "opens or locks"
    return f"{_base_verb(verb.lower())} {rest}".strip()


_PARAMETER_PHRASE = re.compile(
    r"\s(?:with|to|for|from|in|on|at|by|between|about|into|matching|named|called|containing|using)"
    r"\s(?:a|an|one|some|two|any|name|id)\b"
)


def _base_verb(low: str) -> str:
    """ "searches" -> "search", "copies" -> "copy", "gives" -> "give"."""
    if re.search(r"(ch|sh|ss|x|z)es$", low):
        return low[:-2]
    if low.endswith("ies"):
        return low[:-3] + "y"
    if low.endswith("s") and not low.endswith("ss"):
        return low[:-1]
    return low


# --- the verb phrase a call's values decide ------------------------------------------------------

_TOGGLES = {"enable", "disable", "toggle", "turn", "switch", "activate", "deactivate", "set"}
_SETTERS = {"set", "change", "adjust", "update", "increase", "decrease", "raise", "lower", "switch", "turn"}
_GETTERS = {"get", "check", "view", "show", "fetch", "retrieve", "read", "track"}
_QUALIFIERS = {"type", "kind", "category", "channel"}
_SWITCHES = {"enabled", "enable", "on", "active", "state", "status", "power", "mode"}


@dataclass(frozen=True)
class _Shape:
    """How a function's values shape its verb phrase, read from its name and schema once.

    ``toggle``: the boolean parameter that turns the named thing on or off ("enable_do_not_disturb"
    with ``enabled``: "turn off do not disturb"); ``choice``: an enum parameter whose values are
    the verbs of an "X_or_Y" name ("open_or_lock_door" with ``status`` "lock": "lock the door");
    ``qualifier``: an enum parameter naming which of the object is meant ("set_volume" with
    ``volume_type`` "ring": "set the ring volume"); ``setter``: numeric values are what the thing
    is set *to* ("set the volume to 4")."""

    vp: str
    noun: str
    obj: str  # the vp without its verb: "the door", "do not disturb"
    verb: str
    toggle: str | None = None
    choice: tuple[str, tuple[str, ...]] | None = None  # (parameter, the name's verbs)
    qualifier: tuple[str, str] | None = None  # (parameter, the object word it qualifies)
    setter: bool = False

    @cached_property
    def absorbed(self) -> frozenset[str]:
        """Parameters the verb phrase states, so no phrase repeats them."""
        return frozenset(
            p
            for p in (self.toggle, self.choice and self.choice[0], self.qualifier and self.qualifier[0])
            if p
        )

    def phrases(self, values: Mapping[str, Any], r: random.Random | None) -> tuple[str, str]:
        """(the step's verb phrase, a query's), for the call's values; canonical when ``r`` is None."""
        choose = (lambda options: options[0]) if r is None else r.choice
        if self.toggle and isinstance(values.get(self.toggle), bool):
            on = "on" if values[self.toggle] else "off"
            ed = "enable" if values[self.toggle] else "disable"
            step = f"turn {on} {self.obj}"
            return step, choose(
                [step, f"turn {self.obj} {on}", f"switch {on} {self.obj}", f"{ed} {self.obj}"]
            )
        vp = self.vp
        if self.choice and values.get(self.choice[0]) in self.choice[1]:
            vp = f"{values[self.choice[0]]} {self.obj}"
        elif self.qualifier and self.qualifier[0] in values:
            value = show_value(values[self.qualifier[0]])
            words = vp.split(" ")
            at = len(words) - 1 - words[::-1].index(self.qualifier[1])
            if at and words[at - 1] in ("a", "an"):  # "an savings account" -> "a savings account"
                words[at - 1] = _article(value)
            vp = " ".join([*words[:at], value, *words[at:]])
        return vp, vp


def _shape(function: Any) -> _Shape:
    vp, noun = verb_phrase(function.name)
    words = _words(function.name)
    verb = vp.split(" ")[0]
    obj = vp[len(verb) :].strip()
    props = {
        k: v for k, v in (function.parameters.get("properties", {}) or {}).items() if isinstance(v, dict)
    }
    toggle = choice = qualifier = None
    flags = [k for k, v in props.items() if v.get("type") == "boolean"]
    # the boolean *is* the switch only when it says so ("enabled") or names the object itself;
    # set_alarm(repeat: bool) is not turned off by repeat=false
    if (
        verb in _TOGGLES
        and len(flags) == 1
        and obj
        and (set(_words(flags[0])) & _SWITCHES or set(_words(flags[0])) <= set(obj.split(" ")))
    ):
        toggle = flags[0]
    if len(words) > 3 and words[1] in ("or", "and"):
        verbs = (words[0], words[2])
        obj = verb_phrase("_".join(words[2:]))[0].split(" ", 1)[-1]
        for k, v in props.items():
            if {e for e in v.get("enum") or () if isinstance(e, str)} & set(verbs):
                choice = (k, verbs)
                break
    noun_words = noun.split(" ")
    for k, v in props.items():
        if not v.get("enum") or (choice and k == choice[0]):
            continue
        kw = _words(k)
        if kw and kw[-1] in _QUALIFIERS and all(isinstance(e, str) for e in v["enum"]):
            if len(kw) > 1 and kw[0] not in noun_words:  # seat_type of book_flight: not the flight's kind
                continue
            target = kw[0] if len(kw) > 1 else noun_words[-1]
            if target != verb and target in obj.split(" "):
                qualifier = (k, target)
                break
    return _Shape(vp, noun, obj, verb, toggle, choice, qualifier, verb in _SETTERS)


# --- values ----------------------------------------------------------------------------------------

# Roles, by the words a parameter's name (or description) holds; the first that matches wins.
_ROLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("email", ("email", "e-mail")),
    ("phone", ("phone", "mobile", "telephone", "tel", "msisdn")),
    ("url", ("url", "link", "uri", "website", "webpage")),
    ("path", ("path", "file", "filename", "folder", "directory", "dir")),
    ("datetime", ("datetime", "timestamp")),
    ("date", ("date", "day", "birthday", "deadline", "checkin", "checkout", "check_in", "check_out")),
    ("time", ("time", "hour", "clock")),
    ("origin", ("origin", "from", "source", "departure", "depart", "start")),
    ("destination", ("destination", "to", "dest", "arrival", "target")),
    ("place", ("city", "location", "place", "where", "region", "area", "town", "venue")),
    ("address", ("address", "street")),
    ("country", ("country", "nation")),
    ("language", ("language", "lang", "locale")),
    ("currency", ("currency",)),
    ("amount", ("amount", "price", "cost", "budget", "total", "fee", "balance", "salary", "payment")),
    ("count", ("count", "quantity", "qty", "number_of", "num", "limit", "max", "size", "nights", "guests")),
    (
        "person",
        (
            "contact",
            "recipient",
            "person",
            "attendee",
            "passenger",
            "guest",
            "user",
            "owner",
            "assignee",
            "friend",
            "customer",
            "patient",
            "author",
            "sender",
            "to_name",
            "who",
            "holder",
        ),
    ),
    ("id", ("id", "code", "reference", "ref", "sku", "isbn", "key", "token", "number", "no")),
    ("query", ("query", "keyword", "keywords", "search", "term", "topic", "q", "question")),
    ("title", ("title", "subject", "label", "name", "heading", "headline")),
    (
        "message",
        (
            "message",
            "body",
            "content",
            "text",
            "note",
            "comment",
            "description",
            "reason",
            "msg",
            "caption",
            "notes",
            "details",
            "summary",
            "prompt",
        ),
    ),
)
_VAGUE = {"origin", "destination", "id"}  # roles a description's words are too loose to decide
_PEOPLE = {
    "contact",
    "person",
    "user",
    "friend",
    "member",
    "employee",
    "customer",
    "patient",
    "guest",
    "passenger",
    "attendee",
    "student",
    "client",
    "people",
}
_MESSAGES = pools.TEXT_MESSAGES
_TITLES = pools.EVENT_TITLES + pools.ALARM_LABELS
_QUERIES = pools.PRODUCT_QUERIES + pools.NEWS_TOPICS + pools.VIDEO_QUERIES
_FILES = ("report.pdf", "notes.txt", "budget.xlsx", "photo.jpg", "slides.pptx", "invoice.pdf", "data.csv")
_FOLDERS = ("Documents", "Downloads", "Desktop", "Pictures", "projects", "work")
_THINGS = ("blue", "large", "premium", "standard", "weekly", "family", "express", "basic", "north", "green")


def role_of(name: str, schema: dict, messaging: bool = False, noun: str = "") -> str:
    """The role of a parameter (a key of the table above, else "text"), from its name first and
    the first words of its description second. "number" in a name is an id unless the schema
    is numeric; a function that sends something sends it to a person ("to" is not a city); a
    bare "name" of a contact-like object is a person's name."""
    words = _words(name)
    joined = "_".join(words)
    described = [w for w in _words(re.sub(r"[^A-Za-z ]", " ", str(schema.get("description", ""))))[:8]]
    role = "text"
    for source, by_name in ((words, True), (described, False)):
        found = next(
            (
                role
                for role, keys in _ROLES
                if (by_name or role not in _VAGUE)
                and any(
                    (k in source and (by_name or len(k) >= 4)) or (by_name and "_" in k and k in joined)
                    for k in keys
                )
            ),
            None,
        )
        if found is not None:
            role = found
            break
    if role == "id" and schema.get("type") in ("integer", "number"):
        return "count"
    if messaging and role == "destination":
        return "person"
    if role == "title" and words == ["name"] and set(_words(noun)) & _PEOPLE:
        return "person"
    return role


def described_examples(schema: dict) -> list[str]:
    """Values a description quotes as examples: 'e.g. "Paris" or "Rome"' -> ["Paris", "Rome"]."""
    text = str(schema.get("description", ""))
    at = re.search(r"\b(e\.g\.|for example|such as|like)\s*", text, re.IGNORECASE)
    if not at:
        return []
    tail = text[at.end() :]
    return re.findall(r"[\"'“‘]([^\"'”’]{1,60})[\"'”’]", tail)


@dataclass(frozen=True)
class Value:
    """One argument: its value, the role that decides its phrase, and how it is written (the
    step's canonical text, and a query-side rendering drawn with it)."""

    name: str
    value: Any
    role: str
    canonical: str
    spoken: str


def _fits(value: Any, schema: dict) -> bool:
    pattern = schema.get("pattern")
    if isinstance(value, str):
        if pattern and not re.search(pattern, value):
            return False
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", 10**9):
            return False
    return True


_CLASSES = {
    r"\d": string.digits,
    "[0-9]": string.digits,
    "[A-Z]": string.ascii_uppercase,
    "[a-z]": string.ascii_lowercase,
    "[A-Za-z]": string.ascii_letters,
    "[a-zA-Z]": string.ascii_letters,
    "[A-Z0-9]": string.ascii_uppercase + string.digits,
    "[A-Za-z0-9]": string.ascii_letters + string.digits,
    "[a-z0-9]": string.ascii_lowercase + string.digits,
    r"\w": string.ascii_letters + string.digits,
}
_PIECE = re.compile(r"(\\d|\\w|\[[^\]]+\]|\\.|[^\\\[\]{}()+*?|^$.])(\{(\d+)(?:,(\d+))?\}|[+*?])?")


def _bracket(atom: str) -> str:
    """The characters of a bracket class such as ``[1-9]`` or ``[A-F0-9_]`` ("" for a negated one)."""
    inner = atom[1:-1]
    if inner.startswith("^"):
        return ""
    chars = ""
    for lo, hi, one in re.findall(r"(\w)-(\w)|(\\?.)", inner):
        chars += "".join(map(chr, range(ord(lo), ord(hi) + 1))) if lo else one[-1]
    return chars


def from_pattern(r: random.Random, pattern: str) -> str | None:
    """A string matching a simple anchored ``pattern`` (character classes such as ``\\d``,
    ``[A-Z]``, ``[A-Z0-9]``, literal characters, counts ``{n}``, ``{m,n}``, ``+``, ``*``, ``?``):
    "^[A-Z]{2}\\d{4}$" -> "QX4821". None for anything richer (groups, alternation, dots)."""
    body = pattern.removeprefix("^").removesuffix("$")
    out, at = [], 0
    while at < len(body):
        m = _PIECE.match(body, at)
        if m is None:
            return None
        atom, count, lo, hi = m.group(1), m.group(2), m.group(3), m.group(4)
        if atom in _CLASSES:
            chars = _CLASSES[atom]
        elif atom.startswith("["):
            chars = _bracket(atom)
            if not chars:
                return None
        else:
            chars = atom[-1]  # a literal, escaped or not
        if count is None:
            n = 1
        elif count == "+":
            n = r.randint(1, 4)
        elif count == "*":
            n = r.randint(0, 3)
        elif count == "?":
            n = r.randint(0, 1)
        else:
            n = r.randint(int(lo), int(hi) if hi else int(lo))
        out.append("".join(r.choice(chars) for _ in range(n)))
        at = m.end()
    text = "".join(out)
    return text if re.search(pattern, text) else None


def _number(r: random.Random, schema: dict, role: str) -> tuple[Any, str]:
    integer = schema.get("type") == "integer"
    lo = schema.get("minimum")
    if lo is None and "exclusiveMinimum" in schema:
        lo = schema["exclusiveMinimum"] + (1 if integer else 0.01)
    hi = schema.get("maximum")
    if hi is None and "exclusiveMaximum" in schema:
        hi = schema["exclusiveMaximum"] - (1 if integer else 0.01)
    if role == "amount" and lo is None and hi is None:
        amount, shown = money(r)
        return (int(amount) if integer else amount), shown
    if lo is None:  # no minimum: from 1, or below a maximum under 1
        lo = 1 if hi is None or hi >= 1 else hi - (9 if role == "count" else 99)
    hi = max(lo, hi if hi is not None else (lo + (9 if role == "count" else 99)))
    whole = (math.ceil(lo), math.floor(hi))  # "exclusiveMinimum: 0" is above 0, never int(0.01) = 0
    if integer or (whole[0] <= whole[1] and r.random() < 0.7):
        n = r.randint(*whole)
    else:
        n = min(max(round(r.uniform(lo, hi), 1), lo), hi)
    return (int(n) if integer else float(n)), _spoken_number(r, n, schema, lo, hi)


# Units a number's description names first ("Degrees Fahrenheit, from 50 to 90", "Seconds to
# keep trying"), said after the number the way people write them.
_UNIT = re.compile(
    r"\b(degrees (?:fahrenheit|celsius)|seconds|minutes|hours|days|nights|percent"
    r"|km|kilometers|miles|kg|stars)\b",
    re.IGNORECASE,
)


def _spoken_number(r: random.Random, n: float, schema: dict, lo: float, hi: float) -> str:
    """A number as a query writes it: bare, with the unit its description names ("69 degrees
    Fahrenheit", "30 seconds"), or on a small scale out of its maximum ("3 out of 10")."""
    shown = show_value(n)
    unit = _UNIT.search(str(schema.get("description", ""))[:60])
    roll = r.random()
    if unit and roll < 0.6:
        said = unit.group(1)
        said = said[0].lower() + said[1:] if not said.lower().startswith("degrees") else said.lower()
        said = re.sub(r"(fahrenheit|celsius)", lambda m: m.group(1).capitalize(), said)
        return f"{shown} {said.split()[0] if roll < 0.2 else said}"
    if "maximum" in schema and 0 <= lo <= 1 and hi in (5, 10) and roll < 0.3:
        return f"{shown} out of {show_value(hi)}"
    return shown


def _text_value(r: random.Random, role: str, name: str) -> tuple[str, str]:
    """(canonical, as a user writes it) of a string by its role."""
    if role == "email":
        v = email_address(r)
        return v, v
    if role == "phone":
        return phone(r)
    if role == "url":
        v = f"https://{pick(r, ('example.com', 'acme.io', 'news.site', 'shop.example'))}/{code(r, 5).lower()}"
        return v, v
    if role == "path":
        v = f"{pick(r, _FOLDERS)}/{pick(r, _FILES)}"
        return v, v
    if role in ("origin", "destination", "place"):
        v = pick(r, pools.CITIES)
        return v, v
    if role == "address":
        v = street_address(r)
        return v, v
    if role == "country":
        v = pick(r, pools.COUNTRIES)
        return v, v
    if role == "language":
        full, iso = pick(r, pools.LANGUAGES)
        return iso, full
    if role == "currency":
        iso = pick(r, pools.CURRENCIES)[0]
        return iso, iso
    if role == "person":
        v = person(r, relations=False)
        return v, v
    if role == "id":
        v = code(r, 8, string.digits) if "number" in name or name.endswith("no") else code(r)
        return v, v
    if role == "query":
        v = pick(r, _QUERIES)
        return v, v
    if role == "title":
        v = pick(r, _TITLES)
        return v, v
    if role == "message":
        v = pick(r, _MESSAGES)
        return v, v
    words = " ".join(_words(name))
    v = f"{pick(r, _THINGS)} {words}".strip()
    return v, v


def sample_value(
    r: random.Random,
    name: str,
    schema: dict,
    examples: Sequence[dict] = (),
    messaging: bool = False,
    noun: str = "",
) -> Value | None:
    """A value for parameter ``name`` valid against ``schema``, with its role and written forms;
    None when no valid value can be made (an optional parameter is then left out).
    ``messaging`` and ``noun`` as for :func:`role_of`."""
    role = role_of(name, schema, messaging, noun)
    kind = schema.get("type")
    if "const" in schema:
        return _plain(name, schema["const"], "enum")
    if schema.get("enum"):  # only members of the declared type: ["open"] is no string
        kinds = set(kind) if isinstance(kind, list) else {kind}
        if "number" in kinds:
            kinds.add("integer")
        members = [e for e in schema["enum"] if kind is None or _json_type(e) in kinds]
        return _plain(name, pick(r, members), "enum") if members else None
    seen = [e[name] for e in examples if isinstance(e, dict) and name in e]
    seen += list(schema.get("examples", []) or [])
    if kind in (None, "string"):
        seen += described_examples(schema)
    seen = [v for v in seen if _fits(v, schema) and (kind is None or _json_type(v) == kind)]
    # a role read from the name draws fresh values; one guessed from the description (or none)
    # trusts the examples the spec gives
    named = role_of(name, {}, messaging, noun) != "text"
    layout = next((m for m in map(_layout, seen) if m), None) if kind in (None, "string") else None
    if layout is not None and schema.get("format") is None:  # a date in the spec's layout: drawn fresh
        made = _in_layout(r, name, layout)
        if _fits(made.value, schema):
            return made
    if seen and r.random() < _example_share(name, role, named):
        return _plain(name, pick(r, seen), role)
    fmt = schema.get("format")
    if kind == "boolean":
        return _plain(name, r.random() < 0.5, "flag")
    if kind in ("integer", "number"):
        value, shown = _number(r, schema, role)
        return Value(name, value, role, show_value(value), shown)
    if kind == "array":
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        n = max(int(schema.get("minItems", 1)), 1)
        got = [sample_value(r, name.rstrip("s"), items, ()) for _ in range(min(n + r.randint(0, 1), 3))]
        if any(g is None for g in got):
            return None
        values = (
            list(dict.fromkeys(g.value for g in got))
            if all(isinstance(g.value, str) for g in got)
            else [g.value for g in got]
        )
        shown = " and ".join(show_value(v) for v in values)
        return Value(name, values, role, shown, shown)
    if kind not in (None, "string"):
        return _plain(name, pick(r, seen), role) if seen else None
    if fmt == "date" or role == "date":
        iso, query, step = day(r)
        if _fits(iso, schema):
            return Value(name, iso, "date", step, query)
    if fmt == "date-time" or role == "datetime":
        iso, query, step = day(r)
        hhmm, spoken = clock(r)
        if _fits(f"{iso}T{hhmm}:00", schema):
            return Value(name, f"{iso}T{hhmm}:00", "datetime", f"{step} at {hhmm}", f"{query} at {spoken}")
    if fmt == "time" or role == "time":
        hhmm, spoken = clock(r)
        if _fits(hhmm, schema):
            return Value(name, hhmm, "time", hhmm, spoken)
        role = "text"
    if fmt == "email":
        role = "email"
    if fmt in ("uri", "url"):
        role = "url"
    if fmt == "uuid":
        value = str(uuid.UUID(int=r.getrandbits(128)))
        return Value(name, value, "id", value, value)
    value, shown = _text_value(r, role, name)
    if not _fits(value, schema):
        made = from_pattern(r, schema["pattern"]) if schema.get("pattern") else None
        if made is not None and _fits(made, schema) and (not seen or r.random() < 0.7):
            return Value(name, made, role, made, made)
        return _plain(name, pick(r, seen), role) if seen else None
    return Value(name, value, role, value, shown)


def _example_share(name: str, role: str, named: bool) -> float:
    """How often a parameter takes one of its spec's examples rather than a value drawn for its
    role: rarely when its name says what it holds (a city, an email), mostly when nothing does or
    when a name qualifies it ("device_name", "video_service": the examples say what kind)."""
    words = _words(name)
    if role == "text":
        return 1.0  # nothing to draw from but the spec's own examples
    if role == "title" and len(words) > 1 and words[-1] == "name":
        return 0.9
    return 0.15 if named else 0.6


# A date-time written in a layout of the spec's own ("2025-06-03-14-30", "2025/06/03 14:30"):
# year, month, day, then hour and minute, with the example's separators.
_LAYOUT = re.compile(r"^(\d{4})([-/.])(\d{2})\2(\d{2})(?:([-T _:])(\d{2})([-:h])(\d{2}))?$")


def _layout(example: Any) -> tuple[str, str, str, str] | None:
    """The separators of a year-first date(-time) example (date, between, time, has-time)."""
    m = _LAYOUT.match(example) if isinstance(example, str) else None
    if m is None or not (1 <= int(m.group(3)) <= 12 and 1 <= int(m.group(4)) <= 31):
        return None
    return m.group(2), m.group(5) or "", m.group(7) or "", "t" if m.group(6) else ""


def _in_layout(r: random.Random, name: str, layout: tuple[str, str, str, str]) -> Value:
    """A drawn day (and time) written in ``layout``; canonical and spoken as usual."""
    sep, between, tsep, timed = layout
    iso, query, step = day(r)
    date = iso.replace("-", sep)
    if not timed:
        return Value(name, date, "date", step, query)
    hhmm, spoken = clock(r, 7, 21)
    value = f"{date}{between}{hhmm.replace(':', tsep)}"
    return Value(name, value, "datetime", f"{step} at {hhmm}", f"{query} at {spoken}")


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _plain(name: str, value: Any, role: str) -> Value:
    shown = show_value(value)
    return Value(name, value, role, shown, shown)


# --- phrases ---------------------------------------------------------------------------------------


def _quoted(text: str) -> str:
    return f'"{text}"'


def phrase(v: Value, step: bool, r: random.Random | None = None, messaging: bool = False) -> str:
    """The phrase that carries one value: canonical for a step (``step``), else as a user
    writes it, its wording drawn from ``r``. ``messaging``: the function sends something, so a
    person or address is its recipient ("to Mia"), not its beneficiary ("for Mia")."""
    words = " ".join(_words(v.name))
    text = v.canonical if step else v.spoken
    choose = (lambda options: options[0]) if step or r is None else (lambda options: r.choice(options))
    role = v.role
    if role == "flag":
        on = bool(v.value)
        return choose(
            [f"with {words} {'on' if on else 'off'}", f"with {words}" if on else f"without {words}"]
        )
    if role == "bare":
        return text
    if role == "to":
        return choose([f"to {text}", f"to {words} {text}", f"at {text}"])
    if role == "enum":
        return choose([f"with {words} {text}", f"with {text} {words}", f"{words}: {text}"])
    if role == "origin":
        return f"from {text}"
    if role == "destination":
        return f"to {text}"
    if role in ("date", "datetime"):
        if re.match(r"\d", text):  # a value taken from an example is written bare
            text = f"on {text}"
        if set(_words(v.name)) & _UNTIL and text.startswith("on "):
            text = "until " + text[3:]
        return text
    if role == "time":
        return f"at {text}"
    if role in ("place", "address", "country"):
        return (
            choose([f"in {text}", f"for {text}"])
            if role != "address"
            else choose([f"at {text}", f"to {text}"])
        )
    if role in ("person", "email", "phone") and messaging:
        return f"to {text}"
    if role == "person":
        return f"for {text}"
    if role == "language":
        return f"in {text}"
    if role == "currency":
        return choose([f"in {text}", f"with currency {text}"])
    if role == "query":
        return choose([f"for {_quoted(text)}", f"about {text}", f"for {text}", f"matching {text}"])
    if role == "title":
        return choose([f"called {_quoted(text)}", f"titled {_quoted(text)}", f"named {text}"])
    if role == "message":
        return choose([f"saying {_quoted(text)}", f"with the {words} {_quoted(text)}", f": {text}"])
    if role == "path":
        return choose([f"at {text}", f"for the file {text}", f"for {text}"])
    if role == "url":
        return choose([f"at {text}", f"for {text}"])
    return choose([f"with {words} {text}", f"{words} {text}", f"with {text} as {words}"])


_UNTIL = {"end", "return", "out", "until", "checkout", "to", "finish", "due"}
_ORDER = ("to", "origin", "destination", "place", "address", "country", "date", "datetime", "bare", "time")


def _ordered(values: Sequence[Value]) -> list[Value]:
    rank = {role: i for i, role in enumerate(_ORDER)}
    return sorted(values, key=lambda v: (rank.get(v.role, len(_ORDER)), values.index(v)))


def _joined(pieces: Sequence[str]) -> str:
    """ " from Paris to Rome on June 14": each phrase after a space (a ": text" one after none)."""
    return "".join(p if p.startswith(":") else f" {p}" for p in pieces)


_MESSAGING = {
    "send",
    "text",
    "email",
    "message",
    "call",
    "notify",
    "share",
    "invite",
    "remind",
    "forward",
    "reply",
}


# --- the entry -------------------------------------------------------------------------------------


def generic_phrases(function: Any) -> FunctionPhrases:
    """A FunctionPhrases for any Function (name, description, JSON-schema parameters).

    Args:
        function: an ``octo_mlx.functions.Function``.
    """
    shape = _shape(function)
    noun = shape.noun
    desc = _imperative(function.description) or shape.vp
    props: dict = function.parameters.get("properties", {}) or {}
    required = set(function.parameters.get("required", []) or [])
    examples = [e for e in function.parameters.get("examples", []) or [] if isinstance(e, dict)]
    messaging = bool(set(_words(function.name)) & _MESSAGING)
    getter = shape.verb in _GETTERS and not noun.endswith("s")
    ref = _ref_parameter(props)  # what an earlier call's record can give this one, by name

    def sample(r: random.Random) -> Slots:
        chosen: list[Value] = []
        for pname, schema in props.items():
            schema = schema if isinstance(schema, dict) else {}  # `true` is a schema too: anything
            optional = pname not in required
            if (
                optional
                and pname not in shape.absorbed
                and r.random() < (0.7 if "default" in schema else 0.45)
            ):
                continue
            value = sample_value(r, pname, schema, examples, messaging, noun)
            if value is None:
                if optional:
                    continue
                value = Value(pname, None, "text", "", "")  # no valid value: the call is refused, drawn again
            chosen.append(value)
        chosen = _spans(r, _set_to(_apart(r, chosen), shape), props)
        args = {v.name: v.value for v in chosen}
        stated = [v for v in _ordered(chosen) if v.name not in shape.absorbed]
        step_vp, asked_vp = shape.phrases(args, r)
        steps = [phrase(v, True, None, messaging) for v in stated]
        asks = [phrase(v, False, r, messaging) for v in stated]
        timed = [v for v in stated if v.role in ("to", "date", "datetime", "bare", "time")]
        listed = ", ".join(f"{' '.join(_words(v.name))} {v.canonical}" for v in stated if v not in timed)
        terse = ", ".join(v.spoken for v in stated)
        noted = ", ".join(v.spoken for v in _ordered(chosen))
        # the same without the parameter an earlier result gives (a dependent step's forms)
        kept = [i for i, v in enumerate(stated) if v.name != ref]
        return Slots(
            args,
            {
                "s": _joined(steps),
                "a": _joined(asks),
                "sr": _joined([steps[i] for i in kept]),
                "ar": _joined([asks[i] for i in kept]),
                "tr": "".join(f", {stated[i].spoken}" for i in kept),
                "w": _joined([phrase(v, True) for v in timed if v.role == "to"])
                + (f" with {listed}" if listed else "")
                + _joined([phrase(v, True) for v in timed if v.role != "to"]),
                "t": f": {terse}" if terse else "",
                "n": f": {noted}" if noted else "",
                "vs": _cap(step_vp),
                "vl": step_vp,
                "vq": asked_vp,
                "d": (said := _choose_desc(desc, shape, args)),
                "D": _cap(said),
            },
        )

    ask = ["could you {vq}{a}", "can you please {vq}{a}", "would you {vq}{a}"]
    if getter:
        ask += [f"what's the {noun}{{a}}", f"how's the {noun}{{a}}"]
    after = _after_forms(ref is not None)
    return FunctionPhrases(
        function.name,
        sample,
        steps=(
            "{vs}{s}",
            "{vs}{w}",
            "{D}{s}",  # held out: the action data's test split only
            "Please {vl}{s}",
            "{vs} now{s}",
        ),
        families=(
            fam("direct", "vp", "{vq}{a}", "{vq} for me{a}", after=after["direct"]),
            fam("ask", "q", *ask, after=after["ask"]),
            fam(
                HOLDOUT,
                "s",
                "I need to {vq}{a}",
                "I want to {vq}{a}",
                "I have to {vq}{a}",
                after=after[HOLDOUT],
            ),
            fam("describe", "vp", "{d}{a}", after=after["describe"]),
            fam("terse", "t", f"{noun}{{n}}", "{vq}{t}", after=after["terse"]),
            fam("casual", "vp", "{vq}{a} pls", "just {vq}{a}", "{vq}{a} real quick", after=after["casual"]),
        ),
        holdout=HOLDOUT,
        # a function that runs (a typed Python one, a bundled one) returns records a later call
        # may take a field of; one loaded from a file is only echoed, so it produces nothing
        produces="result" if getattr(function, "implementation", None) is not None else None,
        consumes=("result",) if ref else (),
        steps_after=("{vs} for {ref}{sr}", "{vs}{sr} using {ref}", "{vs} {ref}{sr}") if ref else (),
        fill=gold.by_name(ref) if ref else None,
    )


def _ref_parameter(props: Mapping[str, Any]) -> str | None:
    """The parameter an earlier call's record can fill by name: an id ("id", "product_id") of
    type string or integer, without an enum."""
    for name, schema in props.items():
        schema = schema if isinstance(schema, dict) else {}
        if _is_id(name) and schema.get("type") in ("string", "integer") and not schema.get("enum"):
            return name
    return None


def _is_id(name: str) -> bool:
    """ "id", "product_id", "orderId": a name for an identifier."""
    return _words(name)[-1:] == ["id"]


def _after_forms(dependent: bool) -> dict[str, tuple[str, ...]]:
    """Each family's clauses for a step that takes an earlier result ("{ref}": "the first result")."""
    if not dependent:
        return {name: () for name in ("direct", "ask", HOLDOUT, "describe", "terse", "casual")}
    return {
        "direct": ("{vq} {ref}{ar}", "{vq}{ar} for {ref}"),
        "ask": ("could you {vq} {ref}{ar}", "can you {vq}{ar} for {ref}"),
        HOLDOUT: ("I need to {vq} {ref}{ar}",),
        "describe": ("{d} {ref}{ar}",),
        "terse": ("{vq}: {ref}{tr}",),
        "casual": ("{vq} {ref}{ar} pls", "just {vq} {ref}{ar}"),
    }


def _choose_desc(desc: str, shape: _Shape, args: Mapping[str, Any]) -> str:
    """The description's wording, with an "X or Y" verb pair narrowed to the chosen verb and a
    toggle's state said ("turn Do Not Disturb mode off")."""
    if shape.choice and args.get(shape.choice[0]) in shape.choice[1]:
        verb = args[shape.choice[0]]
        return re.sub(r"^\w+ or \w+", verb, desc) if re.match(r"^\w+ or \w+\b", desc) else desc
    if shape.toggle and isinstance(args.get(shape.toggle), bool):
        return f"{desc} {'on' if args[shape.toggle] else 'off'}"
    if shape.qualifier:  # a description lists the kinds ("the ringer, media or alarm"): the chosen one
        return shape.phrases(args, None)[0]
    return desc


def _apart(r: random.Random, values: list[Value]) -> list[Value]:
    """An origin is never its destination ("a route from Santiago to Santiago"): a city drawn for
    the destination is drawn again."""
    origin = next((v.value for v in values if v.role == "origin"), None)
    others = [c for c in pools.CITIES if c != origin]
    return [
        Value(v.name, c, v.role, c, c)
        if v.role == "destination"
        and v.value == origin
        and v.value in pools.CITIES
        and (c := pick(r, others))
        else v
        for v in values
    ]


def _set_to(values: list[Value], shape: _Shape) -> list[Value]:
    """A setter's first number (or choice) is what the thing is set to: "set the volume to 4"."""
    if not shape.setter:
        return values
    for i, v in enumerate(values):
        if v.name in shape.absorbed or _is_id(v.name):
            continue
        if (isinstance(v.value, int | float) and not isinstance(v.value, bool)) or v.role == "enum":
            return [*values[:i], Value(v.name, v.value, "to", v.canonical, v.spoken), *values[i + 1 :]]
    return values


_STARTS = {"start", "begin", "from", "since", "departure"}
_ENDS = {"end", "until", "finish", "to", "stop", "till"}
_CLOCK_AT_END = re.compile(r"(\d{2})([-:h])(\d{2})(:00)?$")


def _spans(r: random.Random, values: list[Value], props: Mapping[str, Any]) -> list[Value]:
    """A start and an end time of one thing (an event's ``start_time`` and ``end_time``) make one
    span on the start's day, the end 30 to 120 minutes later: "on June 3 from 14:30 to 15:30"."""
    timed = [v for v in values if v.role == "datetime" and isinstance(v.value, str) and " at " in v.canonical]
    start = next((v for v in timed if set(_words(v.name)) & _STARTS), None)
    end = next((v for v in timed if set(_words(v.name)) & _ENDS and v is not start), None)
    if start is None or end is None:
        return values
    at, m_end = _CLOCK_AT_END.search(start.value), _CLOCK_AT_END.search(end.value)
    if at is None or m_end is None or re.sub(r"\d", "0", start.value) != re.sub(r"\d", "0", end.value):
        return values  # two layouts: the values stay as drawn
    begin = int(at.group(1)) * 60 + int(at.group(3))
    minutes = min(begin + r.choice((30, 45, 60, 60, 90, 120)), 23 * 60 + 59)  # never past midnight
    if minutes <= begin:
        return values
    h, m = divmod(minutes, 60)
    sep = m_end.group(2)
    end_value = start.value[: at.start()] + f"{h:02d}{sep}{m:02d}" + (m_end.group(4) or "")
    schema = props.get(end.name)
    if not _fits(end_value, schema if isinstance(schema, dict) else {}):
        return values
    day_s, hhmm = start.canonical.rsplit(" at ", 1)
    day_q, spoken = start.spoken.rsplit(" at ", 1)
    out = []
    for v in values:
        if v is start:
            v = Value(v.name, v.value, "datetime", f"{day_s} from {hhmm}", f"{day_q} from {spoken}")
        elif v is end:
            v = Value(v.name, end_value, "bare", f"to {h:02d}:{m:02d}", f"to {spoken_clock(r, h, m)}")
        out.append(v)
    return out


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def describe_call(function: Any, arguments: dict) -> str:
    """A call written as a step in words, its values canonical: ``book_flight`` with ``{"origin":
    "Paris", "destination": "Rome"}`` -> "Book a flight from Paris to Rome" (how an imported
    dataset's calls become planner steps)."""
    shape = _shape(function)
    noun = shape.noun
    messaging = bool(set(_words(function.name)) & _MESSAGING)
    props: dict = function.parameters.get("properties", {}) or {}
    values = []
    for name, value in arguments.items():
        if name in shape.absorbed:
            continue
        schema = props.get(name)
        schema = schema if isinstance(schema, dict) else {}
        role = (
            "enum"
            if schema.get("enum")
            else ("flag" if isinstance(value, bool) else role_of(name, schema, messaging, noun))
        )
        if role == "date" and isinstance(value, str):
            values.append(Value(name, value, role, f"on {value}", f"on {value}"))
        elif role == "datetime" and isinstance(value, str):
            values.append(Value(name, value, role, f"at {value}", f"at {value}"))
        else:
            shown = (
                show_value(value) if not isinstance(value, dict) else json.dumps(value, ensure_ascii=False)
            )
            values.append(Value(name, value, role, shown, shown))
    values = _set_to(values, shape)
    return _cap(shape.phrases(arguments, None)[0]) + _joined(
        [phrase(v, True, None, messaging) for v in _ordered(values)]
    )
