"""mlx-lm as the peer of `octo-mlx bench adapters`, each in a process of its own, and the one timed
decoding loop every side of that bench runs (mlx-lm's ``generate_step``).

- :class:`ServerPeer`: a real ``mlx_lm.server`` on 127.0.0.1 (:class:`MLXLMServer`, which the
  tests start too), asked for an adapter per request. Its ModelProvider keys the loaded model
  on (model, adapter) and reloads the whole model from disk whenever the requested adapter
  changes; that reload is what the bench measures.
- :class:`PlainWorker`: mlx-lm as installed, in its own process (``python -m
  octo_mlx.bench.mlx_lm_peers plain FOLDER``): ``mlx_lm.load`` and ``generate_step``, the
  weights cast to float32 (the CPU's fast dtype; our process computes in float32 too). Its own
  process because octo-mlx's CPU maths (runtime.fastmath) replace functions in mlx-lm's model
  modules process-wide once any model is prepared, and glibc's heap settings are process-wide
  too: in our process "plain mlx-lm" would not be plain.

The two talk JSON: over HTTP (the OpenAI chat route) and over the worker's stdin/stdout (one
request per line, one reply per line).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from octo_mlx.errors import OctoError

START_TIMEOUT_S = 300.0  # a server or worker load: ~5-10 s idle, minutes on a loaded 2-core box
REQUEST_TIMEOUT_S = 600.0
_REPLY = "@octo-bench "  # the worker's reply lines start with this; anything else it prints is not one


# --- the timed loop (every side) --------------------------------------------------------------


def first_token_seconds(model, prompt: list[int]) -> tuple[float, int]:
    """(seconds from the call to the first sampled token, that token): prefill and one greedy
    sample at batch 1, through mlx-lm's ``generate_step``. ``model`` may be a pool view, whose
    call switches the adapter: the switch is inside the time."""
    import mlx.core as mx
    from mlx_lm.generate import generate_step, generation_stream

    tic = time.perf_counter()
    steps = generate_step(mx.array(prompt), model, max_tokens=1)
    token, _ = next(steps)
    seconds = time.perf_counter() - tic
    steps.close()
    mx.synchronize(generation_stream)  # generate_step queued one more step: let it end untimed
    return seconds, int(token)


def decode_timed(model, prompt: list[int], tokens: int) -> dict:
    """Greedy decoding of exactly ``tokens`` tokens at batch 1 (``generate_step`` never stops at
    an end marker, so every side decodes the same length). Returns ``ttft_s`` (to the first
    token), ``decode_s`` (first token to last) and the token ids; tokens/s = (tokens - 1) / decode_s,
    as mlx-lm's own ``generation_tps`` counts."""
    import mlx.core as mx
    from mlx_lm.generate import generate_step, generation_stream

    ids: list[int] = []
    tic = time.perf_counter()
    first = tic
    for i, (token, _) in enumerate(generate_step(mx.array(prompt), model, max_tokens=tokens)):
        if i == 0:
            first = time.perf_counter()
        ids.append(int(token))
    end = time.perf_counter()
    mx.synchronize(generation_stream)
    return {"ttft_s": first - tic, "decode_s": end - first, "tokens": ids}


# --- mlx_lm.server ----------------------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far, from /proc (None where there is none).
    Resolution: one clock tick (10 ms at the usual 100 Hz)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (name)": field 3 is fields[0]
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    from octo_mlx.runtime.blas import openblas_env

    return openblas_env(dict(os.environ, TOKENIZERS_PARALLELISM="false"))


def _tail(path: Path, n: int = 1500) -> str:
    try:
        return path.read_bytes()[-n:].decode(errors="replace").strip()
    except OSError:
        return ""


