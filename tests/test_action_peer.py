"""benchmarks/action_peer.py (#12): our action adapter against the same base prompted with the
functions' JSON in context. The peer's system turn is the Qwen template's tools block word for
word; a tiny llama taught answers to that exact prompt is the peer, so its scores are known
(a right call, a wrong value, a wrong type, "no function", a dependent step); then both sides
run through the command, our side an action adapter trained on that same tiny model."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from octo_mlx.action.backends import LocalToolsModel, hermes_tools_prompt
from octo_mlx.domains.catalog import load_domains
from octo_mlx.errors import OctoError
from octo_mlx.syntax import action_messages
from tests.helpers.datasets import tiny_overrides
from tests.helpers.tools_model import hermes, use_template

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "action_peer.py"
ANDROID = load_domains(["android"])
TOOLS = [f.to_tool() for f in ANDROID[0]]


def _load_script():
    spec = importlib.util.spec_from_file_location("action_peer", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


peer_bench = _load_script()

# The tools block of the Qwen 3 chat template (the Qwen 2.5 one after its default system line),
# verbatim, then plain ChatML: what a tools-aware Qwen model is given.
QWEN_TOOLS_TEMPLATE = (
    "{%- if tools %}{{- '<|im_start|>system\\n' }}"
    '{{- "# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\n'
    'You are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}'
    '{%- for tool in tools %}{{- "\\n" }}{{- tool | tojson }}{%- endfor %}'
    '{{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and '
    'arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": '
    '<function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}{%- endif %}'
    "{%- for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content']"
    " + '<|im_end|>\\n' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}"
)


def _step(i, step, call, observation=None, template="x/step1"):
    return {
        "id": f"peer-{i}",
        "step": step,
        "observation": observation,
        "call": call,
        "domains": ["android"],
        "template": template,
        "dependent": observation is not None,
        "generator": "offline",
    }


SUNRISE = {
    "function": "get_weather_forecast",
    "arguments": {"location": "Oslo"},
    "ok": True,
    "result": {"sunrise": "06:45"},
    "error": None,
}
# (test step, what the tiny model is taught to answer for it in the peer's prompt)
CASES = [
    (  # right: the message differs only in case (text is compared case-normalised)
        _step(
            0,
            "Text Alice that I am late",
            {"function": "send_text_message", "arguments": {"contact_name": "Alice", "message": "I am late"}},
        ),
        hermes("send_text_message", {"contact_name": "Alice", "message": "i am late"}),
    ),
    (  # right function, wrong value: a valid call, not a full call
        _step(
            1, "Set the brightness to 7", {"function": "change_screen_brightness", "arguments": {"level": 7}}
        ),
        hermes("change_screen_brightness", {"level": 5}),
    ),
    (  # right function, wrong type: invalid, its function still named
        _step(
            2,
            "Set the brightness to max",
            {"function": "change_screen_brightness", "arguments": {"level": 10}},
        ),
        hermes("change_screen_brightness", {"level": "max"}),
    ),
    (  # text: no function, as gold
        _step(3, "Tell me a joke", {"function": "none", "arguments": {}}, template="none/joke"),
        "I cannot tell jokes.",
    ),
    (  # dependent, with its observation in the prompt; "label" left at its default
        _step(
            4,
            "Set an alarm for the sunrise time in the forecast",
            {"function": "set_timer_alarm", "arguments": {"time": "06:45"}},
            SUNRISE,
            "set_timer_alarm/after1",
        ),
        hermes("set_timer_alarm", {"time": "06:45", "label": "alarm"}),
    ),
]


def write_split(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "test.jsonl"
    path.write_text("".join(json.dumps(step) + "\n" for step, _ in CASES))
    return path


def test_the_hermes_system_turn_is_the_qwen_templates_tools_block(tiny_llama, tmp_path):
    """The peer's prompt through a plain ChatML template is token for token what the Qwen
    template renders from ``tools``; the template mode refuses a template that drops tools."""
    import shutil

    from mlx_lm.utils import load_tokenizer

    from octo_mlx.generation import encode_prompt

    chatml = load_tokenizer(tiny_llama)
    folder = shutil.copytree(tiny_llama, tmp_path / "qwen-like")
    qwen = load_tokenizer(use_template(folder, QWEN_TOOLS_TEMPLATE))
    turn = action_messages("Take a photo")
    ours = encode_prompt(chatml, [{"role": "system", "content": hermes_tools_prompt(TOOLS)}, *turn])
    assert ours == encode_prompt(qwen, turn, TOOLS)
    assert "<tools>\n" + json.dumps(TOOLS[0]) + "\n" in hermes_tools_prompt(TOOLS)
    with pytest.raises(OctoError, match="unknown tools prompt"):
        LocalToolsModel(None, None, ANDROID, tools_prompt="qwen")
    with pytest.raises(OctoError, match="ignores tools"):
        LocalToolsModel.load(tiny_llama, ANDROID)
    loaded = LocalToolsModel.load(tiny_llama, ANDROID, tools_prompt="hermes")  # any template then
    assert loaded.tools_prompt == "hermes"


@pytest.fixture(scope="module")
def taught(tmp_path_factory) -> Path:
    """A tiny llama taught CASES' answers to the peer's own prompts (the android tools JSON in
    the Hermes system turn). Its tokenizer holds that system text as ~20 added tokens, so a
    prompt is ~60 tokens, not ~2,800 (seconds to teach), and the taught answers come back only
    when the peer's system turn is that text exactly."""
    from mlx_lm.utils import load_tokenizer, save_config, save_model
    from tokenizers import AddedToken, Tokenizer

    from tests.helpers.servers import _teach_until_exact
    from tests.helpers.tiny import build_tokenizer, random_model

    out = tmp_path_factory.mktemp("taught-peer")
    steps = [(s["step"], s["observation"]) for s, _ in CASES]
    answers = [a for _, a in CASES]
    build_tokenizer(out, 1024, corpus=[action_messages(*s)[0]["content"] for s in steps] + answers)
    block, text = Tokenizer.from_file(str(out / "tokenizer.json")), hermes_tools_prompt(TOOLS)
    # pieces of 500 characters: llguidance (our side's grammar) takes tokens of < 1 KB only
    pieces = [text[i : i + 500] for i in range(0, len(text), 500)]
    block.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in pieces])
    block.save(str(out / "tokenizer.json"))
    tok = load_tokenizer(out)
    model, config = random_model("llama", block.get_vocab(with_added_tokens=True), 64, 2, 0)
    prompts = LocalToolsModel(model, tok, ANDROID, tools_prompt="hermes").prompts(steps, list(ANDROID[0]))
    assert max(map(len, prompts)) < 200, [len(p) for p in prompts]  # the block: ~20 tokens
    replies = [tok.encode(a, add_special_tokens=False) + [config["eos_token_id"]] for a in answers]
    _, _, exact = _teach_until_exact(model, tok, prompts, replies, 600)
    assert exact == len(CASES), exact
    save_model(out, model)
    save_config(dict(config), out / "config.json")
    return out


