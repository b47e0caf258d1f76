"""The one client for OpenAI-compatible endpoints (teacher, LLM judge, the tools action backend):
cache, retries, usage counts.

We use the ``openai`` client with ``max_retries=0`` and retry in our own loop, because the
client's loop does not retry a 200 whose body is not a chat completion (a proxy's HTML page, a
truncated JSON body): here those are retried like timeouts, dropped connections, 429 and 5xx,
with exponential backoff and jitter (0.5 s, 1 s, 2 s ... capped at 30 s; a 429's Retry-After
wins when given). What waiting cannot fix fails at once: a refused connection (nothing listens
there: :class:`EndpointUnreachable`) and a base URL that is not an http(s) URL (an OctoError
before any request, :func:`check_base_url`).

Replies are cached on disk (:class:`RequestCache`): one file per request, named by the SHA-256 of
what determines the reply (endpoint without credentials, model, messages, sampling parameters,
seed, attempt), written atomically, so a rerun or a resumed run pays nothing twice. API keys
never enter a key, a file or a record: requests are stored without headers, and :func:`scrub`
removes the key from any text (an error message) before it is written.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from octo_mlx.errors import OctoError
from octo_mlx.files import read_text, write_atomic


def safe_base_url(url: str) -> str:
    """The endpoint without user:password, query string or fragment (these may hold secrets)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def check_base_url(url: str, what: str = "base URL") -> str:
    """Refuse, before any request, an endpoint that is not an http(s) URL with a host (a URL that
    is not one would otherwise fail every retry like a network error).

    Args:
        url: the endpoint, e.g. ``http://127.0.0.1:8080/v1``.
        what: how the error names it (e.g. ``"--base-url"``).

    Raises:
        OctoError: not http(s)://HOST[:PORT][/PATH], or a port outside 1..65535.
    """
    shown = _shown_url(url)
    try:
        parts = urlsplit(str(url))
        port = parts.port
    except ValueError as e:  # a port that is not a number or out of range
        raise OctoError(f"not a usable http(s) URL ({e}): {shown!r}", what) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        raise OctoError(f"not an http(s) URL with a host, e.g. http://127.0.0.1:8080/v1: {shown!r}", what)
    return url


def _shown_url(url: str) -> str:
    """:func:`safe_base_url`, or, when it does not parse, the text after its last '@' without a
    query or fragment (where secrets may sit)."""
    try:
        return safe_base_url(url)
    except ValueError:
        return str(url).rpartition("@")[2].split("?")[0].split("#")[0][:80]


def scrub(text: str, secrets: list[str]) -> str:
    """Replace every secret (longer than 3 chars) in ``text`` by ``***``."""
    for s in secrets:
        if s and len(s) > 3:
            text = text.replace(s, "***")
    return text


def request_key(base_url: str, params: dict[str, Any]) -> str:
    """The cache key: SHA-256 of the canonical JSON of the endpoint and the request parameters."""
    blob = json.dumps({"base_url": safe_base_url(base_url), **params}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class RequestCache:
    """Replies on disk, one JSON file per request key (``DIR/ab/abcdef....json``)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The stored reply body, or None (a file that does not parse counts as absent)."""
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            return json.loads(read_text(path))["response"]
        except (OctoError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, request: dict[str, Any], response: dict) -> None:
        """Store a reply with the request that made it (no headers: no API key)."""
        record = {"request": request, "response": response}
        write_atomic(self._path(key), json.dumps(record, ensure_ascii=False))


FORMAT_MODES = ("json_schema", "json_object", "none")  # "auto" starts at json_schema
MAX_RETRY_AFTER_S = 60.0


class EndpointError(RuntimeError):
    """A request that cannot succeed (bad key, unknown model) or still failed after all retries."""


class EndpointUnreachable(EndpointError):
    """Nothing listens at the endpoint (the connection was refused, the host does not resolve):
    raised at the first try, since waiting does not make a server appear."""


class _Transient(Exception):
    def __init__(self, kind: str, detail: str, retry_after: float | None = None):
        super().__init__(detail)
        self.kind, self.retry_after = kind, retry_after


def _in_causes(error: BaseException, names: tuple[str, ...], types: tuple[type, ...] = ()) -> bool:
    """Whether an exception of one of these class names or types is in ``error``'s cause chain."""
    seen: BaseException | None = error
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, types) or type(seen).__name__ in names:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _refused(error: BaseException) -> bool:
    """Whether a connection error means nothing listens there (the transport's ConnectError: a
    refused socket, a host that does not resolve), rather than a dropped or cut-off connection."""
    return _in_causes(error, ("ConnectError",), (ConnectionRefusedError,))


