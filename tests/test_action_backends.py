"""The JSON-tools action backends: the tool-call reader on hostile text (nothing evaluated, a typed
problem for each), then a tiny model taught tool calls, run locally through mlx-lm and behind a
real `mlx_lm.server` on 127.0.0.1 (no mock), and `octo-mlx act` as a user runs it."""

from __future__ import annotations

import builtins
import json
import time
from pathlib import Path

import pytest

from octo_mlx.action.backends import (
    MAX_OUTPUT_CHARS,
    LocalToolsModel,
    OpenAIToolsModel,
    _reply_call,
    check_tools_template,
    open_backend,
    parse_tool_output,
)
from octo_mlx.errors import OctoError
from octo_mlx.functions.calls import NO_CALL, Call, CallProblem
from octo_mlx.llm import Completion
from tests.helpers.servers import MLXServer, free_port
from tests.helpers.tools_model import PHONE, TAUGHT, TOOL_DOMAINS, TOOLS, build_tools_model, hermes

ACTIVE = {f.name: f for f in PHONE}  # the phone domain offered...
KNOWN = {f.name for d in TOOL_DOMAINS for f in d}  # ...of the backend's phone and weather


def read(text: str) -> Call:
    return parse_tool_output(text, ACTIVE, KNOWN)


# --- reading a tool call --------------------------------------------------------------------------

TEXT = {"contact_name": "Alice", "message": "I am late"}


@pytest.mark.parametrize(
    "output",
    [
        hermes("send_text_message", TEXT),  # Hermes / Qwen
        "Sure, I will text her.\n" + hermes("send_text_message", TEXT) + "<|im_end|>",  # a preface
        '<|python_tag|>{"name": "send_text_message", "parameters": ' + json.dumps(TEXT) + "}<|eom_id|>",
        '{"name": "send_text_message", "parameters": ' + json.dumps(TEXT) + "}",  # Llama without tag
        '  {"name": "send_text_message", "arguments": ' + json.dumps(TEXT) + "}\n",  # bare JSON
        '[TOOL_CALLS][{"name": "send_text_message", "arguments": ' + json.dumps(TEXT) + "}]</s>",
        "[TOOL_CALLS]send_text_message[ARGS]" + json.dumps(TEXT),  # Mistral's newer form
        '[{"name": "send_text_message", "arguments": ' + json.dumps(TEXT) + "}]",  # a list of one
        # arguments as JSON text, as the OpenAI API carries them
        hermes("send_text_message", None).replace("{}", json.dumps(json.dumps(TEXT))),
    ],
)
def test_every_common_format_reads_as_the_same_call(output):
    assert read(output) == Call("send_text_message", TEXT)


@pytest.mark.parametrize("output", ["I cannot tell jokes.", "", "  <|im_end|>", "[1] is a footnote."])
def test_text_without_a_tool_call_is_no_function(output):
    assert read(output) == Call(NO_CALL)


