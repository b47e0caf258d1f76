"""Teach a tiny random model to answer given prompts: a few hundred full fine-tuning steps.

Used where a test needs a real model whose output is known to be meaningful (a planner that
emits `<nexa_split>` plans and its end marker, a judge that answers JSON) without the real
default model: 2 layers x 64 hidden learn a handful of chat completions in seconds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import mlx_lm
from mlx_lm.utils import save_model


def teach(base: Path, out: Path, pairs: list[tuple[str, str]], steps: int = 300, lr: float = 3e-3) -> Path:
    """Copy the model at ``base`` to ``out`` and fine-tune it on (user prompt, answer) chats.

    The loss covers the answer and its end marker only (the chat template's assistant turn).
    """
    out = Path(out)
    shutil.copytree(base, out, dirs_exist_ok=True)
    model, tok = mlx_lm.load(str(out))
    seqs = []
    for prompt, answer in pairs:
        msgs = [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
        full = tok.apply_chat_template(msgs, return_dict=False)
        offset = len(tok.apply_chat_template(msgs[:1], add_generation_prompt=True, return_dict=False))
        seqs.append((list(full), offset))
    width = max(len(s) for s, _ in seqs)
    ids = mx.array([s + [0] * (width - len(s)) for s, _ in seqs])
    mask = mx.array([[offset - 1 <= i < len(s) - 1 for i in range(width - 1)] for s, offset in seqs])
    mask = mask.astype(mx.float32)

    def loss_fn(m):
        logits = m(ids[:, :-1])
        ce = nn.losses.cross_entropy(logits, ids[:, 1:])
        return (ce * mask).sum() / mask.sum()

    opt = optim.Adam(learning_rate=lr)
    step = nn.value_and_grad(model, loss_fn)
    for _ in range(steps):
        loss, grads = step(model)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
    save_model(out, model)
    return out


# A small hand-written phrasebook over the bundled android domain: step phrasings per function
# (irrelevant queries get the `none` class). Used to build tiny datasets in the tests.
STEP_PHRASES: dict[str, list[str]] = {
    "get_trending_news": [
        "Find articles about Jensen Huang in English",
        "Get the latest news on electric cars",
        "Look up trending news about the Olympics",
        "Search recent news stories about NVIDIA",
        "Fetch today's headlines about climate policy",
        "Get trending news about SpaceX in French",
    ],
    "get_weather_forecast": [
        "Get the weather forecast for Paris",
        "Check the weather in Tokyo tomorrow",
        "Look up the forecast for London this weekend",
        "Find out if it will rain in Berlin",
        "Check the temperature forecast for Rome",
        "Get the weather for my current city",
    ],
    "send_email": [
        "Email the first article to myself",
        "Send an email to Bob with the subject meeting notes",
        "Email the forecast to alice@example.com",
        "Send an email to my boss saying I am sick",
        "Write an email to the team with the agenda",
        "Email the route to Carol",
    ],
    "send_text_message": [
        "Send a text message to Alice saying I am late",
        "Text Bob that dinner is ready",
        "Send an SMS to Mom saying I landed",
        "Message Dave that the meeting moved",
        "Text Carol the address of the restaurant",
        "Send a text to Eve saying happy birthday",
    ],
    "set_timer_alarm": [
        "Set an alarm at 07:30 labelled wake up",
        "Set a timer alarm for 06:45 called gym",
        "Create an alarm at 22:00 named take pills",
        "Set an alarm for 08:15 labelled standup",
        "Wake me up at 05:30 with an alarm",
        "Set an alarm at 13:00 called lunch",
    ],
    "make_phone_call": [
        "Call Bob",
        "Make a phone call to +14155550123",
        "Phone my mother",
        "Call the number +442071234567",
        "Place a call to Alice",
        "Ring Dave on his mobile",
    ],
    "none": [
        "Answer directly without calling a function",
        "Reply that no function can do this",
        "Respond without using any tool",
        "Answer the question without a function call",
        "Tell the user this needs no function",
        "Reply directly with no function call",
    ],
}

# (query, [(step, function), ...]): what the taught planner learns; its plans are gold.
PLANS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Find news about Jensen Huang and email it to me",
        [
            ("Find articles about Jensen Huang in English", "get_trending_news"),
            ("Email the first article to myself", "send_email"),
        ],
    ),
    ("What is the weather in Paris", [("Get the weather forecast for Paris", "get_weather_forecast")]),
    (
        "Set an alarm for 07:30 called wake up",
        [("Set an alarm at 07:30 labelled wake up", "set_timer_alarm")],
    ),
    (
        "Text Alice that I am late then call Bob",
        [
            ("Send a text message to Alice saying I am late", "send_text_message"),
            ("Call Bob", "make_phone_call"),
        ],
    ),
    ("Tell me a joke", [("Answer directly without calling a function", "none")]),
    (
        "Check the weather in Tokyo tomorrow and text it to Bob",
        [
            ("Check the weather in Tokyo tomorrow", "get_weather_forecast"),
            ("Text Bob the forecast", "send_text_message"),
        ],
    ),
]


def plan_text(steps: list[tuple[str, str]]) -> str:
    return "<nexa_split>".join(s for s, _ in steps)


def plan_record(i: int, query: str, steps: list[tuple[str, str]], split: str = "test") -> dict:
    """One JSONL record of the data contract (domain android)."""
    funcs = [f for _, f in steps]
    return {
        "id": f"{split}-{i}",
        "messages": [{"role": "user", "content": query}, {"role": "assistant", "content": plan_text(steps)}],
        "functions": funcs,
        "domains": [] if funcs == ["none"] else ["android"],
        "n_steps": len(steps),
        "generator": "offline",
    }
