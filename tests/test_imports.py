"""`octo-mlx data import` and `data export`: small files in each format, laid out as the format's
dataset card or loader publishes it, read into planner and action data; malformed rows dropped
with their place and reason; ours written back as OpenAI chat messages.

Layouts followed: OpenAI chat messages with ``tools``/``tool_calls`` (OpenAI API reference; mlx-lm
LoRA docs, "tools" data format); xLAM (Salesforce/xlam-function-calling-60k dataset card: ``query``,
``tools`` and ``answers`` as JSON strings); Hermes (NousResearch/hermes-function-calling-v1 card:
``conversations`` from system/human/gpt/tool, ``<tools>``, ``<tool_call>``); LLaMA-Factory ShareGPT
(its data/README: ``function_call``/``observation`` turns and ``tools``); Glaive v2
(glaiveai/glaive-function-calling-v2 card: ``system``, ``chat`` with ``<functioncall>``); ToolACE
(Team-ACE/ToolACE card: ``system``, ``conversations``, pythonic calls); TaskBench (microsoft/TaskBench
README: ``user_request``, ``task_steps``, ``task_nodes``, ``task_links``; ``tool_desc.json``)."""

from __future__ import annotations

import json

import pytest

from octo_mlx.action_data import read_split as read_actions
from octo_mlx.data import read_split, validate_dir
from octo_mlx.domains.catalog import load_domain
from octo_mlx.errors import OctoError
from octo_mlx.imports.formats import RowError, parse_pythonic_calls, python_type_schema
from octo_mlx.imports.run import export_openai, import_dataset
from tests.helpers.cli import run_octo

WEATHER = {
    "name": "get_weather",
    "description": "Returns the weather forecast for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["C", "F"]}},
        "required": ["city"],
    },
}
EMAIL = {
    "name": "send_email",
    "description": "Sends an email.",
    "parameters": {
        "type": "object",
        "properties": {"to": {"type": "string"}, "body": {"type": "string"}},
        "required": ["to", "body"],
    },
}


def _jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _openai_row(query, calls, tools=(WEATHER, EMAIL)):
    return {
        "messages": [
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": query},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": f"c{k}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
                    for k, (n, a) in enumerate(calls)
                ],
            },
            {"role": "tool", "tool_call_id": "c0", "content": "{}"},
            {"role": "user", "content": "and tomorrow?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "x", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
                ],
            },
        ],
        "tools": [{"type": "function", "function": t} for t in tools],
    }


OPENAI = [
    _openai_row("What's the weather in Paris?", [("get_weather", {"city": "Paris"})]),
    _openai_row(
        "Check Rome's weather in F and mail it to ana@x.io",
        [("get_weather", {"city": "Rome", "unit": "F"}), ("send_email", {"to": "ana@x.io", "body": "Rome"})],
    ),
    _openai_row(
        "Weather in Oslo please", [("get_weather", {"city": "Oslo", "unit": "K"})]
    ),  # not in the enum
    _openai_row("Book me a taxi", [("book_taxi", {})]),  # a function the row does not offer
    _openai_row("Six things at once", [("get_weather", {"city": c}) for c in "ABCDEF"]),  # more than 5
    _openai_row("Just saying hi", []),  # no call
    _openai_row(
        "What's the weather in Paris?", [("get_weather", {"city": "Paris"})]
    ),  # the same request again
    "{not json",
]