PEER = {  # the peer's known scores on CASES
    "function_accuracy": (5, 5),
    "call_accuracy": (3, 5),
    "validity": (4, 5),
    "none_precision": (1, 1),
    "none_recall": (1, 1),
}


def check_peer(summary: dict) -> None:
    overall = summary["overall"]
    assert {k: (overall[k]["k"], overall[k]["n"]) for k in PEER} == PEER
    assert overall["problems"] == {"invalid_argument": 1}
    assert summary["by_kind"]["dependent"]["call_accuracy"]["k"] == 1
    assert summary["by_function"]["change_screen_brightness"]["call_accuracy"]["k"] == 0
    lo, hi = overall["call_accuracy"]["low"], overall["call_accuracy"]["high"]
    assert 0 < lo < 0.6 < hi < 1  # Wilson, not 0.6 +- nothing


def test_base_only_scores_the_taught_peer_as_the_eval_does(taught, tmp_path):
    data = write_split(tmp_path / "split")
    report = peer_bench.run(
        peer_bench.PeerConfig(
            data=str(data), base_only=True, model=str(taught), max_tokens=64, domains=("android",)
        )
    )
    assert set(report["summary"]) == {"peer"} and report["config"]["tools_prompt"] == "hermes"
    check_peer(report["summary"]["peer"])
    for row, (case, answer) in zip(report["steps"], CASES):
        assert row["id"] == case["id"] and row["ours"] is None
        assert row["peer"]["text"] == answer  # the exact prompt it was taught reached it
    (broken,) = [r for r in report["steps"] if r["id"] == "peer-2"]
    assert broken["peer"]["function"] == "change_screen_brightness" and not broken["peer"]["valid"]
    lat = report["summary"]["peer"]["overall"]["latency"]
    assert 0 < lat["first_token_median_s"] <= lat["call_median_s"] <= lat["call_p90_s"]
    text = peer_bench.section(report, "cmd")
    assert text.startswith("<!-- action-peer:start -->") and text.rstrip().endswith(
        "<!-- action-peer:end -->"
    )
    assert "3/5 = 60.0% [" in text and "base + tools JSON in context" in text
    assert '| "no function": precision | 1/1 = 100.0% [' in text
    with pytest.raises(OctoError, match="--adapter DIR, or run the peer alone"):
        peer_bench.PeerConfig(data=str(data))


