"""A tiny chat model with a tools-aware template, taught to answer steps with tool calls.

The tiny test tokenizer's ChatML template ignores ``tools``. ``TOOLS_TEMPLATE`` is a
Hermes / Qwen 2.5-style one: the tools as JSON lines in a system turn, a call answered as
``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>``. It names ``<tool_call>`` and
``tool_call.name``, which is how mlx-lm (0.32) picks its ``json_tools`` parser for
``mlx_lm.server``. ``build_tools_model`` teaches the tiny llama fixed answers to fixed steps with
the tools of ``TOOL_DOMAINS`` in its prompt (tests/helpers/teach.py), so a real model, locally or
behind a real server, writes known tool calls (and known bad ones).
"""

from __future__ import annotations

import json
from pathlib import Path

from octo_mlx.functions.contract import Domain, Function

TOOLS_TEMPLATE = (
    "{%- if tools %}<|im_start|>system\n# Tools\n\nYou may call one function.\n<tools>"
    "{%- for tool in tools %}\n{{ tool | tojson }}{%- endfor %}\n</tools>\n"
    'Return a call as <tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n'
    "</tool_call><|im_end|>\n{% endif %}"
    "{%- for message in messages %}"
    "{%- if message.role == 'assistant' and message.tool_calls %}<|im_start|>assistant\n"
    "{%- for tool_call in message.tool_calls %}"
    "{%- set tool_call = tool_call.function if tool_call.function is defined else tool_call %}"
    '<tool_call>\n{"name": "{{ tool_call.name }}", "arguments": {{ tool_call.arguments | tojson }}}'
    "\n</tool_call>{%- endfor %}<|im_end|>\n"
    "{%- else %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n{% endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _object(properties: dict, required: list[str]) -> dict:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


PHONE = Domain(
    "phone",
    "A phone.",
    (
        Function(
            "send_text_message",
            "Send a text message.",
            _object(
                {"contact_name": {"type": "string"}, "message": {"type": "string"}},
                ["contact_name", "message"],
            ),
            "phone",
        ),
        Function(
            "set_brightness",
            "Set the screen brightness.",
            _object({"level": {"type": "integer", "minimum": 0, "maximum": 10}}, ["level"]),
            "phone",
        ),
    ),
)
WEATHER = Domain(
    "weather",
    "The weather.",
    (
        Function(
            "get_weather",
            "Get the forecast.",
            _object({"location": {"type": "string"}}, ["location"]),
            "weather",
        ),
    ),
)
TOOL_DOMAINS = [PHONE, WEATHER]
TOOLS = [f.to_tool() for d in TOOL_DOMAINS for f in d]


def hermes(name: str, arguments: dict | None = None, key: str = "arguments") -> str:
    """A call as TOOLS_TEMPLATE writes it."""
    return f"<tool_call>\n{json.dumps({'name': name, key: arguments or {}})}\n</tool_call>"


# step -> the answer the tiny model is taught (the calls, and the bad ones a real model may write)
TAUGHT: dict[str, str] = {
    "Text Alice that I am late": hermes(
        "send_text_message", {"contact_name": "Alice", "message": "I am late"}
    ),
    "Set the brightness to 7": hermes("set_brightness", {"level": 7}),
    "Check the weather in Paris": hermes("get_weather", {"location": "Paris"}),
    "Tell me a joke": "I cannot tell jokes.",
    "Set the brightness to high": hermes("set_brightness", {"level": "high"}),  # wrong type
    "Launch the rocket": hermes("launch_rocket", {"when": "now"}),  # no such function
    # unbalanced: one brace short
    "Dim the screen": '<tool_call>\n{"name": "set_brightness", "arguments": {"level": 2}\n</tool_call>',
    "Brightness three, Llama style": json.dumps({"name": "set_brightness", "parameters": {"level": 3}}),
}


def write_domain_files(folder: Path) -> list[Path]:
    """TOOL_DOMAINS as tool files (``--domain FILE``), in the OpenAI tools format."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for d in TOOL_DOMAINS:
        path = folder / f"{d.name}.json"
        path.write_text(json.dumps({"name": d.name, "description": d.description, "tools": d.to_tools()}))
        paths.append(path)
    return paths


def use_template(folder: Path, template: str = TOOLS_TEMPLATE) -> Path:
    """Give the tokenizer in ``folder`` the chat template ``template`` (in place)."""
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["chat_template"] = template
    config_path.write_text(json.dumps(config, indent=2))
    return folder


def build_tools_model(out: Path, max_steps: int = 400, seed: int = 0) -> dict:
    """A tiny llama with TOOLS_TEMPLATE taught TAUGHT (TOOLS in every prompt) until greedy
    decoding gives every answer back; returns ``{"steps", "loss", "exact", "pairs"}``.

    As servers.build_scripted_model: the tokenizer is trained on the rendered prompts and the
    answers (a prompt with its tools is ~4x shorter than with the generic tiny tokenizer), and
    the loss covers the answer tokens only.
    """
    from mlx_lm.utils import load_tokenizer, save_config, save_model

    from tests.helpers.servers import _teach_until_exact
    from tests.helpers.tiny import build_tokenizer, random_model

    out = Path(out)
    chats = [[{"role": "user", "content": step}] for step in TAUGHT]
    build_tokenizer(out, 512)  # a first tokenizer, only to render the prompts as text
    tok = load_tokenizer(use_template(out))
    texts = [
        tok.apply_chat_template(c, tools=TOOLS, add_generation_prompt=True, tokenize=False) for c in chats
    ]
    build_tokenizer(out, 1024, corpus=texts + list(TAUGHT.values()), max_length=4096)
    tok = load_tokenizer(use_template(out))
    vocab = json.loads((out / "tokenizer.json").read_text())["model"]["vocab"]
    model, config = random_model("llama", vocab, 64, 2, seed, max_position_embeddings=4096)
    prompts = [tok.apply_chat_template(c, tools=TOOLS, add_generation_prompt=True) for c in chats]
    replies = [tok.encode(a, add_special_tokens=False) + [config["eos_token_id"]] for a in TAUGHT.values()]
    steps, loss, exact = _teach_until_exact(model, tok, prompts, replies, max_steps)
    save_model(out, model)
    save_config(dict(config), out / "config.json")
    return {
        "steps": steps,
        "loss": loss,
        "exact": exact,
        "pairs": len(TAUGHT),
        "prompt_tokens": len(prompts[0]),
    }
