"""`octo-mlx serve` (octo_mlx.serve): a real server on 127.0.0.1 over tiny trained adapters,
driven by the real `openai` client (and raw HTTP for what that client will not send). What it
answers is compared with the planner and the action model run directly on the same pool."""

from __future__ import annotations

import http.client
import json
import socket
import time

import openai
import pytest

from octo_mlx.errors import OctoError
from octo_mlx.serve.server import bind, is_loopback, open_server
from octo_mlx.train.loop import train
from octo_mlx.train.recipe import load_recipe
from tests.helpers.datasets import tiny_overrides, write_planner_data

QUERY = "What is up"  # the planner adapter answers it in ~30 tokens and stops at its end marker
LONG = "hello there"  # the bare tiny base decodes it to any max_tokens (no end marker)
STEPS = ["Take a photo with the front camera", "Set an alarm for 07:30", "Turn the volume down to 2"]
ERROR_KEYS = {"message", "type", "param", "code"}


@pytest.fixture(scope="module")
def adapters(tiny_llama, action_data, tmp_path_factory):
    """A planner LoRA (two epochs: it writes text), a DoRA planner (3 steps: other text) and an
    action LoRA (3 steps: valid calls under the grammar)."""
    root = tmp_path_factory.mktemp("serve")
    plans = write_planner_data(root / "plans")
    out = {}
    for name, data, extra in (
        ("planner", plans, ["lora.rank=4", "lora.alpha=8"]),
        ("dora", plans, ["lora.rank=4", "lora.alpha=8", "train.method=dora", "train.max_steps=3"]),
        ("action", action_data, ["model.new_tokens=[]", "lora.rank=2", "lora.alpha=4", "train.max_steps=3"]),
    ):
        out[name] = train(load_recipe(None, tiny_overrides(tiny_llama, data, root / name, *extra))).last_dir
    return out


@pytest.fixture(scope="module")
def server(tiny_llama, adapters):
    records = []
    srv = open_server(tiny_llama, adapters, port=0, on_request=records.append).start()
    srv.records = records
    yield srv
    srv.close()


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=120)


def plan_directly(server, name: str, query: str, max_tokens: int):
    """What the planner gives for ``query`` with adapter ``name`` on the server's own pool, asked
    as the adapter records (24-hour times written in)."""
    from octo_mlx.planner import Planner, clock_for

    pool = server.engine.pool
    clock = name != "base" and clock_for(pool.adapters[name].config)
    with server.engine.lock, pool.using(None if name == "base" else name):
        return Planner(pool.model, pool.tokenizer, max_tokens=max_tokens, clock=clock).plan(query)


def act_directly(server, step: str, observation=None, only=None):
    """What ActionModel.on_pool gives for ``step`` on the server's own pool."""
    from octo_mlx.action.model import ActionModel

    pool = server.engine.pool
    with server.engine.lock, pool.using(None):
        return ActionModel.on_pool(pool, "action").act_many([(step, observation)], only=only)[0]


def chat(client, model: str, content: str, **kw):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": content}], **kw)


def streamed(client, model: str, content: str, **kw):
    """(text joined, finish_reason, usage, tool calls joined) of a streamed completion."""
    chunks = list(chat(client, model, content, stream=True, stream_options={"include_usage": True}, **kw))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    calls = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or []]
    assert len(finish) == 1 and chunks[-1].usage is not None and not chunks[-1].choices
    return text, finish[0], chunks[-1].usage, calls