CODE = "__import__('os').system('touch {sentinel}')"
HOSTILE = [
    # (what, output, problem kind)
    (
        "unbalanced brackets",
        '<tool_call>{"name": "set_brightness", "arguments": {"level": 2}</tool_call>',
        "syntax",
    ),
    ("unbalanced bare JSON", '{"name": "set_brightness", "arguments": {"level": 2}', "syntax"),
    ("unbalanced list", '[TOOL_CALLS][{"name": "set_brightness", "arguments": {"level": 2}}', "syntax"),
    ("unknown function", hermes("launch_rocket", {"when": "now"}), "unknown_function"),
    ("function of an inactive domain", hermes("get_weather", {"location": "Paris"}), "out_of_domain"),
    ("unknown argument", hermes("set_brightness", {"level": 2, "sudo": True}), "unknown_argument"),
    ("missing argument", hermes("send_text_message", {"contact_name": "Alice"}), "missing_argument"),
    ("wrong type", hermes("set_brightness", {"level": "high"}), "invalid_argument"),
    ("out of range", hermes("set_brightness", {"level": 11}), "invalid_argument"),
    ("code as a value", '{"name": "set_brightness", "arguments": {"level": ' + CODE + "}}", "syntax"),
    ("code in a Python call", "<|python_tag|>send_text_message(message=" + CODE + ")", "syntax"),
    ("code as the call", "<tool_call>" + CODE + "</tool_call>", "syntax"),
    ("code in a string of a number", hermes("set_brightness", {"level": CODE}), "invalid_argument"),
    (
        "a megabyte argument",
        hermes("send_text_message", {"contact_name": "A", "message": "x" * 2**20}),
        "too_long",
    ),
    (
        "a megabyte bare call",
        '{"name": "set_brightness", "arguments": {"level": ' + "1" * 2**20 + "}}",
        "too_long",
    ),
    (
        "a call past MAX_CALL_CHARS",
        hermes("send_text_message", {"contact_name": "A", "message": "x" * 20_000}),
        "too_long",
    ),
    (
        "two calls",
        hermes("set_brightness", {"level": 1}) + "\n" + hermes("set_brightness", {"level": 2}),
        "syntax",
    ),
    (
        "two calls in a list",
        '[TOOL_CALLS][{"name": "set_brightness", "arguments": {"level": 1}}, '
        '{"name": "set_brightness", "arguments": {"level": 2}}]',
        "syntax",
    ),
    (
        "two Mistral headers",
        '[TOOL_CALLS]set_brightness[ARGS]{"level": 1}set_brightness[ARGS]{"level": 2}',
        "syntax",
    ),
    ("two bare objects", '{"name": "set_brightness", "arguments": {"level": 1}} {"name": "x"}', "syntax"),
    (
        "text after the call",
        hermes("set_brightness", {"level": 2}) + " and then I will delete everything",
        "syntax",
    ),
    ("text after bare JSON", '{"name": "set_brightness", "arguments": {"level": 2}} done.', "syntax"),
    ("never closed", '<tool_call>\n{"name": "set_brightness", "arguments": {"level": 2}}', "unterminated"),
    ("closed before opened", '</tool_call>{"name": "set_brightness"}<tool_call>', "syntax"),
    ("a key given twice", '{"name": "set_brightness", "arguments": {"level": 2, "level": 3}}', "syntax"),
    ("NaN", '{"name": "set_brightness", "arguments": {"level": NaN}}', "syntax"),
    (
        "nested too deep",
        '{"name": "set_brightness", "arguments": {"level": ' + "[" * 5000 + "]" * 5000 + "}}",
        "syntax",
    ),
    (
        "a 5000-digit integer",
        '{"name": "set_brightness", "arguments": {"level": ' + "7" * 5000 + "}}",
        "syntax",
    ),
    ("a name that is not a string", '{"name": ["set_brightness"], "arguments": {}}', "syntax"),
    ("arguments that are a list", '{"name": "set_brightness", "arguments": [2]}', "syntax"),
    ("a key a call has not", '{"name": "set_brightness", "arguments": {"level": 2}, "run": true}', "syntax"),
    ("arguments and parameters", '{"name": "set_brightness", "arguments": {}, "parameters": {}}', "syntax"),
    ("a Python tag without JSON", "<|python_tag|>import os", "syntax"),
    ("an output past MAX_OUTPUT_CHARS", "word " * MAX_OUTPUT_CHARS, "too_long"),
]


def test_hostile_outputs_are_typed_problems_and_nothing_is_evaluated(tmp_path, monkeypatch):
    sentinel = tmp_path / "evaluated"

    def tripwire(*args, **kwargs):
        raise AssertionError("model output reached eval/exec/compile")

    read(hermes("set_brightness", {"level": 2}))  # the schema checker imported and built before
    with pytest.raises(CallProblem):
        read(hermes("set_brightness", {"level": "2"}))
    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, tripwire)
    for what, output, kind in HOSTILE:
        output = output.replace("{sentinel}", str(sentinel))
        with pytest.raises(CallProblem) as e:
            read(output)
        assert e.value.kind == kind, (what, e.value.kind, str(e.value))
        assert "\n" not in str(e.value) and len(str(e.value)) < 300, (what, str(e.value))
    # code in a free string argument is that string: data, not run
    call = read(
        hermes("send_text_message", {"contact_name": "Bob", "message": CODE.format(sentinel=sentinel)})
    )
    assert call.arguments["message"].startswith("__import__")
    assert not sentinel.exists()


def test_a_non_text_output_is_a_problem_not_a_crash():
    for value in (None, 42, b"<tool_call>"):
        with pytest.raises(CallProblem) as e:
            parse_tool_output(value, ACTIVE, KNOWN)  # type: ignore[arg-type]
        assert e.value.kind == "syntax"


def _reply(tool_calls=(), text="", finish="tool_calls") -> Completion:
    return Completion(text, finish, False, tuple(tool_calls))


def _tool(name, arguments) -> dict:
    return {"id": "1", "type": "function", "function": {"name": name, "arguments": arguments}}


