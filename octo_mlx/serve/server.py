"""`octo-mlx serve`: OpenAI-compatible chat completions on 127.0.0.1 over one resident base.

``GET /v1/models`` lists the resident adapters and ``base``; ``POST /v1/chat/completions``
(streamed or not) runs the adapter the request's ``model`` names (octo_mlx.serve.engine).
Python's ``ThreadingHTTPServer`` (as mlx_lm.server): one thread per connection reads and writes,
one worker thread generates. Errors are OpenAI's ``{"error": {...}}`` with the HTTP status; a
client that goes away mid-stream cancels its generation and the next request is served.

Nothing here prints: each request is handed to ``on_request`` as a :class:`RequestRecord`.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from octo_mlx.errors import OctoError
from octo_mlx.generation import DEFAULT_LOOKUP
from octo_mlx.serve import protocol
from octo_mlx.serve.engine import Done, Engine, Failed, Started, Text
from octo_mlx.serve.protocol import BASE, ApiError

MAX_BODY_BYTES = 8 * 1024 * 1024  # a request body; the longest prompt any model takes is ~1 MB of text
# the client went away (or stopped reading for _SOCKET_TIMEOUT_S)
_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)
_SOCKET_TIMEOUT_S = 120.0  # a client silent this long mid-body or mid-stream is gone
_DRAIN_S = 10.0  # close() waits this long for requests already read to be answered and logged
_CANCEL_WAIT_S = 30.0  # at most one token's time in practice; a stuck worker must not hang a thread


@dataclass(frozen=True)
class RequestRecord:
    """One served request, for the request log. status: the HTTP status sent; note: what else
    happened (an error's message, "client disconnected")."""

    method: str
    path: str
    status: int
    model: str | None = None
    stream: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    finish_reason: str | None = None
    note: str = ""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Server:
    """The HTTP server over an :class:`Engine`; :meth:`start` serves from a thread (tests),
    :meth:`serve_forever` from the calling one (the CLI).

    Args:
        httpd: a bound ``ThreadingHTTPServer`` (:func:`bind`).
        engine: the engine that runs requests.
        on_request: called with a :class:`RequestRecord` after each request (from its thread).
    """

    def __init__(self, httpd: ThreadingHTTPServer, engine: Engine, on_request: Callable | None = None):
        self.httpd, self.engine = httpd, engine
        self.on_request = on_request or (lambda record: None)
        httpd.octo = self  # the handler finds the server here
        self.host, self.port = httpd.server_address[:2]
        self.created = int(time.time())
        self._thread: threading.Thread | None = None
        self._in_flight = 0  # requests read and not yet logged (an idle kept-alive connection is not one)
        self._drained = threading.Condition()

    @contextmanager
    def handling(self):
        """Counts one request from its first line to its log record, for :meth:`close` to wait on."""
        with self._drained:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._drained:
                self._in_flight -= 1
                self._drained.notify_all()

    @property
    def base_url(self) -> str:
        """The OpenAI ``base_url``: ``http://HOST:PORT/v1``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def start(self) -> Server:
        """Serve from a background thread."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="octo-mlx-serve", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve from this thread until :meth:`close` (or Ctrl-C)."""
        self.httpd.serve_forever()

    def close(self) -> None:
        """Stop serving, stop the worker after the request it is running, wait for every request
        already read to be answered and logged (at most _DRAIN_S), release the port."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=10)
        self.engine.close()
        with self._drained:
            self._drained.wait_for(lambda: self._in_flight == 0, timeout=_DRAIN_S)
        self.httpd.server_close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def bind(host: str = "127.0.0.1", port: int = 8080, allow_remote: bool = False) -> ThreadingHTTPServer:
    """Listen on ``host:port`` (port 0: any free one) before anything loads.

    Raises:
        OctoError: a host that is not loopback without ``allow_remote``, or one that cannot be
            listened on (the port taken, an address not of this machine).
    """
    if not is_loopback(host) and not allow_remote:
        raise OctoError(
            f"{host} is not a loopback address: the server has no authentication; give --host "
            "explicitly to serve beyond this machine",
            "--host",
        )
    try:
        return (_HTTPServer6 if ":" in host else _HTTPServer)((host, port), _Handler)
    except OSError as e:
        raise OctoError(f"cannot listen on {host}:{port}: {e.strerror or e}", "--port") from None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a connection still open does not keep the process alive
    # nor does it keep server_close waiting: ThreadingMixIn joins every connection's thread
    # there, and a client's kept-alive connection sits in a read (Ctrl-C hung in a fresh CI run)
    block_on_close = False


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


def open_pool(model: str | Path | None, adapters: Mapping[str, str | Path], force: bool = False):
    """The base loaded once (``model``, default: the base the first adapter names, else the
    default model) with every adapter resident under its name.

    Raises:
        OctoError: a name that is empty, ``base`` or has a '/', an adapter that is not one of
            this base (octo_mlx.resident.AdapterPool.add).
    """
    from octo_mlx.resident import AdapterPool

    for name in adapters:
        if not name or name == BASE or "/" in name or name != name.strip():
            raise OctoError(f"{name!r} cannot name an adapter ('base' is the bare base)", "--adapter")
    return AdapterPool.with_adapters(model, adapters, force)


def open_server(
    model: str | Path | None,
    adapters: Mapping[str, str | Path],
    host: str = "127.0.0.1",
    port: int = 8080,
    allow_remote: bool = False,
    force: bool = False,
    on_request: Callable | None = None,
    agent_yes: bool = False,
    seed: int = 0,
    lookup: int = DEFAULT_LOOKUP,
) -> Server:
    """`octo-mlx serve`: listen, load the base and the adapters once, start the worker.

    Args:
        model: the base (default: the one the first adapter names, else the default model).
        adapters: request name -> adapter folder.
        host, port: where to listen (port 0: a free one).
        allow_remote: listen on a non-loopback ``host`` (no authentication: on purpose only).
        force: make resident an adapter whose base fingerprint differs (warns).
        on_request: called with each request's :class:`RequestRecord`.
        agent_yes: ``model: agent`` runs calls that change its simulated device (else refused).
        seed: the seed of the agent's simulated device.
        lookup: draft tokens checked per forward pass in greedy decoding (prompt lookup; 0: off).

    Returns:
        the server, listening, not yet serving (:meth:`Server.serve_forever` or :meth:`Server.start`).
    """
    httpd = bind(host, port, allow_remote)
    try:
        engine = Engine(open_pool(model, adapters, force), agent_yes, seed, lookup)
    except BaseException:
        httpd.server_close()
        raise
    return Server(httpd, engine, on_request)


# --- one request -------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server_version = "octo-mlx"
    timeout = _SOCKET_TIMEOUT_S

    @property
    def octo(self) -> Server:
        return self.server.octo

    def log_message(self, format, *args) -> None:  # the request log goes through on_request
        pass

    def _path(self) -> str:
        return urlsplit(self.path).path.rstrip("/")

    def _record(self, status: int, t0: float, **fields) -> None:
        record = RequestRecord(self.command, self._path(), status, seconds=time.perf_counter() - t0, **fields)
        self.octo.on_request(record)

    def _send_json(self, status: int, body: dict) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, error: ApiError, t0: float, **fields) -> None:
        try:
            self._send_json(error.status, error.body())
        except _GONE:
            pass
        self._record(error.status, t0, note=error.message, **fields)

    # --- GET ----------------------------------------------------------------------------------

    def do_GET(self) -> None:
        with self.octo.handling():
            self._get()

    def do_POST(self) -> None:
        with self.octo.handling():
            self._post()

    def _get(self) -> None:
        t0 = time.perf_counter()
        path = self._path()
        entries = [protocol.model_entry(n, task, self.octo.created) for n, task in self.octo.engine.models()]
        if path in ("/v1/models", "/models"):
            self._send_json(200, {"object": "list", "data": entries})
            self._record(200, t0)
        elif path.startswith(("/v1/models/", "/models/")):
            name = path.rpartition("/")[2]
            found = [e for e in entries if e["id"] == name]
            if found:
                self._send_json(200, found[0])
                self._record(200, t0)
            else:
                self._send_error(ApiError(404, f"no model {name!r} here", "model", "model_not_found"), t0)
        else:
            self._send_error(ApiError(404, f"no route GET {path or '/'}", None, "not_found"), t0)

    # --- POST ---------------------------------------------------------------------------------

    def _post(self) -> None:
        t0 = time.perf_counter()
        path = self._path()
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._send_error(ApiError(404, f"no route POST {path or '/'}", None, "not_found"), t0)
            return
        try:
            request = protocol.read_request(self._body())
        except ApiError as e:
            self._send_error(e, t0)
            return
        fields = {"model": request.model, "stream": request.stream}
        try:
            job = self.octo.engine.submit(request)
        except ApiError as e:
            self._send_error(e, t0, **fields)
            return
        events = job.events(self.octo.engine.alive)
        first = next(events)
        if isinstance(first, Failed):
            self._send_error(first.error, t0, **fields)
            return
        assert isinstance(first, Started)
        try:
            if request.stream:
                end = self._stream(request, events)
            else:
                end = next(e for e in events if not isinstance(e, Text))
                if isinstance(end, Done):
                    self._send_json(200, _completion(request, end))
        except _GONE:
            events.close()  # cancels the job; wait for the worker to let go of the model
            job.finished.wait(_CANCEL_WAIT_S)
            note = f"client disconnected after {job.tokens} tokens"
            self._record(
                200, t0, prompt_tokens=first.prompt_tokens, completion_tokens=job.tokens, note=note, **fields
            )
            return
        if isinstance(end, Failed):
            if not request.stream:
                self._send_error(end.error, t0, **fields)
            else:
                self._record(end.error.status, t0, note=end.error.message, **fields)
            return
        r = end.reply
        self._record(
            200,
            t0,
            prompt_tokens=r.prompt_tokens,
            completion_tokens=r.completion_tokens,
            finish_reason=r.finish_reason,
            note=(r.problem or {}).get("message", ""),
            **fields,
        )

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None:
            raise ApiError(411, "a request body needs a Content-Length", None, "length_required")
        try:
            n = int(length)
        except ValueError:
            raise ApiError(400, f"Content-Length is not a number: {length!r}") from None
        if n < 0 or n > MAX_BODY_BYTES:
            raise ApiError(413, f"a body of {n} bytes (at most {MAX_BODY_BYTES})", None, "body_too_large")
        try:
            return self.rfile.read(n)
        except TimeoutError:
            raise ApiError(
                408, f"the body did not arrive in {_SOCKET_TIMEOUT_S:.0f} s", None, "timeout"
            ) from None

    def _sse(self, body: dict | str) -> None:
        data = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        self.wfile.write(f"data: {data}\n\n".encode())

    def _stream(self, request, events):
        """Server-sent events: the role, the text (or the tool call), the finish, [DONE]."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self._sse(protocol.chunk(request, {"role": "assistant", "content": ""}))
        for event in events:
            if isinstance(event, Text):
                self._sse(protocol.chunk(request, {"content": event.text}))
                continue
            if isinstance(event, Failed):
                self._sse(event.error.body())
                return event
            r = event.reply
            if r.tool_calls:
                calls = [{"index": i, **c} for i, c in enumerate(r.tool_calls)]
                self._sse(protocol.chunk(request, {"tool_calls": calls}))
            self._sse(protocol.chunk(request, {}, r.finish_reason))
            if request.include_usage:
                self._sse(
                    protocol.chunk(request, None, counts=protocol.usage(r.prompt_tokens, r.completion_tokens))
                )
            self._sse("[DONE]")
            return event
        return Failed(ApiError(500, "the generation ended without a reply"))


def _completion(request, done: Done) -> dict:
    r = done.reply
    message = {"role": "assistant", "content": r.content}
    if r.tool_calls:
        message["tool_calls"] = r.tool_calls
    extra = {"problem": r.problem} if r.problem is not None else {}
    if r.agent is not None:
        extra["agent"] = r.agent
    return protocol.completion(
        request, message, r.finish_reason, protocol.usage(r.prompt_tokens, r.completion_tokens), **extra
    )