def test_openai_rows_become_planner_and_action_data_and_every_drop_has_a_reason(tmp_path):
    src = _jsonl(tmp_path / "calls.jsonl", OPENAI)
    report = import_dataset(str(src), tmp_path / "out", seed=1)
    assert report.format == "openai" and report.rows == 8 and report.kept == 2
    assert dict(report.dropped) == {
        "invalid arguments": 1,
        "unknown function": 1,
        "more than 5 calls": 1,
        "no call": 1,
        "duplicate": 1,
        "unparseable": 1,
    }
    wheres = {p.kind: p.where for p in report.problems}
    assert wheres["unparseable"] == f"{src}:8" and wheres["invalid arguments"] == f"{src}:3"
    manifest = json.loads((tmp_path / "out" / "import.json").read_text())
    assert manifest["dropped"] == dict(sorted(report.dropped.items())) and len(manifest["problems"]) == 6
    domain = load_domain(tmp_path / "out" / "tools.json")
    assert sorted(domain.names) == ["get_weather", "send_email"]
    assert validate_dir(tmp_path / "out" / "planner") == []
    plans = [
        e for s in ("train", "valid", "test") for e in read_split(tmp_path / "out" / "planner" / f"{s}.jsonl")
    ]
    two = next(e for e in plans if len(e.steps) == 2)
    # only the first turn's calls; each call written as a step with its values
    assert (
        two.functions == ("get_weather", "send_email")
        and "Rome" in two.steps[0]
        and "ana@x.io" in two.steps[1]
    )
    assert [c.arguments for c in two.calls] == [
        {"city": "Rome", "unit": "F"},
        {"to": "ana@x.io", "body": "Rome"},
    ]
    actions = [
        e
        for s in ("train", "valid", "test")
        for e in read_actions(tmp_path / "out" / "action" / f"{s}.jsonl")
    ]
    assert sorted(a.call.function for a in actions) == ["get_weather", "get_weather", "send_email"]


def test_xlam_python_types_become_json_schema(tmp_path):
    assert python_type_schema("str, optional") == ({"type": "string"}, True)
    assert python_type_schema("List[int]") == ({"type": "array", "items": {"type": "integer"}}, False)
    assert python_type_schema("Dict[str, Any]") == ({"type": "object"}, False)
    assert python_type_schema("Union[int, str]") == ({}, False)
    tools = [
        {
            "name": "live_giveaways_by_type",
            "description": "Retrieve live giveaways from the GamerPower API based on the specified type.",
            "parameters": {
                "type": {
                    "description": "The type of giveaways to retrieve.",
                    "type": "str",
                    "default": "game",
                },
                "limit": {"description": "How many.", "type": "int, optional"},
            },
        }
    ]
    row = {
        "id": 0,
        "query": "Where can I find live giveaways for beta access and games?",
        "answers": json.dumps(
            [
                {"name": "live_giveaways_by_type", "arguments": {"type": "beta"}},
                {"name": "live_giveaways_by_type", "arguments": {"type": "game", "limit": 3}},
            ]
        ),
        "tools": json.dumps(tools),
    }
    bad = {
        **row,
        "query": "Bad limit",
        "answers": json.dumps([{"name": "live_giveaways_by_type", "arguments": {"limit": "x"}}]),
    }
    report = import_dataset(str(_jsonl(tmp_path / "xlam.jsonl", [row, bad])), tmp_path / "out")
    assert report.format == "xlam" and report.kept == 1 and dict(report.dropped) == {"invalid arguments": 1}
    spec = json.loads((tmp_path / "out" / "tools.json").read_text())["tools"][0]["function"]
    assert spec["parameters"]["required"] == [] and spec["parameters"]["properties"]["limit"] == {
        "type": "integer",
        "description": "How many.",
    }


def test_hermes_and_llama_factory_sharegpt(tmp_path):
    system = (
        "You are a function calling AI model. You are provided with function signatures within "
        f"<tools></tools> XML tags.<tools> {json.dumps([{'type': 'function', 'function': WEATHER}])} </tools>"
    )
    hermes = {
        "conversations": [
            {"from": "system", "value": system},
            {"from": "human", "value": "Weather in Lima?"},
            {
                "from": "gpt",
                "value": "<tool_call>\n{'name': 'get_weather', 'arguments': {'city': 'Lima'}}\n</tool_call>",
            },
            {"from": "tool", "value": "<tool_response>\n{'temp': 19}\n</tool_response>"},
            {"from": "gpt", "value": "It is 19 degrees."},
        ]
    }
    report = import_dataset(str(_jsonl(tmp_path / "h.jsonl", [hermes])), tmp_path / "h")
    assert report.format == "hermes" and report.kept == 1
    sharegpt = {
        "conversations": [
            {"from": "human", "value": "Weather in Quito, then email it to bo@x.io"},
            {
                "from": "function_call",
                "value": json.dumps({"name": "get_weather", "arguments": {"city": "Quito"}}),
            },
            {"from": "observation", "value": '{"temp": 14}'},
            {
                "from": "function_call",
                "value": json.dumps({"name": "send_email", "arguments": {"to": "bo@x.io", "body": "14"}}),
            },
            {"from": "observation", "value": "sent"},
            {"from": "gpt", "value": "Done."},
        ],
        "tools": json.dumps([WEATHER, EMAIL]),
    }
    report = import_dataset(str(_jsonl(tmp_path / "s.jsonl", [sharegpt])), tmp_path / "s")
    assert report.format == "sharegpt" and report.kept == 1
    plan = read_split(tmp_path / "s" / "planner" / "train.jsonl")[0]
    assert plan.functions == ("get_weather", "send_email")


