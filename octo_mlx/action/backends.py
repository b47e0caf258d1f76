"""Action backends: what turns a step into one function call, behind one interface.

A backend answers ``act_many([(step, observation), ...], active) -> [DecodedCall]``: one result
per step, in order, each with the model's ``text``, the checked ``call`` (or None), why not as a
typed ``problem`` (:class:`octo_mlx.functions.calls.CallProblem`, or None) and the raw
``generation`` (tokens, ``seconds``). A bad model output is a problem in the result, never an
exception; bad input (a prompt that does not fit, an unknown domain, an endpoint that does not
answer) is an OctoError. Three backends:

- :class:`octo_mlx.action.model.ActionModel`: ours (functional tokens, decoded under the call
  grammar: every call valid).
- :class:`LocalToolsModel`: any chat model whose chat template takes ``tools``, run here through
  mlx-lm: the functions of the active domains go in as OpenAI tools, the step (and the previous
  observation) as the user turn (:func:`octo_mlx.syntax.action_messages`), and the output is
  read for one tool call. With ``tools_prompt="hermes"`` the tools go in a system turn written
  as Qwen 3's template writes them (:func:`hermes_tools_prompt`) instead: any chat model, its
  template tools-aware or not (SmolLM2's drops ``tools``), prompted the general-agent way.
- :class:`OpenAIToolsModel`: any OpenAI-compatible endpoint, through the one client
  (:class:`octo_mlx.llm.ChatClient`): tools in (``tool_choice`` "auto"), the first of
  ``message.tool_calls`` out; a server that returns tool calls as text is read like a local model.

Reading a tool call (:func:`parse_tool_output`) uses ``json`` only, never ``eval``, in the
formats of the common chat templates::

    <tool_call>{"name": "f", "arguments": {...}}</tool_call>     Hermes, Qwen 2.5 / 3 (text may precede it)
    <|python_tag|>{"name": "f", "parameters": {...}}             Llama 3.x (the tag is optional)
    {"name": "f", "arguments": {...}}                            a bare JSON object
    [TOOL_CALLS][{"name": "f", "arguments": {...}}]              Mistral (also [TOOL_CALLS]f[ARGS]{...})

Text with no tool call is an answer without a function: ``Call(NO_CALL)``. Everything else is a
CallProblem: "too_long" (an output past MAX_OUTPUT_CHARS or a call past MAX_CALL_CHARS, refused
before parsing), "syntax" (not one JSON call: unbalanced brackets, a Python expression, two calls,
text after the call, keys given twice), "unterminated" (``<tool_call>`` never closed, or the
output cut at the token limit inside a call), "unknown_function", "out_of_domain" (a function of
the backend's domains outside the active ones), then the schema's "unknown_argument",
"missing_argument", "invalid_argument" (:func:`octo_mlx.functions.calls.check_call`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from octo_mlx.action.constrain import DecodedCall
from octo_mlx.errors import OctoError
from octo_mlx.functions.calls import (
    MAX_ARGUMENTS_CHARS,
    NO_CALL,
    Call,
    CallProblem,
    _no_constant,
    _no_key_twice,
    check_call,
    parse_arguments,
)
from octo_mlx.functions.contract import Domain, Function
from octo_mlx.generation import END_MARKERS, Generation
from octo_mlx.syntax import action_messages

DEFAULT_MAX_TOKENS = 256  # a bundled call in JSON is < 100 tokens; a preface or a thought may come first
MAX_CALL_CHARS = MAX_ARGUMENTS_CHARS + 256  # one call's JSON: its arguments plus name and keys
MAX_OUTPUT_CHARS = 4 * MAX_ARGUMENTS_CHARS  # a whole output (preface included), refused unread past it
OPEN, CLOSE = "<tool_call>", "</tool_call>"
MISTRAL = "[TOOL_CALLS]"
LLAMA_TAG = "<|python_tag|>"
_TRAILERS = (*END_MARKERS, "<|eom_id|>")  # Llama 3.1 ends a tool-call turn with <|eom_id|>
_HEADER = re.compile(r"([A-Za-z_][\w.-]{0,63})\s*\[ARGS\]")  # Mistral's NAME[ARGS]{...}
_CALL_KEYS = ("name", "arguments", "parameters", "id")
_SHOWN = 60  # characters of model output quoted in a problem's message


@runtime_checkable
class ActionBackend(Protocol):
    """What the agent needs from an action model (ActionModel, LocalToolsModel, OpenAIToolsModel)."""

    def functions(self, active: Iterable[str] | None = None) -> list[Function]:
        """The functions of the active domains (default: every domain the backend serves)."""
        ...

    def act_many(
        self, steps: Sequence[tuple[str, Mapping | None]], active: Iterable[str] | None = None
    ) -> list[DecodedCall]:
        """One result per (step, previous observation), in order."""
        ...


# --- reading a tool call ------------------------------------------------------------------------


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


def _decode_json(text: str, what: str) -> tuple[Any, str]:
    """The JSON value at the start of ``text`` (leading spaces skipped) and the text after it.

    Raises:
        CallProblem: "syntax" (no JSON value there, NaN/Infinity, a key given twice, nesting too
            deep, an integer too long to read), "too_long" (a value past MAX_CALL_CHARS).
    """
    body = text.lstrip()
    decoder = json.JSONDecoder(object_pairs_hook=_no_key_twice, parse_constant=_no_constant)
    try:
        value, end = decoder.raw_decode(body)
    except CallProblem:
        raise
    except json.JSONDecodeError as e:
        raise CallProblem("syntax", f"{what} is not JSON: {e.msg} at character {e.pos}") from None
    except RecursionError:
        raise CallProblem("syntax", f"{what} nests too deeply") from None
    except ValueError as e:  # an integer of more than 4300 digits
        raise CallProblem("syntax", f"{what} is not readable JSON: {e}") from None
    if end > MAX_CALL_CHARS:
        raise CallProblem("too_long", f"{what} of {end} characters (at most {MAX_CALL_CHARS})")
    return value, body[end:]


def _one_json(text: str, what: str) -> Any:
    """Exactly one JSON value in ``text`` (spaces around it allowed), checked for length first."""
    if len(text) > MAX_CALL_CHARS:
        raise CallProblem("too_long", f"{what} of {len(text)} characters (at most {MAX_CALL_CHARS})")
    value, rest = _decode_json(text, what)
    if rest.strip():
        raise CallProblem("syntax", f"text after {what}: {_shown(rest.strip())}")
    return value


def checked_call(
    name: Any, arguments: Any, active: Mapping[str, Function], known: Iterable[str] = ()
) -> Call:
    """The call of function ``name`` with ``arguments`` (a dict, or its JSON text as the OpenAI
    API sends it), checked against the function's schema; nothing is evaluated.

    Args:
        name, arguments: what the model wrote.
        active: the functions that may be called, by name.
        known: every function name the backend serves (one of them outside ``active`` is
            "out_of_domain" rather than "unknown_function").

    Raises:
        CallProblem: any kind but "unterminated".
    """
    if not isinstance(name, str) or not name:
        raise CallProblem("syntax", f"a tool call names its function as a string, got {_shown(repr(name))}")
    if name not in active:
        if name in set(known):
            raise CallProblem("out_of_domain", f"{name} is in no active domain", name)
        raise CallProblem("unknown_function", f"no function {_shown(name)} among the {len(active)} offered")
    if isinstance(arguments, str):
        arguments = parse_arguments(arguments, name)
    elif not isinstance(arguments, dict):
        raise CallProblem("syntax", f"arguments must be a JSON object, got {type(arguments).__name__}", name)
    else:
        size = len(json.dumps(arguments, ensure_ascii=False))
        if size > MAX_ARGUMENTS_CHARS:
            raise CallProblem(
                "too_long", f"arguments of {size} characters (at most {MAX_ARGUMENTS_CHARS})", name
            )
    try:
        return check_call(Call(name, arguments), active[name])
    except RecursionError:  # a value nested deeper than the schema checker goes
        raise CallProblem("syntax", "arguments nest too deeply", name) from None


def _call_of(value: Any, active: Mapping[str, Function], known: Iterable[str]) -> Call:
    """A call from its JSON form ``{"name": F, "arguments": {...}}`` (Llama: ``"parameters"``)."""
    if not isinstance(value, dict):
        raise CallProblem(
            "syntax", f'a tool call is {{"name": ..., "arguments": {{...}}}}, got {type(value).__name__}'
        )
    unknown = [k for k in value if k not in _CALL_KEYS]
    if unknown:
        raise CallProblem("syntax", f"a tool call has no key {_shown(unknown[0])}")
    if "arguments" in value and "parameters" in value:
        raise CallProblem("syntax", "a tool call gives both 'arguments' and 'parameters'")
    arguments = value.get("arguments", value.get("parameters", {}))
    return checked_call(value.get("name"), arguments, active, known)


def _one_call(calls: list, what: str) -> Any:
    if len(calls) != 1:
        raise CallProblem("syntax", f"{len(calls)} tool calls in {what}: a step takes one call")
    return calls[0]


def _without_trailers(text: str) -> str:
    for marker in _TRAILERS:
        text = text.replace(marker, "")
    return text


def parse_tool_output(
    text: str, active: Iterable[Function] | Mapping[str, Function], known: Iterable[str] = ()
) -> Call:
    """The tool call a chat model wrote, checked against its function's schema; ``Call(NO_CALL)``
    when it answered without one. Formats and problems: see the module's docstring.

    Args:
        text: the model's output (end markers may be left in).
        active: the functions offered (a call of any other is refused).
        known: every function the backend serves (for "out_of_domain").

    Raises:
        CallProblem: and nothing else, whatever the text.
    """
    if not isinstance(text, str):
        raise CallProblem("syntax", f"model output must be text, got {type(text).__name__}")
    if len(text) > MAX_OUTPUT_CHARS:
        raise CallProblem("too_long", f"an output of {len(text)} characters (at most {MAX_OUTPUT_CHARS})")
    active = dict(active) if isinstance(active, Mapping) else {f.name: f for f in active}
    known = set(known)
    body = _without_trailers(text)
    if OPEN in body or CLOSE in body:  # Hermes / Qwen
        start = body.find(OPEN)
        if start < 0 or CLOSE in body[:start]:
            raise CallProblem("syntax", f"{CLOSE} before any {OPEN}")
        if body.count(OPEN) > 1:
            raise CallProblem("syntax", f"{body.count(OPEN)} tool calls: a step takes one call")
        end = body.find(CLOSE, start)
        if end < 0:
            raise CallProblem("unterminated", f"{OPEN} never closed: the output stopped inside the call")
        after = body[end + len(CLOSE) :].strip()
        if after:
            raise CallProblem("syntax", f"text after the tool call: {_shown(after)}")
        value = _one_json(body[start + len(OPEN) : end], "the tool call")
        return _call_of(value, active, known)
    if MISTRAL in body:
        if body.count(MISTRAL) > 1:
            raise CallProblem("syntax", f"{body.count(MISTRAL)} tool calls: a step takes one call")
        payload = body[body.find(MISTRAL) + len(MISTRAL) :].lstrip()
        if payload.startswith("["):
            value = _one_json(payload, "the tool calls")
            if not isinstance(value, list):
                raise CallProblem("syntax", f"{MISTRAL} takes a JSON list of calls")
            return _call_of(_one_call(value, MISTRAL), active, known)
        header = _HEADER.match(payload)
        if header is None:
            raise CallProblem(
                "syntax", f"after {MISTRAL}: neither [calls] nor NAME[ARGS]{{...}}: {_shown(payload)}"
            )
        arguments, rest = _decode_json(payload[header.end() :], "the arguments")
        if _HEADER.match(rest.lstrip()):
            raise CallProblem("syntax", "2 tool calls or more: a step takes one call")
        if rest.strip():
            raise CallProblem("syntax", f"text after the tool call: {_shown(rest.strip())}")
        return checked_call(header.group(1), arguments, active, known)
    stripped = body.strip()
    tagged = stripped.startswith(LLAMA_TAG)
    if tagged:
        stripped = stripped[len(LLAMA_TAG) :].lstrip()
    if stripped.startswith("{"):  # Llama 3.x, a bare JSON object
        return _call_of(_one_json(stripped, "the tool call"), active, known)
    if stripped.startswith("[") and stripped[1:].lstrip().startswith("{"):  # a list of calls
        value = _one_json(stripped, "the tool calls")
        return _call_of(_one_call(value, "a list") if isinstance(value, list) else value, active, known)
    if tagged:
        raise CallProblem("syntax", f"after {LLAMA_TAG} only a JSON tool call is read: {_shown(stripped)}")
    return Call(NO_CALL)


def _result(text: str, parse, generation: Generation, steps: int | None = None) -> DecodedCall:
    """A backend's result: ``parse()``'s call, or its problem ("unterminated" when the output was
    cut at the token limit and does not parse)."""
    call, problem = None, None
    try:
        call = parse()
    except CallProblem as p:
        problem = p
        if generation.finish_reason == "length" and p.kind == "syntax":
            problem = CallProblem("unterminated", f"cut at the token limit: {p.message}", p.function)
    return DecodedCall(text, call, problem, generation, generation.gen_tokens if steps is None else steps)


# --- the backends -------------------------------------------------------------------------------


def _domains(domains: Sequence[Domain | str | Path] | None) -> list[Domain]:
    from octo_mlx.domains.catalog import load_domains
    from octo_mlx.functions.contract import check_unique

    if domains is not None and all(isinstance(d, Domain) for d in domains):
        check_unique(domains)
        return list(domains)
    return load_domains(domains)


def _active(domains: list[Domain], active: Iterable[str] | None) -> list[Function]:
    names = set(active) if active is not None else None
    if names is not None and not names <= {d.name for d in domains}:
        unknown = sorted(names - {d.name for d in domains})
        raise OctoError(f"the action backend does not serve domain(s) {unknown}")
    functions = [f for d in domains if names is None or d.name in names for f in d]
    if not functions:
        raise OctoError("no function to offer: the active domains are empty")
    return functions


TOOLS_PROBE = Function("octo_probe_tool", "probe", {"type": "object", "properties": {}})
TOOLS_PROMPTS = ("template", "hermes")  # how LocalToolsModel gives a model its tools


def hermes_tools_prompt(tools: Sequence[Mapping[str, Any]]) -> str:
    """The system turn that offers ``tools`` (OpenAI tools JSON) in the Hermes 2 Pro form, word for
    word as the chat templates of Qwen 2.5 and Qwen 3 write it (Qwen 3's when no system message
    is given): one tool per line inside ``<tools></tools>``, a call asked for as
    ``<tool_call>{"name": ..., "arguments": ...}</tool_call>``, which :func:`parse_tool_output`
    reads. Used for models whose own template drops ``tools``.
    """
    listed = "".join("\n" + json.dumps(t, ensure_ascii=False) for t in tools)  # jinja's tojson
    return (
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        f"You are provided with function signatures within <tools></tools> XML tags:\n<tools>{listed}\n"
        "</tools>\n\nFor each function call, return a json object with function name and arguments "
        f'within {OPEN}{CLOSE} XML tags:\n{OPEN}\n{{"name": <function-name>, "arguments": '
        f"<args-json-object>}}\n{CLOSE}"
    )


def check_tools_template(tokenizer, where: str | Path | None = None) -> None:
    """Refuse a tokenizer whose chat template drops ``tools`` (the model would never see the
    functions): the template is rendered with and without one probe tool.

    Raises:
        OctoError: no chat template, one that fails with tools, or one that ignores them.
    """
    turn = [{"role": "user", "content": "probe"}]
    try:
        plain = tokenizer.apply_chat_template(turn, add_generation_prompt=True, tokenize=False)
        tooled = tokenizer.apply_chat_template(
            turn, tools=[TOOLS_PROBE.to_tool()], add_generation_prompt=True, tokenize=False
        )
    except Exception as e:  # no template (ValueError), a jinja error
        detail = " ".join(str(e).split())[:120]
        raise OctoError(f"its chat template cannot take tools: {type(e).__name__}: {detail}", where) from None
    if tooled == plain or TOOLS_PROBE.name not in tooled:
        raise OctoError(
            "its chat template ignores tools: the tools backend needs a tools-aware template "
            "(Qwen 2.5/3, Llama 3.1+, Hermes, Mistral...)",
            where,
        )


@dataclass
class LocalToolsModel:
    """A chat model offered the functions as tools, run locally through mlx-lm (greedy decoding).

    Args:
        model, tokenizer: as loaded by :func:`octo_mlx.models.loading.load_model`.
        domains: the domains whose functions it is offered (the active ones by default).
        max_tokens: most generated tokens per step.
        batch_size: steps decoded together.
        tools_prompt: "template" (the chat template's own ``tools``: it must take them) or
            "hermes" (a system turn of :func:`hermes_tools_prompt` before the step, the template
            given no ``tools``: for any chat model, e.g. SmolLM2 whose template drops them).
        today: the ISO date calendar words in a step are resolved against (None: the step as
            written), as :class:`octo_mlx.action.model.ActionModel` does for a model trained so.
    """

    model: Any
    tokenizer: Any
    domains: list[Domain]
    max_tokens: int = DEFAULT_MAX_TOKENS
    batch_size: int = 8
    tools_prompt: str = "template"
    today: str | None = None

    def __post_init__(self):
        if self.tools_prompt not in TOOLS_PROMPTS:
            raise OctoError(
                f"unknown tools prompt {self.tools_prompt!r} (choose from {', '.join(TOOLS_PROMPTS)})"
            )

    @classmethod
    def load(
        cls, folder: str | Path, domains: Sequence[Domain | str | Path] | None = None, **options
    ) -> LocalToolsModel:
        """A model folder (or hub id) whose chat template takes tools (any chat model with
        ``tools_prompt="hermes"``).

        Args:
            domains: Domain objects or names/files for ``load_domains`` (default: the bundled ones).
            options: max_tokens, batch_size, tools_prompt.

        Raises:
            OctoError: not a model, or its template ignores tools (with "template").
        """
        from octo_mlx.models.loading import load_model

        backend = cls(None, None, _domains(domains), **options)  # options checked before loading
        backend.model, backend.tokenizer, _ = load_model(folder)
        if backend.tools_prompt == "template":
            check_tools_template(backend.tokenizer, folder)
        return backend

    def functions(self, active: Iterable[str] | None = None) -> list[Function]:
        return _active(self.domains, active)

    def prompts(
        self, steps: Sequence[tuple[str, Mapping | None]], functions: list[Function]
    ) -> list[list[int]]:
        """Token ids of each request (the functions as tools), all checked against the context."""
        from octo_mlx.generation import check_prompts, check_texts, encode_prompt, prompt_limit

        limit = prompt_limit(self.model, self.tokenizer, self.max_tokens)
        labels = [f"step {i + 1}" for i in range(len(steps))]
        check_texts([s for s, _ in steps], limit, labels)
        tools = [f.to_tool() for f in functions]
        system = []
        if self.tools_prompt == "hermes":  # the tools in a system turn, none to the template
            system, tools = [{"role": "system", "content": hermes_tools_prompt(tools)}], None
        prompts = [
            encode_prompt(self.tokenizer, system + action_messages(s, o, today=self.today), tools)
            for s, o in steps
        ]
        check_prompts(prompts, limit, labels)
        return prompts

    def act_many(
        self, steps: Sequence[tuple[str, Mapping | None]], active: Iterable[str] | None = None
    ) -> list[DecodedCall]:
        """One result per (step, observation), in order; a bad output is a result's problem."""
        from octo_mlx.generation import generate

        functions = self.functions(active)
        offered = {f.name: f for f in functions}
        known = {f.name for d in self.domains for f in d}
        outputs, _ = generate(
            self.model,
            self.tokenizer,
            self.prompts(steps, functions),
            max_tokens=self.max_tokens,
            batch_size=self.batch_size,
        )
        return [_result(g.text, lambda g=g: parse_tool_output(g.text, offered, known), g) for g in outputs]

    def act(
        self, step: str, observation: Mapping | None = None, active: Iterable[str] | None = None
    ) -> DecodedCall:
        return self.act_many([(step, observation)], active)[0]


@dataclass
class OpenAIToolsModel:
    """Any OpenAI-compatible endpoint, through :class:`octo_mlx.llm.ChatClient` (its retries, its
    errors, its cache when given one), one request per step at temperature 0.

    Text the model writes beside a tool call is ignored (a preface, as many models write); a
    reply with no tool call is read as text by :func:`parse_tool_output` (a server that does not
    parse tool calls returns them there), so plain text is ``Call(NO_CALL)``.
    ``generation.first_token_seconds`` is the whole request (replies are not streamed).
    """

    client: Any  # octo_mlx.llm.ChatClient
    domains: list[Domain]
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 0.0

    @classmethod
    def connect(
        cls,
        base_url: str,
        model: str,
        domains: Sequence[Domain | str | Path] | None = None,
        api_key: str = "",
        timeout: float = 60.0,
        max_retries: int = 2,
        cache: str | Path | None = None,
        **options,
    ) -> OpenAIToolsModel:
        """A client for ``model`` at ``base_url`` (checked before any request).

        Args:
            cache: a folder for a RequestCache (None: every step is asked).
            options: max_tokens, temperature.
        """
        from octo_mlx.llm import ChatClient, Endpoint, RequestCache, Usage

        endpoint = Endpoint(
            base_url, model, api_key, timeout=timeout, max_retries=max_retries, response_format="none"
        )
        client = ChatClient(endpoint, RequestCache(cache) if cache else None, Usage())
        return cls(client, _domains(domains), **options)

    def functions(self, active: Iterable[str] | None = None) -> list[Function]:
        return _active(self.domains, active)

    def act_many(
        self, steps: Sequence[tuple[str, Mapping | None]], active: Iterable[str] | None = None
    ) -> list[DecodedCall]:
        """One result per (step, observation), in order.

        Raises:
            OctoError: the endpoint is unreachable, refuses the request, or still fails after the
                client's retries (one line).
        """
        from octo_mlx.llm import EndpointError

        functions = self.functions(active)
        offered = {f.name: f for f in functions}
        known = {f.name for d in self.domains for f in d}
        tools = [f.to_tool() for f in functions]
        usage = self.client.usage
        out = []
        for step, observation in steps:
            before = (usage.prompt_tokens, usage.completion_tokens)
            t0 = time.perf_counter()
            try:
                reply = self.client.complete(
                    action_messages(step, observation),
                    temperature=self.temperature,
                    max_tokens=self.max_tokens,
                    tools=tools,
                    tool_choice="auto",
                )
            except EndpointError as e:  # its message names the model and the URL (no credentials)
                raise OctoError(" ".join(str(e).split()), "action endpoint") from None
            seconds = time.perf_counter() - t0
            calls = list(reply.tool_calls)
            text = reply.text + (json.dumps(calls, ensure_ascii=False) if calls else "")
            generation = Generation(
                text=text,
                prompt_tokens=usage.prompt_tokens - before[0],
                gen_tokens=usage.completion_tokens - before[1],
                seconds=seconds,
                first_token_seconds=seconds,
                finish_reason=reply.finish_reason or "",
            )
            out.append(_result(text, lambda r=reply: _reply_call(r, offered, known), generation))
        return out

    def act(
        self, step: str, observation: Mapping | None = None, active: Iterable[str] | None = None
    ) -> DecodedCall:
        return self.act_many([(step, observation)], active)[0]


def _reply_call(reply, offered: Mapping[str, Function], known: set[str]) -> Call:
    """The call of one chat completion: its one ``tool_calls`` entry, or its text read as output."""
    calls = list(reply.tool_calls)
    if calls:
        tool = _one_call(calls, "the reply")
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict):
            raise CallProblem("syntax", "a tool call without its 'function' object")
        return checked_call(function.get("name"), function.get("arguments", {}), offered, known)
    if reply.finish_reason == "tool_calls":
        raise CallProblem(
            "syntax",
            "the server says the model called a tool but sent no call "
            "(mlx_lm.server drops a tool call it cannot parse)",
        )
    if reply.finish_reason == "length" and not reply.text.strip():
        raise CallProblem(
            "unterminated", "cut at the token limit with nothing returned (a tool call the server dropped)"
        )
    return parse_tool_output(reply.text, offered, known)