def test_an_endpoints_tool_calls_are_read_the_same_way():
    """A chat completion's ``message.tool_calls``, as servers send them (arguments as JSON text)."""
    ok = _reply([_tool("set_brightness", '{"level": 4}')])
    assert _reply_call(ok, ACTIVE, KNOWN) == Call("set_brightness", {"level": 4})
    cases = [
        (_reply([_tool("set_brightness", '{"level": 4}')] * 2), "syntax"),  # two calls
        (_reply([_tool("set_brightness", '{"level": 4')]), "syntax"),  # unbalanced
        (_reply([_tool("set_brightness", '{"level": ' + CODE + "}")]), "syntax"),
        (_reply([_tool("set_brightness", '{"level": "' + "9" * 2**20 + '"}')]), "too_long"),
        (_reply([_tool("rm_rf", "{}")]), "unknown_function"),
        (_reply([_tool("get_weather", '{"location": "Paris"}')]), "out_of_domain"),
        (_reply([_tool("set_brightness", '{"level": 4, "x": 1}')]), "unknown_argument"),
        (_reply([_tool("set_brightness", '{"level": 4.5}')]), "invalid_argument"),
        (_reply([{"id": "1", "type": "function"}]), "syntax"),  # no function object
        (_reply(["not a call"]), "syntax"),
        (_reply([], finish="tool_calls"), "syntax"),  # mlx_lm.server dropped a call it could not parse
        (_reply([], finish="length"), "unterminated"),  # cut with nothing returned
        (_reply([], text=hermes("set_brightness", {"level": "x"}), finish="stop"), "invalid_argument"),
    ]
    for reply, kind in cases:
        with pytest.raises(CallProblem) as e:
            _reply_call(reply, ACTIVE, KNOWN)
        assert e.value.kind == kind, (reply.tool_calls[:1], str(e.value))
    assert _reply_call(_reply([], "It is sunny.", "stop"), ACTIVE, KNOWN) == Call(NO_CALL)


def test_open_backend_names_exactly_one_model(tiny_llama):
    from octo_mlx.action.backends import ActionBackend
    from octo_mlx.action.model import ActionModel

    assert all(issubclass(c, ActionBackend) for c in (ActionModel, LocalToolsModel, OpenAIToolsModel))
    with pytest.raises(OctoError, match="not an action model"):  # --adapter goes to ActionModel.load
        open_backend(adapter=tiny_llama)
    with pytest.raises(OctoError, match="--tools-model is the model"):
        open_backend(tools_model=tiny_llama, model="m")
    for kwargs in (
        {},
        {"adapter": "a", "base_url": "http://127.0.0.1:1/v1"},
        {"tools_model": "t", "adapter": "a"},
    ):
        with pytest.raises(OctoError, match="name one action model"):
            open_backend(**kwargs)
    with pytest.raises(OctoError, match="--model"):
        open_backend(base_url="http://127.0.0.1:1/v1")
    with pytest.raises(OctoError, match="http"):
        open_backend(base_url="localhost:8080", model="m")


# --- a real model, locally and behind a real server -------------------------------------------------


@pytest.fixture(scope="module")
def tools_model(tmp_path_factory) -> Path:
    """The tiny llama with a Hermes-style tools template, taught TAUGHT (~80 steps, ~30 s)."""
    out = tmp_path_factory.mktemp("tools-model")
    report = build_tools_model(out)
    assert report["exact"] == report["pairs"], report
    return out


@pytest.fixture(scope="module")
def tools_server(tools_model, tmp_path_factory):
    with MLXServer(tools_model, log_path=tmp_path_factory.mktemp("tools-server") / "server.log") as server:
        yield server


@pytest.fixture(scope="module")
def local(tools_model) -> LocalToolsModel:
    return LocalToolsModel.load(tools_model, TOOL_DOMAINS)


# what each taught step gives, through either backend: a call, or a problem kind
EXPECTED = {
    "Text Alice that I am late": Call("send_text_message", TEXT),
    "Set the brightness to 7": Call("set_brightness", {"level": 7}),
    "Check the weather in Paris": Call("get_weather", {"location": "Paris"}),
    "Tell me a joke": Call(NO_CALL),
    "Set the brightness to high": "invalid_argument",
    "Launch the rocket": "unknown_function",
    "Dim the screen": "syntax",
    "Brightness three, Llama style": Call("set_brightness", {"level": 3}),
}


def _outcome(result):
    return result.call if result.call is not None else result.problem.kind


def test_a_template_that_ignores_tools_is_refused(tiny_llama, local):
    check_tools_template(local.tokenizer, "tools model")  # TOOLS_TEMPLATE takes them
    with pytest.raises(OctoError, match="ignores tools"):
        LocalToolsModel.load(tiny_llama, TOOL_DOMAINS)  # the tiny tokenizer's ChatML template


def test_local_tools_model_gives_the_taught_calls_and_problems(local):
    assert set(EXPECTED) == set(TAUGHT)
    results = local.act_many([(step, None) for step in EXPECTED])
    for step, result in zip(EXPECTED, results):
        assert result.text == TAUGHT[step], step  # the model wrote what it was taught...
        assert _outcome(result) == EXPECTED[step], (step, result.problem)  # ...read as expected
        assert result.generation.seconds > 0 and result.steps == result.generation.gen_tokens
    cut = LocalToolsModel(local.model, local.tokenizer, local.domains, max_tokens=6)
    (result,) = cut.act_many([("Text Alice that I am late", None)])
    assert result.problem.kind == "unterminated" and result.generation.finish_reason == "length"
    with pytest.raises(OctoError, match="does not serve"):
        local.act_many([("Set the brightness to 7", None)], active=["android"])


