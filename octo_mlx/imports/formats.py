"""The function-calling dataset formats people already have, each read into one :class:`Row`:
the tools offered, the user's request, and the calls that answer it, in order.

Field layouts, as their dataset cards and loaders publish them:

- ``openai``: OpenAI chat messages (also mlx-lm's ``tools`` training format): ``messages`` with
  ``role``/``content``, assistant ``tool_calls`` (``function.name``, ``function.arguments`` a
  JSON string), ``role: tool`` results; ``tools`` as ``[{"type": "function", "function":
  {...}}]``.
- ``xlam``: Salesforce/xlam-function-calling-60k (APIGen): ``query``; ``tools`` a JSON string
  of ``{name, description, parameters: {NAME: {type: "str, optional" | "List[int]" | ...,
  description, default}}}``; ``answers`` a JSON string of ``{name, arguments}``.
- ``hermes``: NousResearch/hermes-function-calling-v1: ``conversations`` of ``{from, value}``
  with ``from`` in system/human/gpt/tool; the tools inside ``<tools>...</tools>`` of the system
  turn, each call a ``<tool_call>{...}</tool_call>`` in a gpt turn.
- ``sharegpt``: LLaMA-Factory's ShareGPT variant: ``conversations`` with ``from`` in
  human/function_call/observation/gpt, ``function_call`` values ``{"name", "arguments"}`` (or a
  list of them), ``tools`` a JSON string of functions.
- ``glaive``: glaiveai/glaive-function-calling-v2: ``system`` ("SYSTEM: ... -" then function
  JSON objects), ``chat`` text with ``USER:``, ``ASSISTANT: <functioncall> {...}`` (its
  ``arguments`` a quoted JSON string) and ``FUNCTION RESPONSE:``.
- ``toolace``: Team-ACE/ToolACE: ``system`` holding a JSON list of functions, ``conversations``
  with ``from`` in user/assistant/tool; calls written as Python ``[f(a=1), g(b='x')]``, parsed
  with an AST walk that accepts literals only (never ``eval``).
- ``taskbench``: microsoft/TaskBench: ``user_request``, ``task_steps`` (natural-language steps,
  kept as the plan when they match the calls one to one), ``task_nodes`` (``task`` and
  ``arguments``: ``[{name, value}]`` or plain values in the tool's parameter order), with the
  tools in the tool graph file (``tool_desc.json``: ``nodes`` of ``{id, desc, parameters}``).

Only the request's first turn is read: the calls made before the user speaks again.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

FORMATS = ("openai", "xlam", "hermes", "sharegpt", "glaive", "toolace", "taskbench")


class RowError(Exception):
    """A row that cannot be read as its format says; the message is the reason."""


@dataclass
class Row:
    """One request: the tools it offers (OpenAI ``function`` objects), the user's words, the
    calls that answer it (name, arguments) in order, and steps written by the source (or None)."""

    tools: list[dict]
    query: str
    calls: list[tuple[str, dict]]
    steps: list[str] | None = None
    conflicting: set[str] = field(
        default_factory=set
    )  # its tools defined otherwise before (set by the import)


# --- shared pieces ---------------------------------------------------------------------------------


def _json(value: Any, what: str) -> Any:
    """A JSON value given as such or as a JSON string."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as e:
            raise RowError(f"{what} is not JSON ({e.msg} at column {e.colno})") from None
        except (ValueError, RecursionError) as e:  # an integer of 5,000 digits, absurd nesting
            raise RowError(f"{what} is not usable JSON ({type(e).__name__})") from None
    return value