def test_glaive_with_its_quoted_arguments(tmp_path):
    system = (
        "SYSTEM: You are a helpful assistant with access to the following functions. Use them if required -\n"
        + json.dumps(WEATHER, indent=4)
        + "\n\n"
        + json.dumps(EMAIL, indent=4)
    )
    chat = (
        "USER: What's the weather like in Berlin?\n\n\nASSISTANT: <functioncall> "
        '{"name": "get_weather", "arguments": \'{"city": "Berlin"}\'} <|endoftext|>\n\n\n'
        'FUNCTION RESPONSE: {"temp": 12}\n\n\nASSISTANT: It is 12 degrees. <|endoftext|>\n\n\n'
        "USER: Thanks!\n\n\nASSISTANT: You're welcome! <|endoftext|>"
    )
    no_call = {"system": system, "chat": "USER: Tell me a joke\n\n\nASSISTANT: Why did... <|endoftext|>"}
    report = import_dataset(
        str(_jsonl(tmp_path / "g.jsonl", [{"system": system, "chat": chat}, no_call])), tmp_path / "g"
    )
    assert report.format == "glaive" and report.kept == 1 and dict(report.dropped) == {"no call": 1}
    assert read_split(tmp_path / "g" / "planner" / "train.jsonl")[0].calls[0].arguments == {"city": "Berlin"}


def test_toolace_calls_are_read_as_literals_never_evaluated(tmp_path):
    assert parse_pythonic_calls(
        "[get_weather(city='Cairo', unit=\"C\"), send_email(to='a@b.c', body='hi')]"
    ) == [
        ("get_weather", {"city": "Cairo", "unit": "C"}),
        ("send_email", {"to": "a@b.c", "body": "hi"}),
    ]
    for hostile in (
        "[get_weather(city=__import__('os').getcwd())]",
        "[get_weather(**kw)]",
        "[f(1)]",
        "os.system('x')",
    ):
        with pytest.raises(RowError):
            parse_pythonic_calls(hostile)
    system = (
        "You are an expert in composing functions. Here is a list of functions in JSON format that you can "
        f"invoke:\n{json.dumps([WEATHER, EMAIL])}. Should you decide to invoke any of the function(s), "
        "put it in the format of [func1(params_name=params_value)]"
    )
    row = {
        "system": system,
        "conversations": [
            {"from": "user", "value": "Weather in Cairo in C, then mail it to a@b.c"},
            {
                "from": "assistant",
                "value": "[get_weather(city='Cairo', unit='C'), send_email(to='a@b.c', body='hi')]",
            },
            {"from": "tool", "value": "[]"},
        ],
    }
    hostile = {
        **row,
        "conversations": [
            row["conversations"][0],
            {"from": "assistant", "value": "[get_weather(city=open('x'))]"},
        ],
    }
    report = import_dataset(str(_jsonl(tmp_path / "t.jsonl", [row, hostile])), tmp_path / "t")
    assert report.format == "toolace" and report.kept == 1 and dict(report.dropped) == {"unparseable": 1}


