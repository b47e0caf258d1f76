"""Small planner datasets and recipes for the tests (written with the real data API)."""

from __future__ import annotations

import json
from pathlib import Path

from octo_mlx.data import PlanExample, write_split
from tests.helpers.teach import PLANS, STEP_PHRASES, plan_record

QUERIES = [
    (
        "Find articles about Jensen Huang in English and email me the first",
        ["Find articles about Jensen Huang in English", "Email the first article found to myself"],
    ),
    ("Check the weather in Paris tomorrow", ["Get the weather forecast for Paris"]),
    (
        "Send a text message to Alice saying I will be late",
        ["Send a text message to Alice saying I will be late"],
    ),
    (
        "Set an alarm for 07:30 called wake up and then set the alarm volume to 5",
        ["Set an alarm for 07:30 called wake up", "Set the alarm volume to 5"],
    ),
    (
        "Create a contact named Bob with phone +14155550123",
        ["Create a contact named Bob with phone +14155550123"],
    ),
    ("Search YouTube for jazz piano lessons", ["Search YouTube for jazz piano lessons"]),
    (
        "Find a route from home to the office by bicycle and text it to Bob",
        ["Find a bicycle route from home to the office", "Send the route to Bob by text message"],
    ),
    (
        "Create a calendar event called standup from 09:00 to 09:15",
        ["Create a calendar event called standup from 09:00 to 09:15"],
    ),
]


def planner_examples(n: int, offset: int = 0) -> list[PlanExample]:
    out = []
    for i in range(n):
        q, steps = QUERIES[(i + offset) % len(QUERIES)]
        lap = (i + offset) // len(QUERIES)
        if lap:  # a split never holds one query twice (the loaders refuse it)
            q = f"{q}, request {lap + 1}"
        out.append(
            PlanExample(
                id=f"ex{i + offset}",
                query=q,
                steps=tuple(steps),
                functions=tuple("send_email" for _ in steps),
                domains=("android",),
                generator="offline",
            )
        )
    return out


def write_planner_data(folder: Path, n_train: int = 8, n_valid: int = 4) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_split(folder / "train.jsonl", planner_examples(n_train))
    write_split(folder / "valid.jsonl", planner_examples(n_valid, offset=3))
    return folder


def tiny_overrides(model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    """Overrides that make any recipe a seconds-long run on a tiny model."""
    return [
        f"model.path={model}",
        f"data.path={data}",
        f"output.dir={out}",
        "train.learning_rate=1e-2",
        "lora.rank=4",
        "lora.alpha=8",
        *extra,
    ]


# --- an evaluation dataset: the taught planner's plans, plus queries it was never taught ---------

UNTAUGHT = [
    (
        "Get the latest news on electric cars please",
        [("Get the latest news on electric cars", "get_trending_news")],
    ),
    ("Call Dave and then email Bob", [("Call Dave", "make_phone_call"), ("Email Bob", "send_email")]),
]


def make_dataset(folder: Path, shuffle_train_labels: bool = False) -> Path:
    """train.jsonl (one example per step phrase, plus the taught plans) and test.jsonl (the taught
    plans and UNTAUGHT) with an android manifest; ``shuffle_train_labels`` names the wrong function."""
    folder.mkdir(parents=True, exist_ok=True)
    train = [
        plan_record(i, f"query {f} {i}", [(s, f)], "train")
        for i, (f, s) in enumerate((f, s) for f, ss in STEP_PHRASES.items() for s in ss)
    ]
    train += [plan_record(100 + i, q, steps, "train") for i, (q, steps) in enumerate(PLANS)]
    if shuffle_train_labels:  # still valid data, but every step now names the wrong function
        names = [f for f in STEP_PHRASES if f != "none"]
        for r in train:
            if r["functions"] != ["none"]:
                r["functions"] = [names[(names.index(f) + 1) % len(names)] for f in r["functions"]]
    test = [plan_record(i, q, steps) for i, (q, steps) in enumerate(PLANS + UNTAUGHT)]
    for name, records in (("train", train), ("test", test)):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "dataset.json").write_text(
        json.dumps(
            {
                "generator": "offline",
                "seed": 0,
                "domains": ["android"],
                "counts": {"train": len(train), "test": len(test)},
            }
        )
    )
    return folder