def _bad_url(error: BaseException) -> bool:
    """Whether the transport refused the URL itself (no http(s) scheme, not a URL at all)."""
    return _in_causes(error, ("UnsupportedProtocol", "InvalidURL", "LocalProtocolError"))


@dataclass
class Usage:
    """Counters shared by every request of a run (thread-safe through ``lock``)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    paid_requests: int = 0  # answered by the endpoint in this run
    cached_requests: int = 0  # answered from the cache (no cost)
    retries: Counter = field(default_factory=Counter)  # kind of failure -> retries
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **kw: int) -> None:
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)

    def retried(self, kind: str) -> None:
        with self.lock:
            self.retries[kind] += 1


@dataclass(frozen=True)
class Endpoint:
    """Where one role (teacher or judge) sends its requests."""

    base_url: str
    model: str
    api_key: str = field(default="", repr=False)
    timeout: float = 120.0
    max_retries: int = 6
    backoff: float = 0.5  # first retry delay in seconds; doubles each time
    response_format: str = "auto"  # auto | json_schema | json_object | none


@dataclass(frozen=True)
class Completion:
    """One reply: its text, why it stopped, whether the cache answered; ``tool_calls`` are the
    message's ``tool_calls`` as the server sent them (dicts, unchecked: the caller parses them)."""

    text: str
    finish_reason: str | None
    cached: bool
    tool_calls: tuple = ()