def post(server, body: bytes | dict, path: str = "/v1/chat/completions") -> tuple[int, dict]:
    """Raw HTTP: (status, JSON body)."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    out = resp.status, json.loads(resp.read())
    conn.close()
    return out


def assert_untouched(server) -> None:
    """The pool is as the server found it: the bare base on, every adapter still resident."""
    pool = server.engine.pool
    assert pool.active is None and set(pool.adapters) == {"planner", "dora", "action"}
    assert not hasattr(pool.model.model.layers[0].self_attn.q_proj, "lora_a")


# --- models and text ----------------------------------------------------------------------------


def test_models_lists_the_resident_adapters_and_the_base(server, client):
    listed = {m.id: m.task for m in client.models.list().data}
    assert listed == {"planner": "plan", "dora": "plan", "action": "action", "base": "base"}
    assert client.models.retrieve("action").id == "action"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


@pytest.mark.parametrize("query", [QUERY, "What is up at 7:30 pm"])  # the second: 24-hour form written in
def test_planner_text_equals_the_planner_run_directly_streamed_or_not(server, client, query):
    from octo_mlx.planner import plan_prompt

    direct = plan_directly(server, "planner", query, 64)
    if query == QUERY:
        assert direct.text and direct.finish_reason == "stop"  # a real answer to compare
    else:  # the prompt the server must build: longer than the request as written
        assert direct.prompt_tokens > len(plan_prompt(server.engine.pool.tokenizer, query))
    r = chat(client, "planner", query, max_tokens=64, temperature=0)
    assert r.choices[0].message.content == direct.text and r.choices[0].finish_reason == direct.finish_reason
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (direct.prompt_tokens, direct.gen_tokens)
    text, finish, usage, _ = streamed(client, "planner", query, max_tokens=64)
    assert (text, finish) == (direct.text, direct.finish_reason)
    assert (usage.prompt_tokens, usage.completion_tokens) == (direct.prompt_tokens, direct.gen_tokens)
    assert_untouched(server)


def test_max_tokens_and_stop_strings_are_honoured(server, client):
    short = plan_directly(server, "planner", QUERY, 5)
    r = chat(client, "planner", QUERY, max_tokens=9, max_completion_tokens=5)  # the newer name wins
    assert r.choices[0].message.content == short.text and r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 5
    full = plan_directly(server, "planner", QUERY, 64).text
    word = full.split()[-1]  # a word that comes after others: the cut is visible
    want = full[: full.index(word)].rstrip()
    assert want and want != full
    r = chat(client, "planner", QUERY, max_tokens=64, stop=[word, "never written"])
    assert (r.choices[0].message.content, r.choices[0].finish_reason) == (want, "stop")
    text, finish, _, _ = streamed(client, "planner", QUERY, max_tokens=64, stop=word)
    assert (text, finish) == (want, "stop")


def test_sampling_repeats_with_its_seed(server, client):
    a, b = (chat(client, "dora", QUERY, max_tokens=24, temperature=1.5, seed=7) for _ in range(2))
    assert a.choices[0].message.content == b.choices[0].message.content
    assert a.usage.completion_tokens > 1


def test_streamed_text_is_held_back_only_while_it_may_change():
    from octo_mlx.generation import _held_back

    assert _held_back("to to", ()) == 0
    assert _held_back("to to  ", ()) == 2  # trailing spaces: the final text is stripped
    assert _held_back("to to<|im", ()) == 4  # maybe the start of <|im_end|>
    assert _held_back("to \ufffd", ()) == 2  # half a UTF-8 character (and the space before it)
    assert _held_back("to to sa", ("say",)) == 3 and _held_back("to to sa", ("sun",)) == 0
    # the space before a possible stop string: the final text is cut there and stripped
    assert _held_back("abc S", ("STOP",)) == 2 and _held_back("abc <|im", ()) == 5


# --- action -------------------------------------------------------------------------------------


def _call_of(tool_calls) -> tuple[str, dict]:
    (call,) = tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    return call.function.name, json.loads(call.function.arguments)


def test_action_tool_calls_equal_the_action_model_on_the_pool(server, client):
    functions = set()
    for step in STEPS:
        direct = act_directly(server, step)
        assert direct.call is not None
        r = chat(client, "action", step)
        choice = r.choices[0]
        assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (
            direct.generation.prompt_tokens,
            direct.generation.gen_tokens,
        )
        text, finish, _, calls = streamed(client, "action", step)
        if direct.call.is_none:
            assert (choice.message.content, choice.finish_reason) == ("none", "stop")
            assert (text, finish, calls) == ("none", "stop", [])
            continue
        functions.add(direct.call.function)
        want = (direct.call.function, direct.call.arguments)
        assert choice.finish_reason == "tool_calls" and choice.message.content is None
        assert _call_of(choice.message.tool_calls) == want
        assert (finish, text) == ("tool_calls", "") and _call_of(calls) == want
    assert functions  # at least one real call was compared
    assert_untouched(server)


def test_a_tool_result_is_the_next_steps_observation(server, client):
    step = STEPS[1]
    result = {"status": "set", "id": 4}
    messages = [
        {"role": "user", "content": STEPS[0]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "take_a_photo", "arguments": '{"camera": "front"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": json.dumps(result)},
        {"role": "user", "content": step},
    ]
    observation = {
        "function": "take_a_photo",
        "arguments": {"camera": "front"},
        "ok": True,
        "result": result,
        "error": None,
    }
    direct = act_directly(server, step, observation)
    alone = act_directly(server, step)
    r = client.chat.completions.create(model="action", messages=messages)
    assert r.usage.prompt_tokens == direct.generation.prompt_tokens > alone.generation.prompt_tokens
    if direct.call.is_none:
        assert r.choices[0].message.content == "none"
    else:
        assert _call_of(r.choices[0].message.tool_calls) == (direct.call.function, direct.call.arguments)


def test_tools_restrict_the_functions_that_may_be_called(server, client):
    from octo_mlx.domains.catalog import load_domains

    android = {f.name: f for f in load_domains(["android"])[0]}
    step = STEPS[0]
    free = act_directly(server, step).call.function
    other = next(n for n in ("take_a_photo", "set_timer_alarm") if n != free)
    direct = act_directly(server, step, only=[other])
    r = chat(
        client,
        "action",
        step,
        tools=[android[other].to_tool(), {"type": "function", "function": {"name": "elsewhere"}}],
    )
    if direct.call.is_none:
        assert r.choices[0].message.content == "none"
    else:
        assert _call_of(r.choices[0].message.tool_calls) == (other, direct.call.arguments)
    with pytest.raises(openai.BadRequestError) as e:
        chat(client, "action", step, tools=[{"type": "function", "function": {"name": "elsewhere"}}])
    assert e.value.body["param"] == "tools"


def test_the_projects_own_tools_backend_reads_the_calls(server):
    """octo-mlx act --base-url (OpenAIToolsModel over octo_mlx.llm.ChatClient) against this server."""
    from octo_mlx.action.backends import OpenAIToolsModel

    backend = OpenAIToolsModel.connect(server.base_url, "action", ["android"])
    for step in STEPS:
        assert backend.act(step).call == act_directly(server, step).call


# --- switching ----------------------------------------------------------------------------------


def test_alternating_requests_get_each_adapters_own_output_without_a_reload(server, client, monkeypatch):
    import mlx_lm

    import octo_mlx.models.loading as loading

    pool = server.engine.pool
    before = dict(pool.model.named_modules())
    want = {name: plan_directly(server, name, QUERY, 24).text for name in ("planner", "dora", "base")}
    assert want["planner"] != want["dora"]  # two adapters with their own answers
    call = act_directly(server, STEPS[0]).call

    def no_reload(*a, **k):
        raise AssertionError("the server loaded a model")

    monkeypatch.setattr(loading, "load_model", no_reload)
    monkeypatch.setattr(mlx_lm, "load", no_reload)
    for name in ["planner", "dora", "action", "planner", "base", "action", "dora", "planner"]:
        if name == "action":
            r = chat(client, "action", STEPS[0])
            got = r.choices[0].message.tool_calls
            assert (_call_of(got) if got else ("none", {})) == (call.function, call.arguments), name
        else:
            assert chat(client, name, QUERY, max_tokens=24).choices[0].message.content == want[name], name
    after = dict(pool.model.named_modules())
    assert after.keys() == before.keys() and all(after[k] is m for k, m in before.items())
    assert_untouched(server)


# --- bad input ----------------------------------------------------------------------------------


def test_an_unknown_model_is_a_404_in_the_openai_error_shape(server, client):
    with pytest.raises(openai.NotFoundError) as e:
        chat(client, "nope", QUERY)
    body = e.value.response.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS
    assert body["error"]["code"] == "model_not_found" and "planner" in body["error"]["message"]
    assert_untouched(server)


@pytest.mark.parametrize(
    "body, param",
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        ({"model": "planner"}, "messages"),
        ({"model": "planner", "messages": []}, "messages"),
        ({"model": "planner", "messages": [{"role": "robot", "content": "hi"}]}, "messages[0]"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
        (
            {"model": "planner", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"},
            "temperature",
        ),
        (
            {"model": "planner", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0},
            "max_tokens",
        ),
        ({"model": "planner", "messages": [{"role": "user", "content": "hi"}], "n": 2}, "n"),
        ({"model": "planner", "messages": [{"role": "user", "content": "hi"}], "tools": [7]}, "tools"),
        ({"model": "action", "messages": [{"role": "system", "content": "no step"}]}, "messages"),
        # a call needs <nexa_none><nexa_end> at least: refused before the stream's 200 goes out
        ({"model": "action", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}, "max_tokens"),
        (b"[" * 100_000 + b"]" * 100_000, None),  # past the JSON parser's depth
    ],
)
def test_a_malformed_request_is_a_400_naming_what_is_wrong(server, body, param):
    status, reply = post(server, body)
    assert status == 400 and set(reply["error"]) == ERROR_KEYS, reply
    assert reply["error"]["param"] == param and reply["error"]["type"] == "invalid_request_error"


def test_a_call_budget_below_the_shortest_call_is_a_400_streamed_or_not(server, client):
    """Refused before a stream's headers: a 400, not a 200 stream that ends in an error event."""
    with pytest.raises(openai.BadRequestError) as plain:
        chat(client, "action", STEPS[0], max_tokens=1)
    with pytest.raises(openai.BadRequestError) as streamed:
        list(chat(client, "action", STEPS[0], max_tokens=1, stream=True))
    for e in (plain, streamed):
        assert e.value.body["param"] == "max_tokens", e.value.body
    assert_untouched(server)