def _plain(value: Any, what: str) -> Any:
    """A literal as JSON would hold it: tuples become lists; sets, bytes and complex numbers
    (which a Python literal may hold and JSON may not) are refused."""
    if isinstance(value, (list, tuple)):
        return [_plain(v, what) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise RowError(f"{what}: object keys must be strings")
        return {k: _plain(v, what) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise RowError(f"{what}: a {type(value).__name__} is not a JSON value")


def _literal(text: str, what: str) -> Any:
    """JSON, else a Python literal (single quotes, True/None) read by ``ast.literal_eval``:
    literals only, nothing is evaluated."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    try:
        return _plain(ast.literal_eval(text), what)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise RowError(f"{what} is neither JSON nor a Python literal: {text[:80]!r}") from None


def _tool(item: Any, what: str) -> dict:
    """An OpenAI ``function`` object from ``{"type": "function", "function": {...}}`` or bare."""
    if isinstance(item, dict) and isinstance(item.get("function"), dict):
        item = item["function"]
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise RowError(f"{what}: a tool must be an object with a name")
    params = item.get("parameters")
    if params is None:
        params = {"type": "object", "properties": {}}
    return {
        "name": item["name"],
        "description": str(item.get("description") or ""),
        "parameters": json_schema(params),
    }


_PY_TYPES = {
    "dict": "object",
    "int": "integer",
    "float": "number",
    "str": "string",
    "list": "array",
    "tuple": "array",
    "bool": "boolean",
}


def json_schema(schema: Any) -> Any:
    """A parameter schema as JSON Schema, where a source writes it BFCL-style (ToolACE, Gorilla):
    ``"type": "dict"``/``"int"``/``"float"``/``"str"``/``"list"``/``"bool"`` become object, integer,
    number, string, array, boolean; ``"any"`` drops the type; ``"required": null`` is no list."""
    if isinstance(schema, list):
        return [json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            if value.lower() == "any":
                continue
            out[key] = _PY_TYPES.get(value.lower(), value)
        elif key == "required" and value is None:
            continue
        elif key == "properties" and isinstance(value, dict):
            out[key] = {k: json_schema(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf"):
            out[key] = json_schema(value)
        else:
            out[key] = value
    return out


def _tools(value: Any, what: str = "tools") -> list[dict]:
    value = _json(value, what)
    if value is None:
        return []
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise RowError(f"{what} must be a list of tools")
    return [_tool(t, f"{what}[{i}]") for i, t in enumerate(value)]


def _call(value: Any, what: str) -> tuple[str, dict]:
    """(name, arguments) of ``{"name", "arguments"}`` (``arguments`` an object or a JSON string)."""
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise RowError(f"{what}: a call must be an object with a name")
    args = value.get("arguments", value.get("parameters", {}))
    if isinstance(args, str):
        args = _literal(args, f"{what} arguments") if args.strip() else {}
    if not isinstance(args, dict):
        raise RowError(f"{what}: arguments must be an object, got {type(args).__name__}")
    return value["name"], args


def _first_user_turn(turns: list[tuple[str, Any]], user: str) -> tuple[str, list[tuple[str, Any]]]:
    """(the first user text, the turns after it up to the next user turn)."""
    start = next((i for i, (role, _) in enumerate(turns) if role == user), None)
    if start is None:
        raise RowError("no user turn")
    query = turns[start][1]
    if not isinstance(query, str) or not query.strip():
        raise RowError("the user turn is empty")
    after = []
    for role, value in turns[start + 1 :]:
        if role == user:
            break
        after.append((role, value))
    return query.strip(), after


def _conversations(record: Mapping, key: str = "conversations") -> list[tuple[str, Any]]:
    turns = record.get(key)
    if not isinstance(turns, list) or not turns:
        raise RowError(f"'{key}' must be a non-empty list of turns")
    out = []
    for i, t in enumerate(turns):
        if not isinstance(t, dict) or "from" not in t or "value" not in t:
            raise RowError(f"{key}[{i}] must be {{'from', 'value'}}")
        out.append((str(t["from"]), t["value"]))
    return out


# --- the formats -----------------------------------------------------------------------------------


def read_openai(record: Mapping, context: Mapping) -> Row:
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RowError("'messages' must be a non-empty list")
    turns = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m:
            raise RowError(f"messages[{i}] has no role")
        turns.append((m["role"], m if m["role"] == "assistant" else m.get("content")))
    query, after = _first_user_turn(turns, "user")
    calls = []
    for role, m in after:
        if role != "assistant":
            continue
        for k, tc in enumerate(m.get("tool_calls") or []):
            fn = tc.get("function") if isinstance(tc, dict) else None
            calls.append(_call(fn, f"tool_calls[{k}]"))
    return Row(_tools(record.get("tools") or []), query, calls)


_XLAM_TYPES = {
    "str": {"type": "string"},
    "string": {"type": "string"},
    "int": {"type": "integer"},
    "integer": {"type": "integer"},
    "float": {"type": "number"},
    "number": {"type": "number"},
    "bool": {"type": "boolean"},
    "boolean": {"type": "boolean"},
    "dict": {"type": "object"},
    "list": {"type": "array"},
    "tuple": {"type": "array"},
    "set": {"type": "array"},
}


def python_type_schema(text: str) -> tuple[dict, bool]:
    """A Python-style type string as xLAM writes it -> (JSON schema, optional): "str, optional"
    -> ({"type": "string"}, True); "List[int]" -> array of integers; "Dict[str, Any]" -> object;
    "Union[int, str]" and anything unknown -> {} (any value)."""
    t = text.strip()
    optional = False
    if re.search(r",\s*optional\s*$", t, re.IGNORECASE):
        t, optional = re.sub(r",\s*optional\s*$", "", t, flags=re.IGNORECASE).strip(), True
    m = re.fullmatch(r"Optional\[(.*)\]", t)
    if m:
        t, optional = m.group(1).strip(), True
    m = re.fullmatch(r"(?i)(list|tuple|set|sequence|iterable)\[(.*)\]", t)
    if m:
        inner, _ = python_type_schema(
            m.group(2).split(",")[0] if m.group(1).lower() == "tuple" else m.group(2)
        )
        return ({"type": "array", "items": inner} if inner else {"type": "array"}), optional
    if re.fullmatch(r"(?i)(dict|mapping)\[.*\]", t):
        return {"type": "object"}, optional
    return dict(_XLAM_TYPES.get(t.lower(), {})), optional


def _xlam_tool(item: Any, what: str) -> dict:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise RowError(f"{what}: a tool must be an object with a name")
    params = item.get("parameters") or {}
    if isinstance(params, dict) and params.get("type") == "object":  # already a JSON schema
        return _tool(item, what)
    if not isinstance(params, dict):
        raise RowError(f"{what}: parameters must be an object")
    properties, required = {}, []
    for name, spec in params.items():
        spec = spec if isinstance(spec, dict) else {}
        schema, optional = python_type_schema(str(spec.get("type", "")))
        if spec.get("description"):
            schema["description"] = str(spec["description"])
        if "default" in spec and spec["default"] not in ("", None):
            optional = True
        properties[name] = schema
        if not optional:
            required.append(name)
    return {
        "name": item["name"],
        "description": str(item.get("description") or ""),
        "parameters": {"type": "object", "properties": properties, "required": required},
    }


def read_xlam(record: Mapping, context: Mapping) -> Row:
    query = record.get("query")
    if not isinstance(query, str) or not query.strip():
        raise RowError("'query' must be a non-empty string")
    tools = _json(record.get("tools"), "tools")
    answers = _json(record.get("answers"), "answers")
    if not isinstance(tools, list) or not isinstance(answers, list):
        raise RowError("'tools' and 'answers' must be lists (or JSON strings of lists)")
    return Row(
        [_xlam_tool(t, f"tools[{i}]") for i, t in enumerate(tools)],
        query.strip(),
        [_call(a, f"answers[{i}]") for i, a in enumerate(answers)],
    )


def read_hermes(record: Mapping, context: Mapping) -> Row:
    turns = _conversations(record)
    tools: list[dict] = []
    for role, value in turns:
        if role == "system" and isinstance(value, str):
            # the prompt itself says "within <tools></tools> XML tags": the tools are the block
            # that is not empty
            for body in re.findall(r"<tools>(.*?)</tools>", value, re.DOTALL):
                if body.strip():
                    try:
                        found = _literal(body.strip(), "<tools>")
                    except RowError:  # Hermes 2 Pro writes the tools one object after another
                        found = _json_objects(body) or _literal(body.strip(), "<tools>")
                    tools = _tools(found, "<tools>")
    query, after = _first_user_turn(turns, "human")
    calls = []
    for role, value in after:
        if role != "gpt" or not isinstance(value, str):
            continue
        for k, body in enumerate(re.findall(r"<tool_call>(.*?)</tool_call>", value, re.DOTALL)):
            calls.append(_call(_literal(body.strip(), f"<tool_call> {k + 1}"), f"<tool_call> {k + 1}"))
    return Row(tools, query, calls)


def read_sharegpt(record: Mapping, context: Mapping) -> Row:
    turns = _conversations(record)
    query, after = _first_user_turn(turns, "human")
    calls = []
    for role, value in after:
        if role != "function_call":
            continue
        found = _json(value, "function_call")
        for k, item in enumerate(found if isinstance(found, list) else [found]):
            calls.append(_call(item, f"function_call {k + 1}"))
    return Row(_tools(record.get("tools") or []), query, calls)


def _json_objects(text: str) -> list[Any]:
    """Every JSON object written one after another in ``text`` (Glaive's system prompt)."""
    decoder, out, at = json.JSONDecoder(), [], 0
    while True:
        at = text.find("{", at)
        if at < 0:
            return out
        try:
            value, end = decoder.raw_decode(text, at)
        except json.JSONDecodeError:
            at += 1
            continue
        out.append(value)
        at = end


def _glaive_call(text: str, what: str) -> tuple[str, dict]:
    body = text.split("<|endoftext|>")[0].strip()
    try:
        return _call(json.loads(body), what)
    except json.JSONDecodeError:
        pass
    m = re.fullmatch(
        r"\{\s*\"name\"\s*:\s*\"([^\"]+)\"\s*,\s*\"arguments\"\s*:\s*'(.*)'\s*\}", body, re.DOTALL
    )
    if not m:
        raise RowError(f"{what} is not a call: {body[:80]!r}")
    return m.group(1), _call({"name": m.group(1), "arguments": m.group(2)}, what)[1]


def read_glaive(record: Mapping, context: Mapping) -> Row:
    system, chat = record.get("system"), record.get("chat")
    if not isinstance(system, str) or not isinstance(chat, str):
        raise RowError("'system' and 'chat' must be strings")
    tools = [_tool(t, "system") for t in _json_objects(system) if isinstance(t, dict) and "name" in t]
    parts = re.split(r"(USER:|ASSISTANT:|FUNCTION RESPONSE:)", chat)
    turns = [(parts[i].rstrip(":"), parts[i + 1].strip()) for i in range(1, len(parts) - 1, 2)]
    query, after = _first_user_turn(turns, "USER")
    calls = []
    for role, value in after:
        if role == "ASSISTANT" and value.startswith("<functioncall>"):
            calls.append(_glaive_call(value[len("<functioncall>") :], f"call {len(calls) + 1}"))
    return Row(tools, query, calls)


def _literal_node(node: ast.AST, what: str) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        raise RowError(f"{what}: only literal values are accepted") from None


def parse_pythonic_calls(text: str) -> list[tuple[str, dict]]:
    """``[f(a=1), g(b='x')]`` -> [("f", {"a": 1}), ("g", {"b": "x"})], by walking the AST:
    names and keyword arguments whose values are literals; anything else is refused."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        raise RowError(f"not a list of calls: {text[:80]!r}") from None
    body = tree.body
    items = body.elts if isinstance(body, (ast.List, ast.Tuple)) else [body]
    calls = []
    for k, node in enumerate(items):
        if not isinstance(node, ast.Call) or node.args:
            raise RowError(f"call {k + 1}: name(keyword=value, ...) expected")
        func = node.func
        name = func.id if isinstance(func, ast.Name) else None
        if isinstance(func, ast.Attribute):  # a dotted tool name: "weather.get"
            parts, at = [], func
            while isinstance(at, ast.Attribute):
                parts.insert(0, at.attr)
                at = at.value
            name = ".".join([at.id, *parts]) if isinstance(at, ast.Name) else None
        if name is None:
            raise RowError(f"call {k + 1}: the function must be a name")
        args = {}
        for kw in node.keywords:
            if kw.arg is None:
                raise RowError(f"call {k + 1}: **arguments are not accepted")
            args[kw.arg] = _plain(_literal_node(kw.value, f"call {k + 1} {kw.arg}"), f"call {k + 1}")
        calls.append((name, args))
    return calls


def read_toolace(record: Mapping, context: Mapping) -> Row:
    system = record.get("system")
    if not isinstance(system, str):
        raise RowError("'system' must be a string")
    tools: list[dict] = []
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\[", system):
        try:
            value, _ = decoder.raw_decode(system, m.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, list) and value and all(isinstance(t, dict) and "name" in t for t in value):
            tools = [_tool(t, "system") for t in value]
            break
    query, after = _first_user_turn(_conversations(record), "user")
    # a tool named "Market Trends API" is called as written; the AST needs a name
    spaced = {
        t["name"]: re.sub(r"\W+", "_", t["name"]).strip("_") for t in tools if not t["name"].isidentifier()
    }
    calls = []
    for role, value in after:
        if role == "assistant" and isinstance(value, str) and value.strip().startswith("["):
            for name, clean in sorted(spaced.items(), key=lambda kv: -len(kv[0])):
                value = value.replace(f"{name}(", f"{clean}(")
            back = {clean: name for name, clean in spaced.items()}
            calls += [(back.get(n, n), a) for n, a in parse_pythonic_calls(value)]
    return Row(tools, query, calls)


def taskbench_tools(graph: Any) -> list[dict]:
    """The tools of a TaskBench tool graph (``tool_desc.json``): nodes of ``{id, desc,
    parameters: [{name, type, desc}]}``; a node without parameters (the multimedia and
    huggingface graphs) takes its inputs as one string array ``inputs``."""
    nodes = graph.get("nodes") if isinstance(graph, dict) else None
    if not isinstance(nodes, list):
        raise RowError("a TaskBench tool graph has 'nodes'")
    out = []
    for i, n in enumerate(nodes):
        if not isinstance(n, dict) or not isinstance(n.get("id"), str):
            raise RowError(f"nodes[{i}] has no id")
        params = n.get("parameters")
        if isinstance(params, list):
            props = {}
            for p in params:
                if isinstance(p, dict) and isinstance(p.get("name"), str):
                    schema, _ = python_type_schema(str(p.get("type", "")))
                    if p.get("desc"):
                        schema["description"] = str(p["desc"])
                    props[p["name"]] = schema
            schema = {"type": "object", "properties": props, "required": list(props)}
        else:
            schema = {
                "type": "object",
                "properties": {"inputs": {"type": "array", "items": {"type": "string"}}},
            }
        out.append({"name": n["id"], "description": str(n.get("desc") or n["id"]), "parameters": schema})
    return out


def read_taskbench(record: Mapping, context: Mapping) -> Row:
    query = record.get("user_request")
    nodes = record.get("task_nodes")
    if not isinstance(query, str) or not query.strip():
        raise RowError("'user_request' must be a non-empty string")
    nodes = _json(nodes, "task_nodes")
    if not isinstance(nodes, list):
        raise RowError("'task_nodes' must be a list")
    tools = list(context.get("tools") or [])
    if not tools:
        raise RowError("TaskBench rows need their tool graph: tool_desc.json beside them, or --tools")
    params = {t["name"]: list(t["parameters"].get("properties", {})) for t in tools}
    calls = []
    for k, node in enumerate(nodes):
        if not isinstance(node, dict) or not isinstance(node.get("task"), str):
            raise RowError(f"task_nodes[{k}] has no task")
        args = node.get("arguments") or []
        names = params.get(node["task"], [])
        if all(isinstance(a, dict) and "name" in a for a in args):
            arguments = {a["name"]: a.get("value") for a in args}
        elif names == ["inputs"]:
            arguments = {"inputs": [str(a) for a in args]}
        else:
            arguments = dict(zip(names, args))
        calls.append((node["task"], arguments))
    steps = record.get("task_steps")
    steps = _json(steps, "task_steps") if steps is not None else None
    clean = None
    if isinstance(steps, list) and len(steps) == len(calls):
        clean = [
            re.sub(r"^\s*step\s*\d+\s*[:.)-]\s*", "", str(s), flags=re.IGNORECASE).strip() for s in steps
        ]
    return Row(tools, query.strip(), calls, steps=clean if clean and all(clean) else None)


READERS: dict[str, Callable[[Mapping, Mapping], Row]] = {
    "openai": read_openai,
    "xlam": read_xlam,
    "hermes": read_hermes,
    "sharegpt": read_sharegpt,
    "glaive": read_glaive,
    "toolace": read_toolace,
    "taskbench": read_taskbench,
}


def detect(record: Any) -> str | None:
    """The format a record's keys say (None when no format fits)."""
    if not isinstance(record, dict):
        return None
    keys = set(record)
    if "messages" in keys:
        return "openai"
    if {"query", "answers"} <= keys:
        return "xlam"
    if {"user_request", "task_nodes"} <= keys:
        return "taskbench"
    if {"system", "chat"} <= keys:
        return "glaive"
    turns = record.get("conversations")
    if isinstance(turns, list):
        froms = {t.get("from") for t in turns if isinstance(t, dict)}
        if "function_call" in froms or "observation" in froms or "tools" in keys:
            return "sharegpt"
        if "gpt" in froms or "human" in froms:
            return "hermes"
        if "assistant" in froms and "system" in keys:
            return "toolace"
    return None
