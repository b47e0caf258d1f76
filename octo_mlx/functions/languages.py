"""Language names and their ISO 639-1 codes: one table for the synthesizer's values and for the
action model's steps.

A step says "in Japanese"; a function takes ``language: "ja"``. Which code a name stands for is a
lookup, not something a 135M model infers reliably (the shipped action adapter sent "in" for
Indonesian and left "in Japanese" in a query: RESULTS.md, "The agent"). So, like calendar dates
(:mod:`octo_mlx.functions.dates`), the code is written after each language name before the model
reads the step: "in Japanese (ja)". The model then copies, as it copies everything else.
"""

from __future__ import annotations

import re

from octo_mlx.functions.dates import in_quotes

# The most used languages, as people name them (capitalised: a proper noun), with their codes.
CODES: dict[str, str] = {
    "English": "en",
    "Spanish": "es",
    "French": "fr",
    "German": "de",
    "Italian": "it",
    "Portuguese": "pt",
    "Japanese": "ja",
    "Chinese": "zh",
    "Mandarin": "zh",
    "Korean": "ko",
    "Arabic": "ar",
    "Russian": "ru",
    "Hindi": "hi",
    "Dutch": "nl",
    "Swedish": "sv",
    "Turkish": "tr",
    "Polish": "pl",
    "Greek": "el",
    "Vietnamese": "vi",
    "Indonesian": "id",
    "Hebrew": "he",
    "Norwegian": "no",
    "Danish": "da",
    "Finnish": "fi",
    "Czech": "cs",
    "Hungarian": "hu",
    "Romanian": "ro",
    "Ukrainian": "uk",
    "Thai": "th",
    "Malay": "ms",
    "Bengali": "bn",
    "Persian": "fa",
    "Urdu": "ur",
    "Swahili": "sw",
    "Tagalog": "tl",
    "Catalan": "ca",
}

_NAME = re.compile(r"\b(" + "|".join(sorted(CODES, key=len, reverse=True)) + r")\b(?!\s*\([a-z]{2}\))")


def annotate_languages(text: str) -> str:
    """``text`` with the ISO 639-1 code written after each language name, in brackets ("in
    Japanese (ja)"); none inside double quotes; idempotent."""
    quoted = in_quotes(text)

    def write(match: re.Match) -> str:
        if quoted(match.start()):
            return match.group(0)
        return f"{match.group(0)} ({CODES[match.group(1)]})"

    return _NAME.sub(write, text)