def test_json_nested_past_the_parsers_depth_is_bad_json_not_a_crash():
    """json.loads raises RecursionError, not ValueError, on deep nesting: a body is still the 400
    of a body that is not JSON (not a dropped connection and a traceback), and a tool result
    nested that deep is read as text."""
    from octo_mlx.serve.protocol import ApiError, action_step, read_request

    with pytest.raises(ApiError) as e:
        read_request(b"[" * 100_000 + b"]" * 100_000)
    assert e.value.status == 400 and e.value.code == "invalid_json"
    nested = "[" * 100_000 + "]" * 100_000
    messages = (
        {"role": "user", "content": "Find articles about Jensen Huang"},
        {"role": "tool", "content": nested, "tool_call_id": "call_1"},
        {"role": "user", "content": "Email the first article found to myself"},
    )
    step, observation = action_step(messages)
    assert step == messages[2]["content"] and observation["result"] == nested
    call = {"id": "call_1", "type": "function", "function": {"name": "search_news", "arguments": nested}}
    messages = (messages[0], {"role": "assistant", "content": "", "tool_calls": [call]}, *messages[1:])
    _, observation = action_step(messages)  # the arguments it answers: not an object, so none
    assert observation["function"] == "search_news" and observation["arguments"] == {}


def test_unknown_routes_are_404s(server):
    assert post(server, {}, "/v1/completions")[0] == 404


