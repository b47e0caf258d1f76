"""Queries no function can serve (the paper's "irrelevant" class): chit-chat, trivia, writing.

They must stay clear of every bundled domain (no weather, news, messages, shopping, videos,
travel), so the only right plan is the single fixed step ``data.IRRELEVANT_STEP``.
"""

from __future__ import annotations

import random

from octo_mlx.synth.phrasebank import pools
from octo_mlx.synth.phrasebank.slots import pick
from octo_mlx.synth.phrasebank.spec import FunctionPhrases, Slots, fam, slots

TOPICS = (
    "autumn",
    "the ocean",
    "friendship",
    "a lost cat",
    "the moon",
    "my grandmother's kitchen",
    "winter mornings",
    "a lighthouse",
    "first love",
    "coffee",
    "a rainy Sunday",
    "the desert",
    "old trains",
    "a dragon who can't fly",
    "time travel",
    "a robot learning to paint",
    "the last day of school",
    "a city at night",
    "mountains",
    "a talking tree",
    "growing up",
    "the stars",
    "a broken umbrella",
    "summer camp",
    "an old violin",
)
CONCEPTS = (
    "quantum entanglement",
    "photosynthesis",
    "inflation",
    "the theory of relativity",
    "blockchain",
    "how vaccines work",
    "the Pythagorean theorem",
    "black holes",
    "machine learning",
    "supply and demand",
    "the French Revolution",
    "plate tectonics",
    "compound interest",
    "the immune system",
    "recursion",
    "the difference between a virus and a bacterium",
    "why the sky is blue",
    "how airplanes fly",
    "the water cycle",
    "game theory",
    "evolution",
    "DNA replication",
    "the stock exchange",
    "entropy",
)
TRIVIA = (
    "who painted the Mona Lisa",
    "how far is the moon from the earth",
    "how many bones are in the human body",
    "who wrote Pride and Prejudice",
    "what's the tallest mountain in the world",
    "when did the Berlin Wall fall",
    "what is the speed of light",
    "who invented the telephone",
    "what's the largest ocean",
    "how many players are on a soccer team",
    "what year did humans land on the moon",
    "what's the boiling point of water",
    "who discovered penicillin",
    "how old is the universe",
    "what language is spoken in Brazil",
    "what's the smallest planet",
    "how many continents are there",
    "who composed the Moonlight Sonata",
)
THINGS = (
    "cats",
    "dogs",
    "pizza",
    "coffee",
    "Mondays",
    "pineapple on pizza",
    "cold showers",
    "chess",
    "jazz",
    "math",
    "winter",
    "pancakes",
    "cities",
    "books",
    "homework",
    "tea",
)


def _irrelevant(r: random.Random) -> Slots:
    a, b = r.sample(THINGS, 2)
    return slots(
        {},
        topic=pick(r, TOPICS),
        concept=pick(r, CONCEPTS),
        trivia=pick(r, TRIVIA),
        thing=a,
        other=b,
        x=str(r.randint(12, 99)),
        y=str(r.randint(3, 19)),
        country=pick(r, pools.COUNTRIES),
        language=pick(r, pools.LANGUAGES)[0],
    )


# One pseudo-function: its families are held out like any function's (test uses "opinion").
IRRELEVANT = FunctionPhrases(
    "none",
    _irrelevant,
    steps=("{step}",),  # replaced by data.IRRELEVANT_STEP
    families=(
        fam(
            "create",
            "vp",
            "write me a poem about {topic}",
            "tell me a short story about {topic}",
            "compose a haiku about {topic}",
            "write a limerick about {thing}",
            "make up a song about {topic}",
        ),
        fam(
            "explain",
            "vp",
            "explain {concept}",
            "explain {concept} like I'm five",
            "teach me about {concept}",
            "summarize the plot of Hamlet",
            "give me a fun fact about {country}",
            "tell me a joke about {thing}",
        ),
        fam(
            "trivia",
            "q",
            "{trivia}",
            "what's the capital of {country}",
            "what's {x} times {y}",
            "what's the meaning of life",
            "how do you say thank you in {language}",
            "is a tomato a fruit",
        ),
        fam(
            "chat",
            "s",
            "I'm bored",
            "I feel a bit lonely today",
            "I had a weird dream about {topic}",
            "I've been thinking a lot about {topic}",
            "I just can't decide what to have for dinner",
            "I'm so tired of {thing}",
        ),
        fam(
            "opinion",
            "q",
            "do you like {thing}",
            "what's your favorite color",
            "do you prefer {thing} or {other}",
            "are you conscious",
            "which is better, {thing} or {other}",
            "what would you do with a million dollars",
        ),
    ),
    holdout="opinion",
)