@pytest.fixture(scope="module")
def adapter(taught, action_data, tmp_path_factory) -> Path:
    """An action adapter trained for two steps on the taught model (its extended base)."""
    from octo_mlx.train.loop import train
    from octo_mlx.train.recipe import load_recipe

    out = tmp_path_factory.mktemp("peer-adapter") / "run"
    extra = ("model.new_tokens=[]", "lora.rank=2", "lora.alpha=4", "train.max_steps=2")
    return train(load_recipe(None, tiny_overrides(taught, action_data, out, *extra))).last_dir


def test_both_sides_interleaved_through_the_command(taught, adapter, tmp_path, monkeypatch):
    """Our side decodes under the grammar on the extended base; the peer is the model that base
    was built from (the taught one: its known answers come back), in the same run."""
    # a cache of its own: an extended base cached by another run (its marker naming that run's
    # copy of the same weights) made the peer resolve to that copy
    monkeypatch.setenv("OCTO_MLX_HOME", str(tmp_path / "home"))
    data = write_split(tmp_path / "split")
    out, md = tmp_path / "r.json", tmp_path / "B.md"
    md.write_text("# Benchmarks\n\nkept by people\n")
    args = ["--adapter", adapter, "--data", data, "--max-tokens", "96", "--out", out, "--markdown", md]
    res = subprocess.run(
        [sys.executable, SCRIPT, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stderr
    report = json.loads(out.read_text())
    assert Path(report["config"]["peer_model_path"]).resolve() == taught.resolve()
    extended = Path(report["config"]["ours_model_path"])
    assert extended.resolve() != taught.resolve()  # our side: the extended base
    # the extended base (cached by its weights: its marker may name a folder of an older run)
    # leads back to the taught model too
    assert peer_bench.original_base(adapter, extended).resolve() == taught.resolve()
    ours, peer = report["summary"]["ours"], report["summary"]["peer"]
    check_peer(peer)
    assert ours["overall"]["n"] == 5 and ours["overall"]["validity"]["k"] == 5  # the grammar
    assert ours["prompt_tokens_median"] < peer["prompt_tokens_median"]  # the system turn (~20 tokens)
    assert [r["order"] for r in report["steps"][:2]] == [["ours", "peer"], ["peer", "ours"]]
    assert report["fingerprints"]["adapter"]["files"] and report["fingerprints"]["peer_model"]["files"]
    text = md.read_text()
    assert (
        text.startswith("# Benchmarks\n\nkept by people\n") and text.count("<!-- action-peer:start -->") == 1
    )
    written = text[text.index("<!-- action-peer:start -->") :]
    assert "action adapter, constrained" in written and "--adapter" in written and written in res.stdout
    assert peer_bench.main(["--render", str(out), "--markdown", str(md)]) == 0
    assert md.read_text() == text  # the same section again, in place, with the run's own command
    res = subprocess.run(
        [sys.executable, SCRIPT, "--base-only", "--data", str(data), "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2 and "--out" in res.stderr and res.stderr.count("\n") == 1, res.stderr


def test_the_peer_is_given_the_same_dates_as_an_adapter_trained_on_them(tiny_llama):
    """With ``today`` the peer's user turn carries the ISO dates our action model's does; without,
    the step as written."""
    peer = LocalToolsModel.load(tiny_llama, ANDROID, tools_prompt="hermes")
    step = [("Set an alarm for 07:30 next Friday", None)]
    assert "(2025-06-13)" not in peer.tokenizer.decode(peer.prompts(step, list(ANDROID[0])[:1])[0])
    peer.today = "2025-06-02"
    assert "next Friday (2025-06-13)" in peer.tokenizer.decode(peer.prompts(step, list(ANDROID[0])[:1])[0])