class MLXLMServer:
    """A running ``mlx_lm.server`` on ``folder`` (127.0.0.1, a free port), answering once this
    returns; stopped by :meth:`stop` (or at the end of a ``with``). ``url`` is
    ``http://127.0.0.1:PORT``, ``base_url`` the OpenAI one (``URL/v1``). The one starter of a
    real mlx_lm.server: the bench's peer and the tests' servers.

    Args:
        folder: the model folder it serves.
        log_path: where its stdout and stderr go.
        args: more ``mlx_lm.server`` arguments.
    """

    def __init__(self, folder: str | Path, log_path: str | Path, *args: str):
        from octo_mlx.runtime.blas import python_command

        self.folder = str(folder)
        self.log = Path(log_path)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.url}/v1"
        argv = ["--model", self.folder, "--host", "127.0.0.1", "--port", str(self.port), *args]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                python_command("mlx_lm.server", *argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=_env(),
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _post(self, body: dict, timeout: float) -> dict:
        request = urllib.request.Request(
            f"{self.url}/v1/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return json.loads(r.read())

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        body = {"max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise OctoError(f"mlx_lm.server exited with {self.proc.returncode}: {_tail(self.log)}")
            try:
                if "choices" in self._post(body, timeout=60):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
                pass
            time.sleep(0.3)
        raise OctoError(f"mlx_lm.server did not answer in {START_TIMEOUT_S:.0f} s: {_tail(self.log)}")

    def cpu_seconds(self) -> float | None:
        """CPU seconds the server process has used so far, all threads (Linux; None elsewhere)."""
        return process_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def __enter__(self) -> MLXLMServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class ServerPeer(MLXLMServer):
    """The bench's peer: :class:`MLXLMServer` started with ``--prompt-cache-size 0``. It would
    otherwise keep the KV cache of a prompt per (model, adapter) and skip the prefill of a
    repeated prompt, which our side never does; with it off both sides prefill every request in
    full and the difference is the switch alone.

    Args:
        folder: the model folder it serves (the pool's base, so both sides serve the same weights).
        log: where its stdout and stderr go.
    """

    def __init__(self, folder: str | Path, log: str | Path):
        super().__init__(folder, log, "--prompt-cache-size", "0")

    def first_token_seconds(self, adapter: str | Path, messages: list[dict]) -> tuple[float, dict]:
        """(wall seconds of a one-token greedy chat completion with ``adapter``, the reply).

        The model is named by its folder, not ``default_model``: mlx-lm maps ``default_model`` to
        the adapter given on its command line (none) and would ignore the request's adapter.
        """
        body = {
            "model": self.folder,
            "adapters": str(adapter),
            "messages": messages,
            "max_tokens": 1,
            "temperature": 0.0,
        }
        tic = time.perf_counter()
        try:
            reply = self._post(body, timeout=REQUEST_TIMEOUT_S)
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError) as e:
            raise OctoError(f"mlx_lm.server failed a request ({e}): {_tail(self.log)}") from None
        return time.perf_counter() - tic, reply


# --- plain mlx-lm in its own process ------------------------------------------------------------


class PlainWorker:
    """Plain mlx-lm on ``folder`` in a process of its own; :meth:`decode` runs :func:`decode_timed`
    there. Stopped by :meth:`stop`."""

    def __init__(self, folder: str | Path, log: str | Path):
        from octo_mlx.runtime.blas import python_command

        self.log = Path(log)
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen(
                python_command("octo_mlx.bench.mlx_lm_peers", "plain", str(folder)),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env=_env(),
                start_new_session=True,
            )
        try:
            self.load_s = self._reply()["load_s"]
        except BaseException:
            self.stop()
            raise

    def _reply(self) -> dict:
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.proc.wait()
                raise OctoError(
                    f"the plain mlx-lm worker exited with {self.proc.returncode}: {_tail(self.log)}"
                )
            if line.startswith(_REPLY):
                reply = json.loads(line[len(_REPLY) :])
                if "error" in reply:
                    raise OctoError(f"the plain mlx-lm worker failed: {reply['error']}")
                return reply

    def decode(self, prompt: list[int], tokens: int) -> dict:
        self.proc.stdin.write(json.dumps({"prompt": prompt, "tokens": tokens}) + "\n")
        self.proc.stdin.flush()
        return self._reply()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _serve_plain(folder: str) -> None:
    """The worker: load with mlx-lm, cast to float32, answer decode requests until stdin closes."""
    import mlx.core as mx
    import mlx_lm

    def reply(obj: dict) -> None:
        sys.stdout.write(_REPLY + json.dumps(obj) + "\n")
        sys.stdout.flush()

    tic = time.perf_counter()
    model, _ = mlx_lm.load(folder)
    model.set_dtype(mx.float32)  # float16 has no fast CPU path; the reference is float32
    mx.eval(model.parameters())
    reply({"load_s": time.perf_counter() - tic})
    for line in sys.stdin:
        try:
            request = json.loads(line)
            reply(decode_timed(model, request["prompt"], request["tokens"]))
        except Exception as e:  # reported to the bench, which stops
            reply({"error": f"{type(e).__name__}: {e}"})


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "plain":
        sys.exit("usage: python -m octo_mlx.bench.mlx_lm_peers plain MODEL_FOLDER")
    _serve_plain(sys.argv[2])
