"""Small planner datasets and recipes for the training tests (written with the real data API)."""

from __future__ import annotations

from pathlib import Path

from octo_mlx.data import PlanExample, write_split

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
