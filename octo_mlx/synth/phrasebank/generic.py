"""Fallback phrasing for functions without a hand-written bank (user-defined domains).

Built only from what the function spec says: its name ("search_products" -> "search
products"), its description's first sentence ("Searches the catalogue..." -> "search the
catalogue..."), and its parameters (enum values, schema examples, min/max, and name-based
guesses such as ``*time`` -> "18:30", ``*phone*`` -> E.164). This is clearly weaker than a
hand-written bank: four mechanical families, values in ``name value`` form, no dependent
phrasings. Write a bank module (see android.py) when a domain matters.
"""

from __future__ import annotations

import random
import re
from typing import Any

from octo_mlx.synth.phrasebank import pools
from octo_mlx.synth.phrasebank.slots import clock, code, day, email_address, person, phone, pick
from octo_mlx.synth.phrasebank.spec import FunctionPhrases, Slots, fam


def generic_phrases(function: Any) -> FunctionPhrases:
    """A FunctionPhrases for any Function (name, description, JSON-schema parameters).

    Args:
        function: an ``octo_mlx.functions.Function``.
    """
    words = function.name.replace("_", " ").strip()
    desc = _imperative(function.description) or words
    props: dict = function.parameters.get("properties", {}) or {}
    required = set(function.parameters.get("required", []) or [])
    examples = [e for e in function.parameters.get("examples", []) or [] if isinstance(e, dict)]

    def sample(r: random.Random) -> Slots:
        args: dict[str, Any] = {}
        for pname, schema in props.items():
            if pname in required or r.random() < 0.4:
                value = _value(r, pname, schema or {}, examples)
                if value is not None:
                    args[pname] = value
        shown = ", ".join(f"{p.replace('_', ' ')} {_fmt(v)}" for p, v in args.items())
        terse = ", ".join(f"{p}={_fmt(v)}" for p, v in args.items())
        return Slots(
            args,
            {
                "with": f" with {shown}" if shown else "",
                "with_q": f" with {shown}" if shown else "",
                "with_q2": f": {terse}" if terse else "",
                "with_q3": f" for {shown}" if shown else "",
            },
        )

    return FunctionPhrases(
        function.name,
        sample,
        steps=(f"{_cap(words)}{{with}}", f"Use {function.name}{{with}}", f"Call {function.name}{{with}}"),
        families=(
            fam("direct", "vp", f"{words}{{with_q}}", f"{words} for me{{with_q}}"),
            fam("describe", "vp", f"{desc}{{with_q3}}"),
            fam("need", "s", f"I need to {words}{{with_q}}", f"I want to {desc}{{with_q3}}"),
            fam("terse", "t", f"{function.name}{{with_q2}}", f"{words}{{with_q2}}"),
        ),
        holdout="need",
    )


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _imperative(description: str) -> str:
    """First sentence, third person turned imperative: "Searches the shop." -> "search the shop"."""
    first = re.split(r"(?<=[.!?])\s", description.strip(), maxsplit=1)[0].rstrip(".!? ")
    if not first:
        return ""
    verb, _, rest = first.partition(" ")
    low = verb.lower()
    if re.search(r"(ch|sh|ss|x|z)es$", low):
        low = low[:-2]
    elif low.endswith("ies"):
        low = low[:-3] + "y"
    elif low.endswith("s") and not low.endswith("ss"):
        low = low[:-1]
    return f"{low} {rest}".strip()


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str) and " " in v:
        return f'"{v}"'
    return str(v)


def _value(r: random.Random, name: str, schema: dict, examples: list[dict]) -> Any:
    """A plausible value; a guessed string that breaks the schema's pattern falls back to an example."""
    value = _guess(r, name, schema, examples)
    pattern = schema.get("pattern")
    if isinstance(value, str) and pattern and not re.search(pattern, value):
        seen = [e[name] for e in examples if name in e] + list(schema.get("examples", []) or [])
        return pick(r, seen) if seen else None
    return value


def _guess(r: random.Random, name: str, schema: dict, examples: list[dict]) -> Any:
    """Enum, examples, bounds, then guesses from the parameter's name."""
    if schema.get("enum"):
        return pick(r, schema["enum"])
    seen = [e[name] for e in examples if name in e]
    seen += list(schema.get("examples", []) or [])
    t = schema.get("type")
    if t == "boolean":
        return r.random() < 0.5
    if t in ("integer", "number"):
        lo = schema.get(
            "minimum", schema.get("exclusiveMinimum", 0) + (1 if "exclusiveMinimum" in schema else 0)
        )
        hi = schema.get("maximum", max(lo + 10, 10))
        n = r.randint(int(lo), int(hi)) if hi >= lo else int(lo)
        return n if t == "integer" else float(n)
    if t not in (None, "string"):
        return pick(r, seen) if seen else None
    if seen and r.random() < 0.5:
        return pick(r, seen)
    key = name.lower()
    if "email" in key:
        return email_address(r)
    if "phone" in key or "number" in key and "phone" in str(schema.get("description", "")).lower():
        return phone(r)[0]
    if "time" in key:
        return clock(r)[0]
    if "date" in key or key in ("check_in", "check_out"):
        return day(r)[0]
    if any(k in key for k in ("city", "location", "origin", "destination", "place")):
        return pick(r, pools.CITIES)
    if "country" in key:
        return pick(r, pools.COUNTRIES)
    if "language" in key:
        return pick(r, pools.LANGUAGES)[0]
    if "currency" in key:
        return pick(r, pools.CURRENCIES)[0]
    if key.endswith("id") or key.endswith("code"):
        return code(r)
    if "name" in key or "contact" in key or "recipient" in key:
        return person(r)
    if seen:
        return pick(r, seen)
    return pick(r, pools.PRODUCT_QUERIES + pools.NEWS_TOPICS + pools.VIDEO_QUERIES)