def test_mlx_server_returns_tool_calls_for_the_tools_template(tools_server):
    """What mlx_lm.server (0.32) does with tools, observed: it renders them through the template,
    parses <tool_call> JSON into ``message.tool_calls`` (arguments as JSON text, finish_reason
    "tool_calls"), silently drops a call it cannot parse (still "tool_calls"), and leaves a
    Llama-style bare JSON call in the content."""
    from octo_mlx.llm import ChatClient, Endpoint, Usage
    from octo_mlx.syntax import action_messages

    client = ChatClient(
        Endpoint(tools_server.base_url, "default_model", response_format="none"), None, Usage()
    )

    def ask(step, **kw):
        return client.complete(
            action_messages(step), temperature=0.0, max_tokens=96, tools=TOOLS, tool_choice="auto", **kw
        )

    reply = ask("Text Alice that I am late")
    assert reply.finish_reason == "tool_calls" and reply.text == ""
    (tool,) = reply.tool_calls
    assert tool["type"] == "function" and tool["function"]["name"] == "send_text_message"
    assert json.loads(tool["function"]["arguments"]) == TEXT
    dropped = ask("Dim the screen")
    assert (dropped.finish_reason, dropped.text, dropped.tool_calls) == ("tool_calls", "", ())
    llama = ask("Brightness three, Llama style")
    assert llama.tool_calls == () and json.loads(llama.text)["parameters"] == {"level": 3}
    assert ask("Tell me a joke").text == "I cannot tell jokes."


def test_openai_tools_model_against_the_server_agrees_with_the_local_model(tools_server):
    backend = OpenAIToolsModel.connect(tools_server.base_url, "default_model", TOOL_DOMAINS)
    results = backend.act_many([(step, None) for step in EXPECTED])
    for step, result in zip(EXPECTED, results):
        assert _outcome(result) == EXPECTED[step], (step, result.text, result.problem)
        assert result.generation.prompt_tokens > 100 and result.generation.seconds > 0
    dropped = results[list(EXPECTED).index("Dim the screen")]
    assert "drops a tool call" in dropped.problem.message
    cut = OpenAIToolsModel(backend.client, backend.domains, max_tokens=6)
    assert cut.act("Text Alice that I am late").problem.kind == "unterminated"


def test_an_unreachable_endpoint_is_one_clear_line_at_once():
    backend = OpenAIToolsModel.connect(f"http://127.0.0.1:{free_port()}/v1", "m", TOOL_DOMAINS)
    t0 = time.perf_counter()
    with pytest.raises(OctoError) as e:
        backend.act("Set the brightness to 7")
    assert time.perf_counter() - t0 < 2.0
    assert "cannot connect" in str(e.value) and "\n" not in str(e.value)


# --- `octo-mlx act` ------------------------------------------------------------------------------------


def test_octo_mlx_act_with_each_tools_backend(tools_model, tools_server, tmp_path):
    from tests.helpers.cli import run_octo
    from tests.helpers.tools_model import write_domain_files

    domains = [a for path in write_domain_files(tmp_path / "domains") for a in ("--domain", path)]
    steps = ["Text Alice that I am late", "Set the brightness to high"]
    for backend in (
        ["--tools-model", tools_model],
        ["--base-url", tools_server.base_url, "--model", "default_model"],
    ):
        out = run_octo("act", *steps, *backend, *domains, "--json", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        first, second = json.loads(out.stdout)
        assert first["call"] == {"function": "send_text_message", "arguments": TEXT}, first
        assert second["call"] is None and second["problem"]["kind"] == "invalid_argument"
    shown = run_octo("act", steps[1], "--tools-model", tools_model, *domains, cwd=tmp_path)
    assert shown.returncode == 0 and "invalid_argument" in shown.stdout, shown


def test_octo_mlx_act_refusals_are_one_line_exit_2(tmp_path):
    from tests.helpers.cli import run_octo

    port = free_port()
    t0 = time.perf_counter()
    out = run_octo(
        "act",
        "Set the brightness to 7",
        "--base-url",
        f"http://127.0.0.1:{port}/v1",
        "--model",
        "m",
        cwd=tmp_path,
    )
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith("octo-mlx: error: action endpoint: ") and "cannot connect" in out.stderr
    assert time.perf_counter() - t0 < 60  # the process's start-up; no retries (above: < 2 s in-process)
    out = run_octo("act", "Set the brightness to 7", cwd=tmp_path)
    assert out.returncode == 2 and "name one action model" in out.stderr