class ChatClient:
    """Cached, retried chat completions for one endpoint (safe to share between threads)."""

    def __init__(self, endpoint: Endpoint, cache: RequestCache | None, usage: Usage, sleep=time.sleep):
        import openai

        check_base_url(endpoint.base_url)
        self.endpoint, self.cache, self.usage, self.sleep = endpoint, cache, usage, sleep
        self._openai = openai
        # openai insists on a key; local servers ignore it. max_retries=0: we retry ourselves.
        self.client = openai.OpenAI(
            base_url=endpoint.base_url,
            api_key=endpoint.api_key or "not-needed",
            timeout=endpoint.timeout,
            max_retries=0,
        )
        start = endpoint.response_format if endpoint.response_format != "auto" else "json_schema"
        self.format_mode = start
        self._secrets = [endpoint.api_key]
        self._jitter = random.Random()

    def _response_format(self, name: str, schema: dict | None) -> dict | None:
        if schema is None:
            return None
        if self.format_mode == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}
        if self.format_mode == "json_object":
            return {"type": "json_object"}
        return None

    def complete(
        self,
        messages: list[dict],
        *,
        temperature: float,
        max_tokens: int,
        seed: int | None = None,
        schema_name: str = "reply",
        schema: dict | None = None,
        attempt: int = 0,
        tools: list[dict] | None = None,
        tool_choice: str | None = None,
    ) -> Completion:
        """One completion: from the cache when this exact request was answered before.

        Args:
            messages: the chat messages.
            temperature, max_tokens, seed: sampling parameters (part of the cache key; no seed
                is sent when None).
            schema_name, schema: the JSON schema asked for through ``response_format`` (None:
                plain text is asked for).
            attempt: which attempt of the task this is (part of the cache key).
            tools, tool_choice: functions offered in the OpenAI tools format and how the model
                may use them ("auto"); both part of the cache key. The reply's
                ``Completion.tool_calls`` holds the calls it made.

        Raises:
            EndpointError: a request that cannot succeed, or all retries failed
                (EndpointUnreachable when nothing listens at the endpoint).
        """
        while True:
            params: dict[str, Any] = dict(
                model=self.endpoint.model,
                messages=messages,
                temperature=temperature,
                max_tokens=max_tokens,
            )
            if seed is not None:
                params["seed"] = seed
            if tools:
                params["tools"] = tools
                if tool_choice is not None:
                    params["tool_choice"] = tool_choice
            # The key leaves response_format out: it is how we ask for JSON (downgraded when a
            # server refuses it), not what we ask, so a resumed run finds replies either way.
            key = request_key(self.endpoint.base_url, {**params, "attempt": attempt})
            fmt = self._response_format(schema_name, schema)
            if fmt is not None:
                params["response_format"] = fmt
            body = self.cache.get(key) if self.cache is not None else None
            if body is not None:
                self.usage.add(cached_requests=1)
                return _completion(body, cached=True)
            try:
                body = self._request(params)
            except _FormatUnsupported:
                mode = FORMAT_MODES.index(self.format_mode)
                self.format_mode = FORMAT_MODES[min(mode + 1, len(FORMAT_MODES) - 1)]
                continue
            if self.cache is not None:
                record = {"base_url": safe_base_url(self.endpoint.base_url), **params, "attempt": attempt}
                self.cache.put(key, record, body)
            usage = body.get("usage") or {}
            self.usage.add(
                paid_requests=1,
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
            )
            return _completion(body, cached=False)

    def _request(self, params: dict) -> dict:
        last = ""
        for retry in range(self.endpoint.max_retries + 1):
            try:
                return self._once(params)
            except _Transient as e:
                last = f"{e.kind}: {e}"
                if retry == self.endpoint.max_retries:
                    break
                self.usage.retried(e.kind)
                delay = min(30.0, self.endpoint.backoff * 2**retry)
                delay += self._jitter.uniform(0, delay)  # jitter: concurrent workers spread out
                if e.retry_after is not None:
                    delay = max(delay, min(e.retry_after, MAX_RETRY_AFTER_S))
                self.sleep(delay)
        raise EndpointError(
            scrub(
                f"{self.endpoint.model} at {safe_base_url(self.endpoint.base_url)}: gave up after "
                f"{self.endpoint.max_retries} retries; last error {last}",
                self._secrets,
            )
        )

    def _once(self, params: dict) -> dict:
        openai = self._openai
        try:
            raw = self.client.chat.completions.with_raw_response.create(**params)
            text = raw.http_response.text
        except openai.APITimeoutError as e:
            raise _Transient("timeout", str(e)) from None
        except openai.APIConnectionError as e:  # refused, reset, truncated body
            detail = str(e.__cause__ or e)
            where = f"{self.endpoint.model} at {safe_base_url(self.endpoint.base_url)}"
            if _refused(e):  # nothing listens there: retrying for a minute changes nothing
                raise EndpointUnreachable(
                    scrub(f"{where}: cannot connect ({detail}); is the server running?", self._secrets)
                ) from None
            if _bad_url(e):
                raise EndpointError(
                    scrub(f"{where}: the URL was refused ({detail})", self._secrets)
                ) from None
            raise _Transient("connection", detail) from None
        except openai.RateLimitError as e:
            raise _Transient("429", _short(e), _retry_after(e.response)) from None
        except openai.APIStatusError as e:
            code = e.status_code
            if code >= 500 or code in (408, 409):
                raise _Transient(str(code), _short(e), _retry_after(e.response)) from None
            asked_format = "response_format" in params
            if code in (400, 422) and asked_format and "format" in _short(e).lower():
                raise _FormatUnsupported() from None
            raise EndpointError(
                scrub(f"{safe_base_url(self.endpoint.base_url)} answered {code}: {_short(e)}", self._secrets)
            ) from None
        try:
            body = json.loads(text)
            message = body["choices"][0]["message"]
            # a reply that makes tool calls may leave its content out
            content = message.get("content") if message.get("tool_calls") else message["content"]
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise _Transient("malformed", f"not a chat completion: {text[:80]!r}") from None
        if content is not None and not isinstance(content, str):
            raise _Transient("malformed", "message content is not a string")
        return body


class _FormatUnsupported(Exception):
    pass


def _completion(body: dict, cached: bool) -> Completion:
    choice = body["choices"][0]
    calls = choice["message"].get("tool_calls")
    calls = tuple(calls) if isinstance(calls, list) else ()
    return Completion(choice["message"].get("content") or "", choice.get("finish_reason"), cached, calls)


def _short(e: Exception) -> str:
    return " ".join(str(e).split())[:200]


def _retry_after(response: Any) -> float | None:
    try:
        return float(response.headers.get("retry-after"))
    except (AttributeError, TypeError, ValueError):
        return None