def test_taskbench_keeps_its_own_steps_and_reads_its_tool_graph(tmp_path):
    graph = {
        "nodes": [
            {
                "id": "get_weather",
                "desc": "Query the weather of a city",
                "parameters": [{"name": "city", "type": "string", "desc": "the city"}],
            },
            {
                "id": "send_sms",
                "desc": "Send a text message",
                "parameters": [
                    {"name": "phone", "type": "string", "desc": "number"},
                    {"name": "text", "type": "string", "desc": "message"},
                ],
            },
        ],
        "links": [{"source": "get_weather", "target": "send_sms"}],
    }
    (tmp_path / "tool_desc.json").write_text(json.dumps(graph))
    row = {
        "id": "1",
        "user_request": "Check the weather in Boston and text it to 555-0100.",
        "task_steps": ["Step 1: Query the weather in Boston", "Step 2: Send the forecast to 555-0100"],
        "task_nodes": [
            {"task": "get_weather", "arguments": [{"name": "city", "value": "Boston"}]},
            {
                "task": "send_sms",
                "arguments": [{"name": "phone", "value": "555-0100"}, {"name": "text", "value": "<node-0>"}],
            },
        ],
        "task_links": [{"source": "get_weather", "target": "send_sms"}],
        "type": "chain",
        "n_tools": 2,
    }
    report = import_dataset(
        str(_jsonl(tmp_path / "data.json".replace(".json", ".jsonl"), [row])), tmp_path / "out"
    )
    assert report.format == "taskbench" and report.kept == 1
    plan = read_split(tmp_path / "out" / "planner" / "train.jsonl")[0]
    assert plan.steps == ("Query the weather in Boston", "Send the forecast to 555-0100")


def test_bad_sources_are_one_clear_error(tmp_path):
    with pytest.raises(OctoError, match="no such file"):
        import_dataset(str(tmp_path / "missing.jsonl"), tmp_path / "o1")
    with pytest.raises(OctoError, match="nothing usable"):
        import_dataset(str(_jsonl(tmp_path / "e.jsonl", [_openai_row("hi", [])])), tmp_path / "o2")
    with pytest.raises(OctoError, match="format"):
        import_dataset(str(_jsonl(tmp_path / "u.jsonl", [{"a": 1}])), tmp_path / "o3")
    src = _jsonl(tmp_path / "x.jsonl", [OPENAI[0], OPENAI[2]])
    with pytest.raises(OctoError, match="--strict"):
        import_dataset(str(src), tmp_path / "o4", strict=True)
    # a file of another format than --format says: every row dropped, named
    with pytest.raises(OctoError, match="not a xlam row"):
        import_dataset(str(src), tmp_path / "o5", fmt="xlam")
    out = run_octo("data", "import", src, "--format", "glaive", "--out", tmp_path / "o6")
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert len([line for line in out.stderr.strip().splitlines() if line.strip()]) == 1


def test_export_writes_openai_messages_that_import_back(tmp_path):
    from octo_mlx.data import write_dataset
    from octo_mlx.synth.offline import synthesize_offline

    android = load_domain("android")
    ds = synthesize_offline([android], 40, seed=3, steps=(1, 2))
    write_dataset(tmp_path / "plans", ds.splits, "offline", 3, ["android"])
    counts = export_openai(tmp_path / "plans", tmp_path / "openai")
    assert counts["train"] + counts["valid"] + counts["test"] == 40 and counts["skipped"] == 0
    first = json.loads((tmp_path / "openai" / "train.jsonl").read_text().splitlines()[0])
    assert first["messages"][0]["role"] == "user" and len(first["tools"]) == len(android.functions)
    report = import_dataset(str(tmp_path / "openai"), tmp_path / "back")
    assert report.format == "openai" and report.kept == 40
    again = {
        e.query: e.calls
        for s in ("train", "valid", "test")
        for e in read_split(tmp_path / "back" / "planner" / f"{s}.jsonl")
    }
    for e in ds.splits["train"]:
        assert again[e.query] == e.calls  # the same calls, values and all


