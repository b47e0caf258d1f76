"""The OpenAI chat-completions wire format: a request body read into a :class:`ChatRequest`
(every field checked, one :class:`ApiError` naming the first bad one), and the bodies the server
sends back (completions, stream chunks, the model list, errors). Plain data, no model here.

What is honoured and what is ignored is listed in docs/serve.md; a field whose meaning cannot
be honoured and would change the answer (``n`` > 1, ``logprobs``, a JSON ``response_format``)
is refused rather than silently ignored.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

BASE = "base"  # the model name of the bare base (no adapter on)
AGENT = "agent"  # the model name of the whole agent loop (a planner and an action adapter resident)
DEFAULT_MAX_TOKENS = 512  # mlx_lm.server's default; a plan is ~60-80 tokens
MAX_STOP = 4  # stop strings per request, as OpenAI allows
ROLES = ("system", "developer", "user", "assistant", "tool")


class ApiError(Exception):
    """An error response: HTTP ``status`` and OpenAI's ``{"error": {message, type, param, code}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        type: str | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.type = type or ("invalid_request_error" if status < 500 else "server_error")

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class ChatRequest:
    """One chat-completions request, checked.

    messages: ``{"role", "content"}`` dicts (text content; "developer" read as "system"), plus
    ``tool_calls`` / ``tool_call_id`` where the client gave them; max_tokens: None when the
    client gave none (each kind of model has its default); tools: the function names offered,
    None when no ``tools`` were given.
    """

    model: str
    messages: tuple[dict, ...]
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    tools: tuple[str, ...] | None = None
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex[:24]}")
    created: int = field(default_factory=lambda: int(time.time()))


