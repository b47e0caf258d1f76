"""A fault-injecting HTTP proxy for tests: 127.0.0.1, in front of a real OpenAI-compatible server.

The n-th POST it receives (counting from 1) gets the fault scheduled for n, else it is
forwarded untouched. Faults: ``timeout`` (hold the request past the client's timeout, never
forward), ``429`` (with Retry-After), ``500``, ``503``, ``malformed`` (200 with a body that is
not JSON), ``truncated`` (the real reply cut in half, the connection closed before the
announced Content-Length), ``truncated_json`` (the real reply cut in half with a matching
Content-Length: a 200 whose JSON ends early), ``reject_format`` (a 400 saying response_format is
not supported, as some servers answer), ``bad_message_format`` (a 400 about the messages' format,
whatever the request asked). ``forwarded`` counts requests that reached the server
(the "paid" ones); ``delay_s`` slows every forwarded request (to kill a run mid-way);
``authorizations`` keeps the Authorization headers seen (to prove a key was really sent).
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = (
    "timeout",
    "429",
    "500",
    "503",
    "malformed",
    "truncated",
    "truncated_json",
    "reject_format",
    "bad_message_format",
)


class FaultProxy:
    """Start with ``FaultProxy(upstream_url, faults={2: "429", 5: "timeout"})``; ``.base_url`` is
    what clients use; ``.log`` lists (n, fault or "ok"); ``stop()`` ends it.

    Args:
        upstream: the real server, e.g. ``http://127.0.0.1:8080``.
        faults: request number -> fault, or a callable n -> fault or None.
        hold_s: how long a ``timeout`` fault holds the request (beyond the client's timeout).
        retry_after: the Retry-After seconds sent with a 429.
        delay_s: extra latency of every forwarded request.
        port: the port to listen on (0: any free one).
    """

    def __init__(
        self,
        upstream: str,
        faults: Mapping[int, str] | Callable[[int], str | None] | None = None,
        hold_s: float = 3.0,
        retry_after: float = 0.1,
        delay_s: float = 0.0,
        port: int = 0,
    ):
        self.upstream = upstream.rstrip("/")
        self.faults = faults or {}
        for f in self.faults.values() if isinstance(self.faults, Mapping) else ():
            assert f in FAULTS, f
        self.hold_s, self.retry_after, self.delay_s = hold_s, retry_after, delay_s
        self.authorizations: set[str] = set()
        self.count = 0
        self.forwarded = 0
        self.log: list[tuple[int, str]] = []
        self.lock = threading.Lock()
        self._stop = threading.Event()
        # a fixed port lets a resumed run use the same base_url (it is part of the cache key)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def fault_for(self, n: int) -> str | None:
        return self.faults(n) if callable(self.faults) else self.faults.get(n)

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _forward(self, path: str, body: bytes, headers) -> tuple[int, bytes, str]:
        req = urllib.request.Request(
            self.upstream + path,
            data=body,
            method="POST",
            headers={"Content-Type": headers.get("Content-Type", "application/json")},
        )
        with self.lock:
            self.forwarded += 1
        try:
            with urllib.request.urlopen(req, timeout=600) as r:
                return r.status, r.read(), r.headers.get("Content-Type", "application/json")
        except urllib.error.HTTPError as e:
            return e.code, e.read(), "application/json"

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: a fault never leaks into the next

            def log_message(self, *args):  # keep test output clean
                pass

            def _send(
                self,
                code: int,
                body: bytes,
                ctype: str = "application/json",
                length: int | None = None,
                extra: dict | None = None,
            ) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(body)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with proxy.lock:
                    proxy.count += 1
                    n = proxy.count
                fault = proxy.fault_for(n)
                with proxy.lock:
                    proxy.log.append((n, fault or "ok"))
                    proxy.authorizations.add(self.headers.get("Authorization", ""))
                if fault == "timeout":
                    proxy._stop.wait(proxy.hold_s)
                    self.close_connection = True
                    return
                if fault == "429":
                    return self._send(
                        429,
                        b'{"error": {"message": "rate limited"}}',
                        extra={"Retry-After": str(proxy.retry_after)},
                    )
                if fault in ("500", "503"):
                    return self._send(int(fault), b'{"error": {"message": "server error"}}')
                if fault == "reject_format" and b"response_format" in body:
                    return self._send(400, b'{"error": {"message": "response_format is not supported"}}')
                if fault == "bad_message_format":
                    return self._send(400, b'{"error": {"message": "invalid message format: role"}}')
                if fault == "malformed":
                    return self._send(200, b"<html>upstream hiccup</html>", ctype="application/json")
                if proxy.delay_s:
                    proxy._stop.wait(proxy.delay_s)
                code, data, ctype = proxy._forward(self.path, body, self.headers)
                if fault == "truncated":
                    return self._send(code, data[: len(data) // 2], ctype, length=len(data))
                if fault == "truncated_json":
                    return self._send(code, data[: len(data) // 2], ctype)
                self._send(code, data, ctype)

            def do_GET(self):
                req = urllib.request.Request(proxy.upstream + self.path)
                try:
                    with urllib.request.urlopen(req, timeout=30) as r:
                        self._send(r.status, r.read(), r.headers.get("Content-Type", "application/json"))
                except urllib.error.HTTPError as e:
                    self._send(e.code, e.read())

        return Handler


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Poll until predicate() is true (True) or the timeout passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