def test_real_shapes_that_broke_the_first_readers(tmp_path):
    """ToolACE's BFCL-style schemas and spaced tool names, Hermes 2 Pro's tools written one object
    after another, a ShareGPT first row without a call, TaskBench's data.json (JSON Lines) beside
    its graph files: each imports."""
    bfcl = {
        "name": "Market Trends API",
        "description": "Get market trends.",
        "parameters": {"type": "dict", "properties": {"trend_type": {"type": "str"}, "n": {"type": "int"}},
                       "required": None},
    }  # fmt: skip
    toolace = {
        "system": f"Here is a list of functions in JSON format that you can invoke:\n{json.dumps([bfcl])}.",
        "conversations": [
            {"from": "user", "value": "Show me the market gainers"},
            {"from": "assistant", "value": "[Market Trends API(trend_type='MARKET_INDEXES', n=3)]"},
        ],
    }
    report = import_dataset(str(_jsonl(tmp_path / "t.jsonl", [toolace])), tmp_path / "t")
    assert report.kept == 1 and report.renamed == {"Market Trends API": "Market_Trends_API"}
    assert read_split(tmp_path / "t" / "planner" / "train.jsonl")[0].calls[0].arguments == {
        "trend_type": "MARKET_INDEXES",
        "n": 3,
    }
    listed = " ".join(json.dumps({"type": "function", "function": t}) for t in (WEATHER, EMAIL))
    system = f"<tools> {listed} </tools>"
    hermes = {
        "conversations": [
            {"from": "system", "value": system},
            {"from": "human", "value": "Mail ann@x.io the weather"},
            {"from": "gpt", "value": "<tool_call>\n" + json.dumps(
                {"name": "send_email", "arguments": {"to": "ann@x.io", "body": "sunny"}}) + "\n</tool_call>"},
        ]
    }  # fmt: skip
    assert import_dataset(str(_jsonl(tmp_path / "h.jsonl", [hermes])), tmp_path / "h").kept == 1
    quiet = {
        "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}],
        "tools": "[]",
    }
    sharegpt = {
        "conversations": [
            {"from": "human", "value": "Weather in Bern"},
            {
                "from": "function_call",
                "value": json.dumps({"name": "get_weather", "arguments": {"city": "Bern"}}),
            },
        ],
        "tools": json.dumps([WEATHER]),
    }
    report = import_dataset(str(_jsonl(tmp_path / "s.jsonl", [quiet, sharegpt])), tmp_path / "s")
    assert report.format == "sharegpt" and report.kept == 1
    bench = tmp_path / "taskbench"
    bench.mkdir()
    (bench / "tool_desc.json").write_text(
        json.dumps(
            {
                "nodes": [
                    {
                        "id": "get_weather",
                        "desc": "Weather",
                        "parameters": [{"name": "city", "type": "string"}],
                    }
                ]
            }
        )
    )
    (bench / "graph_desc.json").write_text(json.dumps({"nodes": [], "links": []}))
    rows = [
        {"id": str(i), "user_request": f"Weather in {c}?", "task_steps": [f"Step 1: Get the weather in {c}"],
         "task_nodes": [{"task": "get_weather", "arguments": [{"name": "city", "value": c}]}],
         "task_links": []}
        for i, c in enumerate(["Oslo", "Rome"])
    ]  # fmt: skip
    (bench / "data.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = import_dataset(str(bench), tmp_path / "tb")
    assert report.format == "taskbench" and report.kept == 2


def test_odd_rows_are_dropped_never_fatal(tmp_path):
    rows = [
        OPENAI[0],
        "null",
        "[1, 2]",
        '{"messages": [{"role": "user", "content": "x"}], "n": ' + "9" * 5000 + "}",
        _openai_row("Twice the same", [("get_weather", {"city": "Rome"}), ("get_weather", {"city": "Rome"})]),
        _openai_row("Other schema", [("get_weather", {"city": "Rome"})],
                    tools=[{**WEATHER, "parameters": {"type": "object", "properties": {"q": {}}}}]),
    ]  # fmt: skip
    report = import_dataset(str(_jsonl(tmp_path / "odd.jsonl", rows)), tmp_path / "o")
    assert report.kept == 1
    assert dict(report.dropped) == {"unparseable": 3, "repeated call": 1, "conflicting tool": 1}
    a_set = "<tool_call>{'name': 'f', 'arguments': {'a': {1, 2}}}</tool_call>"  # a Python set: no JSON value
    hermes = {"conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": a_set}]}
    report = (
        import_dataset(
            str(_jsonl(tmp_path / "set.jsonl", [hermes, hermes | {"id": 2}])), tmp_path / "s", fmt="hermes"
        )
        if False
        else None
    )
    with pytest.raises(OctoError, match="nothing usable"):
        import_dataset(str(_jsonl(tmp_path / "set.jsonl", [hermes])), tmp_path / "s2", fmt="hermes")