def _number(body: dict, name: str, low: float, high: float, default: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ApiError(400, f"'{name}' must be a number, got {value!r}", name, "invalid_type")
    if not low <= value <= high:
        raise ApiError(400, f"'{name}' must be in [{low}, {high}], got {value}", name, "invalid_value")
    return float(value)


def _integer(body: dict, name: str, low: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"'{name}' must be an integer, got {value!r}", name, "invalid_type")
    if value < low:
        raise ApiError(400, f"'{name}' must be >= {low}, got {value}", name, "invalid_value")
    return value


def _text(content: Any, where: str) -> str:
    """A message's content as text: a string, null, or a list of text parts."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        texts = []
        for part in content:
            if (
                not isinstance(part, dict)
                or part.get("type") != "text"
                or not isinstance(part.get("text"), str)
            ):
                raise ApiError(400, f"{where}: only text content parts are supported", where, "invalid_value")
            texts.append(part["text"])
        return "".join(texts)
    raise ApiError(400, f"{where}: content must be a string or a list of text parts", where, "invalid_type")


def _messages(value: Any) -> tuple[dict, ...]:
    if value is None:
        raise ApiError(400, "'messages' is required", "messages", "missing_required_parameter")
    if not isinstance(value, list) or not value:
        raise ApiError(400, "'messages' must be a non-empty list", "messages", "invalid_value")
    out = []
    for i, m in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise ApiError(400, f"{where}: a message is an object with a role in {list(ROLES)}", where)
        message = {"role": "system" if m["role"] == "developer" else m["role"]}
        message["content"] = _text(m.get("content"), f"{where}.content")
        if m["role"] == "assistant" and isinstance(m.get("tool_calls"), list):
            message["tool_calls"] = m["tool_calls"]
        if m["role"] == "tool":
            message["tool_call_id"] = str(m.get("tool_call_id") or "")
        out.append(message)
    return tuple(out)


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if (
        not isinstance(stops, list)
        or len(stops) > MAX_STOP
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise ApiError(400, f"'stop' is a non-empty string or a list of at most {MAX_STOP}", "stop")
    return tuple(stops)


def _tools(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ApiError(400, "'tools' must be a list", "tools", "invalid_type")
    names = []
    for i, tool in enumerate(value):
        tool = tool if isinstance(tool, dict) else {}
        function = tool.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if tool.get("type", "function") != "function" or not isinstance(name, str) or not name:
            raise ApiError(400, f"tools[{i}]: a tool is {{type: function, function: {{name, ...}}}}", "tools")
        names.append(name)
    return tuple(names)


def read_request(raw: bytes) -> ChatRequest:
    """The checked request of a chat-completions body.

    Raises:
        ApiError: 400 for a body that is not a JSON object, a missing or bad field, or one whose
            meaning cannot be honoured (n > 1, logprobs, a JSON response_format).
    """
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as e:  # nested past the parser's depth: RecursionError
        raise ApiError(400, f"the body is not JSON: {e}", None, "invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object", None, "invalid_json")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "'model' is required: a resident adapter's name, or 'base'", "model")
    if body.get("n") not in (None, 1):
        raise ApiError(400, "only n = 1 is supported", "n", "invalid_value")
    if body.get("logprobs"):
        raise ApiError(400, "logprobs are not supported", "logprobs", "invalid_value")
    fmt = body.get("response_format")
    if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type") != "text"):
        raise ApiError(400, "only response_format {type: text} is supported", "response_format")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise ApiError(400, "'stream_options' must be an object", "stream_options", "invalid_type")
    stream = body.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise ApiError(400, f"'stream' must be true or false, got {stream!r}", "stream", "invalid_type")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ApiError(400, f"'seed' must be an integer, got {seed!r}", "seed", "invalid_type")
    max_tokens = _integer(body, "max_completion_tokens", 1)
    return ChatRequest(
        model=model,
        messages=_messages(body.get("messages")),
        stream=bool(stream),
        include_usage=bool((options or {}).get("include_usage")),
        max_tokens=max_tokens if max_tokens is not None else _integer(body, "max_tokens", 1),
        temperature=_number(body, "temperature", 0.0, 2.0, 0.0),
        top_p=_top_p(body),
        stop=_stop(body.get("stop")),
        seed=None if seed is None else seed % 2**32,  # MLX seeds are 32-bit
        tools=_tools(body.get("tools")),
    )


def _top_p(body: dict) -> float:
    top_p = _number(body, "top_p", 0.0, 1.0, 1.0)
    if top_p == 0:  # mlx-lm reads 0 as "off"; OpenAI as "only the likeliest token": neither guessed
        raise ApiError(400, "'top_p' must be in (0, 1], got 0 (use temperature 0 for greedy)", "top_p")
    return top_p


def last_user_text(messages: tuple[dict, ...]) -> str:
    """The last user message's text: what ``model: agent`` is asked.

    Raises:
        ApiError: 400 when there is no user message, or it is empty.
    """
    users = [m for m in messages if m["role"] == "user"]
    if not users or not users[-1]["content"].strip():
        raise ApiError(400, "'messages' needs a non-empty user message", "messages")
    return users[-1]["content"].strip()


def action_step(messages: tuple[dict, ...]) -> tuple[str, dict | None]:
    """What an action model answers: the step (the last user message) and the previous call's
    observation: the last ``tool`` message between the user message before and the step.

    A tool message whose content is a JSON object with a ``function`` key is the simulator's
    observation as it is; any other content (JSON, else its text) is the ``result`` of the call
    that the message answers (found by ``tool_call_id`` among the assistant's ``tool_calls``).

    Raises:
        ApiError: 400 when there is no user message, or the step is empty.
    """
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    if not users:
        raise ApiError(400, "an action model needs a user message: the step to turn into a call", "messages")
    last = users[-1]
    step = messages[last]["content"]
    if not step.strip():
        raise ApiError(400, "the step (the last user message) is empty", "messages")
    since = messages[users[-2] + 1 if len(users) > 1 else 0 : last]
    answers = [m for m in since if m["role"] == "tool"]
    if not answers:
        return step, None
    tool = answers[-1]
    try:
        value = json.loads(tool["content"])
    except (ValueError, RecursionError):  # not JSON (or nested past the parser's depth): text
        value = tool["content"]
    if isinstance(value, dict) and "function" in value:
        return step, value
    called = {
        c.get("id"): c.get("function")
        for m in since
        for c in m.get("tool_calls") or []
        if isinstance(c, dict) and isinstance(c.get("function"), dict)
    }.get(tool["tool_call_id"]) or {}
    try:
        arguments = json.loads(called.get("arguments") or "{}")
    except (TypeError, ValueError, RecursionError):
        arguments = {}
    name = called.get("name") if isinstance(called.get("name"), str) else "?"
    return step, {
        "function": name,
        "arguments": arguments if isinstance(arguments, dict) else {},
        "ok": True,
        "result": value,
        "error": None,
    }


# --- what goes back -----------------------------------------------------------------------------


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def tool_call(name: str, arguments: str) -> dict:
    """One OpenAI tool call (a stream chunk adds its ``index``)."""
    return {
        "id": f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


def completion(request: ChatRequest, message: dict, finish_reason: str, counts: dict, **extra) -> dict:
    """A ``chat.completion`` body (``extra``: more fields on the choice, e.g. ``problem``)."""
    return {
        "id": request.id,
        "object": "chat.completion",
        "created": request.created,
        "model": request.model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None, **extra}
        ],
        "usage": counts,
    }


def chunk(request: ChatRequest, delta: dict | None, finish_reason: str | None = None, counts=None) -> dict:
    """A ``chat.completion.chunk`` body; ``delta`` None: the usage chunk (no choices)."""
    body = {
        "id": request.id,
        "object": "chat.completion.chunk",
        "created": request.created,
        "model": request.model,
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }
    if counts is not None:
        body["usage"] = counts
    return body


def model_entry(name: str, task: str, created: int) -> dict:
    """One entry of ``GET /v1/models`` (``task``: "plan", "action", or "base")."""
    return {"id": name, "object": "model", "created": created, "owned_by": "octo-mlx", "task": task}