# --- one entry for the CLI ----------------------------------------------------------------------


def open_backend(
    *,
    adapter: str | Path | None = None,
    model: str | None = None,
    tools_model: str | Path | None = None,
    base_url: str | None = None,
    domains: Sequence[str] | None = None,
    api_key: str = "",
    max_tokens: int | None = None,
    timeout: float = 60.0,
    force: bool = False,
) -> tuple[ActionBackend, list[str] | None]:
    """The backend the options name, and the active domains to pass to ``act_many``.

    Exactly one of ``adapter`` (our action model; ``model`` its base, default its own),
    ``tools_model`` (a local tools-aware chat model) or ``base_url`` (an endpoint; ``model`` the
    name it serves). ``domains``: with ``adapter``, the active ones among those it serves; else
    the domains offered (names or tool files; default: the bundled ones).

    Raises:
        OctoError: none or several backends named, a missing ``model`` for an endpoint.
    """
    named = [
        n for n, v in (("--adapter", adapter), ("--tools-model", tools_model), ("--base-url", base_url)) if v
    ]
    if len(named) != 1:
        raise OctoError(
            "name one action model: --adapter DIR, --tools-model DIR or --base-url URL --model NAME"
            + (f" (got {' and '.join(named)})" if named else "")
        )
    options = {} if max_tokens is None else {"max_tokens": max_tokens}
    if adapter:
        from octo_mlx.action.model import ActionModel

        given = _domains(domains) if domains else None  # names or tool files: their Domain objects
        chosen = ActionModel.load(adapter, model, force, domains=given, **options)
        return chosen, ([d.name for d in given] if given else None)
    if tools_model:
        if model:
            raise OctoError(
                "--tools-model is the model: --model goes with --adapter or --base-url", "--model"
            )
        return LocalToolsModel.load(tools_model, domains or None, **options), None
    if not model:
        raise OctoError(
            "an endpoint needs the name of the model it serves (mlx_lm.server: default_model)", "--model"
        )
    return OpenAIToolsModel.connect(base_url, model, domains or None, api_key, timeout, **options), None


def act_steps(steps: Sequence[tuple[str, Mapping | None]], **backend_options) -> list[DecodedCall]:
    """`octo-mlx act`: open the backend the options name (:func:`open_backend`) and act on each
    (step, observation)."""
    if not steps:
        raise OctoError("give at least one STEP")
    backend, active = open_backend(**backend_options)
    return backend.act_many(list(steps), active)