@pytest.mark.parametrize("model", ["planner", "action"])
def test_a_prompt_longer_than_the_context_is_a_400(server, client, model):
    with pytest.raises(openai.BadRequestError) as e:
        chat(client, model, "word " * 3000)  # the tiny llama's context is 2048 tokens
    assert e.value.body["code"] == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError) as e:
        chat(client, model, QUERY, max_tokens=5000)
    assert e.value.body["param"] == "max_tokens" and "leaves no room" in e.value.body["message"]
    assert chat(client, model, QUERY, max_tokens=8).usage.completion_tokens >= 1  # still serving
    assert_untouched(server)


def test_a_client_gone_mid_stream_stops_its_generation_and_the_next_request_is_served(server, client):
    body = json.dumps(
        {"model": "base", "stream": True, "max_tokens": 1500, "messages": [{"role": "user", "content": LONG}]}
    ).encode()
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    with socket.create_connection((server.host, server.port), timeout=60) as sock:
        sock.sendall(head.encode() + body)
        seen = b""
        while b"data: " not in seen:  # the stream has begun
            seen += sock.recv(4096)
        assert seen.startswith(b"HTTP/1.0 200")
    # gone, unread chunks and all
    deadline = time.monotonic() + 60
    while (
        not (gone := [r for r in server.records if "disconnected" in r.note]) and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert gone, server.records[-3:]
    assert gone[-1].completion_tokens < 1500  # generation stopped when the client went
    want = plan_directly(server, "planner", QUERY, 64).text
    assert chat(client, "planner", QUERY, max_tokens=64).choices[0].message.content == want
    assert_untouched(server)


def test_a_failure_inside_generation_is_a_500_and_the_pool_comes_back(server, client, monkeypatch):
    import octo_mlx.generation as generation

    pool = server.engine.pool
    seen = []

    def broken(*a, **k):
        seen.append(pool.active)
        raise RuntimeError("boom")

    monkeypatch.setattr(generation, "generate_stream", broken)
    with pytest.raises(openai.InternalServerError) as e:
        chat(client, "dora", QUERY)
    assert seen == ["dora"] and "boom" in e.value.body["message"]
    monkeypatch.undo()
    assert chat(client, "dora", QUERY, max_tokens=4).usage.completion_tokens == 4
    assert_untouched(server)


# --- listening ----------------------------------------------------------------------------------


def test_a_non_loopback_host_is_refused_before_anything_loads(monkeypatch):
    from octo_mlx.resident import AdapterPool

    def no_load(*a, **k):
        raise AssertionError("loaded a model")

    monkeypatch.setattr(AdapterPool, "open", no_load)
    with pytest.raises(OctoError, match="not a loopback address") as e:
        open_server(None, {}, host="0.0.0.0", port=0)
    assert e.value.where == "--host"
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com")
    httpd = bind("0.0.0.0", 0, allow_remote=True)  # given explicitly: allowed
    httpd.server_close()


def test_a_taken_port_and_bad_adapter_names_are_one_clear_error(server, tiny_llama):
    with pytest.raises(OctoError, match="cannot listen"):
        open_server(tiny_llama, {}, port=server.port)
    for name in ("base", "a/b", ""):
        with pytest.raises(OctoError, match="cannot name an adapter"):
            open_server(tiny_llama, {name: "x"}, port=0)


def test_the_cli_reads_name_equals_dir():
    from octo_mlx.cli.serve import parse_adapters

    assert parse_adapters(["p=runs/a/last", "act=b=c"]) == {"p": "runs/a/last", "act": "b=c"}
    for bad in (["runs/a"], ["=runs/a"], ["p="], ["p=a", "p=b"]):
        with pytest.raises(OctoError) as e:
            parse_adapters(bad)
        assert e.value.where == "--adapter"


def test_close_waits_for_a_request_already_answered_to_be_logged(tiny_llama, adapters):
    """The client has its answer before the request is logged (the log carries the full time):
    close() must still wait for that log line, or `serve` prints "stopped" above it (a CI run)."""
    import urllib.request

    records = []

    def slow_log(record):
        time.sleep(2)  # longer than serve_forever's 0.5 s poll, which shutdown() waits out
        records.append(record)

    srv = open_server(tiny_llama, {"planner": adapters["planner"]}, port=0, on_request=slow_log).start()
    try:
        with urllib.request.urlopen(srv.base_url + "/models", timeout=60) as resp:
            assert resp.status == 200
    finally:
        srv.close()
    assert [r.status for r in records] == [200]


def test_the_command_serves_logs_each_request_and_stops_cleanly(tiny_llama, adapters):
    """`octo-mlx serve` as a user runs it: the startup line, one log line per request, Ctrl-C."""
    import re
    import signal
    import subprocess

    from tests.helpers.cli import OCTO

    args = [
        OCTO,
        "serve",
        "--model",
        tiny_llama,
        "--adapter",
        f"planner={adapters['planner']}",
        "--port",
        "0",
    ]
    proc = subprocess.Popen(list(map(str, args)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        found = re.search(r"serving (http://127\.0\.0\.1:\d+/v1)", first)
        assert found, first + proc.stderr.read() if proc.poll() is not None else first
        client = openai.OpenAI(base_url=found.group(1), api_key="unused", max_retries=0, timeout=120)
        assert chat(client, "planner", QUERY, max_tokens=3).usage.completion_tokens == 3
        with pytest.raises(openai.NotFoundError):
            chat(client, "action", QUERY)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert "POST /v1/chat/completions  200  planner" in out and "3 generated tokens" in out
    assert "404" in out and "no model 'action'" in out and out.rstrip().endswith("stopped")


# --- model "agent": the whole loop behind the API ---------------------------------------------------


@pytest.mark.parametrize("yes", [True, False])
def test_the_agent_model_plans_acts_and_returns_its_calls(agent_adapters, tiny_llama, yes):
    from tests.helpers.agent import CALLS, PLAN, REQUEST

    planner, action = agent_adapters
    with open_server(tiny_llama, {"p": planner, "a": action}, port=0, agent_yes=yes).start() as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="unused", max_retries=0, timeout=120)
        assert {m.id: m.task for m in client.models.list().data}["agent"] == "agent"
        reply = client.chat.completions.create(model="agent", messages=[{"role": "user", "content": REQUEST}])
        trace = reply.choices[0].model_extra["agent"]
        assert trace["query"] == REQUEST and trace["plan"] == PLAN
        if yes:  # every call ran on the server's device
            assert trace["status"] == "done"
            assert [s["call"] for s in trace["steps"]] == [c.to_dict() for c in CALLS]
            assert srv.engine.agent.state.phone.alarms[-1]["time"] == "07:30"
            assert reply.choices[0].message.content.endswith("done: 2 step(s)")
            assert "send_text_message" in reply.choices[0].message.content.splitlines()[0]
            # streamed: each step as it ends, then the status (the device now has the first run's changes)
            chunks = client.chat.completions.create(
                model="agent", messages=[{"role": "user", "content": REQUEST}], stream=True
            )
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            assert text.endswith("done: 2 step(s)") and text.count(" -> ok") == 2
        else:  # fail closed: a call that changes the device is refused without --agent-yes
            assert [s["status"] for s in trace["steps"]] == ["denied", "denied"]
            assert srv.engine.agent.state.phone.messages == []
        assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0


def test_no_agent_without_exactly_one_planner_and_one_action(server, client):
    assert "agent" not in {m.id for m in client.models.list().data}  # two planners resident
    with pytest.raises(openai.NotFoundError, match="one planner and one action"):
        client.chat.completions.create(model="agent", messages=[{"role": "user", "content": "hi"}])


def test_a_second_ctrl_c_while_the_server_drains_is_ignored():
    """The command closes the server with Ctrl-C and SIGTERM ignored: a second one while requests
    drain neither cuts the drain short nor prints a traceback; the handlers come back after."""
    import os
    import signal

    from octo_mlx.cli.serve import _interrupt, close_ignoring_signals

    class Draining:  # a server whose drain is interrupted by the user's second Ctrl-C
        closed = False

        def close(self):
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            self.closed = True

    before = signal.signal(signal.SIGINT, _interrupt), signal.signal(signal.SIGTERM, _interrupt)
    try:
        srv = Draining()
        close_ignoring_signals(srv)
        assert srv.closed
        assert (
            signal.getsignal(signal.SIGINT) is _interrupt and signal.getsignal(signal.SIGTERM) is _interrupt
        )
    finally:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])
