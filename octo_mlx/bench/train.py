"""`octo-mlx bench train`: octo-mlx's training loop against mlx_lm.lora and PyTorch + PEFT.

One invocation runs every peer on the same model, the same examples and the same loss
(completion only), side by side and interleaved (octo, mlx_lm, ..., then again), each run in a
fresh process so its peak memory is its own:

- ``octo``: :func:`octo_mlx.train.loop.train` with the recipe defaults (length-bucketed rows, LM head
  on completion positions only).
- ``mlx_lm``: mlx-lm's own ``mlx_lm.lora`` (its YAML config: LoRA on every layer, --mask-prompt,
  the same rank and scale, batch and optimizer), OpenBLAS preloaded as for us.
- ``mlx_lm_bundled``: the same, with the reference BLAS the mlx-cpu wheel bundles (what
  ``pip install mlx-lm`` gives on Linux): the gap OpenBLAS makes.
- ``peft``: PyTorch + PEFT in a separate optional environment (benchmarks/peft_train.py).
- ``octo_pack`` (opt-in): our loop packing each micro-batch into one row instead.

What is compared: **useful tokens per second** = non-padding tokens of the examples / seconds
of training steps. Every peer sees the same token ids (mlx-lm's chat-template tokenization;
octo's run adds no vocabulary token for the benchmark), so the useful-token count of an epoch
is the same number for all, and the ratio of tokens/s is the inverse ratio of epoch times.
mlx-lm's own "Tokens/sec" counts the tokens its loss is computed on (the completion under
--mask-prompt), not what we compare. Each run trains ``epochs`` epochs and only the last is
timed: the first pays for compiling each new batch shape. Evaluation and checkpoint writing
are outside the timed steps on every side.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from octo_mlx.errors import OctoError
from octo_mlx.files import read_json_object, write_atomic
from octo_mlx.runtime.blas import python_command

PEERS = ("octo", "mlx_lm", "mlx_lm_bundled", "peft", "octo_pack")
DEFAULT_PEERS = PEERS[:4]
# Our loop with other recipe settings, run as extra peers (compared with octo's default).
OCTO_VARIANTS = {"octo": (), "octo_pack": ("train.batching=pack",)}
ROOT = Path(__file__).resolve().parents[2]  # the source checkout: benchmarks/, .venv-torch/
PEFT_SCRIPT = ROOT / "benchmarks" / "peft_train.py"
TORCH_PYTHON = ROOT / ".venv-torch" / "bin" / "python"


@dataclass(frozen=True)
class BenchConfig:
    """What to benchmark. Defaults: the default model, LoRA r16/alpha 32, batch 4, 32 examples."""

    data: str  # a planner dataset folder (train.jsonl in the data contract)
    model: str | None = None  # model folder; None = the default model
    method: str = "lora"  # lora | full
    rank: int = 16
    alpha: float = 32.0
    batch_size: int = 4
    examples: int = 32  # the first N training examples (a multiple of batch_size)
    bundled_examples: int = 8  # the reference BLAS is ~15x slower: fewer examples for that peer
    epochs: int = 2  # the last one is timed
    repeats: int = 3
    learning_rate: float = 1e-5
    peers: tuple[str, ...] = DEFAULT_PEERS
    torch_python: str | None = None  # default: .venv-torch/bin/python when it exists
    octo_overrides: tuple[str, ...] = ()  # extra recipe overrides for our side
    work_dir: str | None = None

    def __post_init__(self):
        for p in self.peers:
            if p not in PEERS:
                raise OctoError(f"unknown peer {p!r} (peers: {', '.join(PEERS)})")
        if self.method not in ("lora", "full"):
            raise OctoError(f"method must be lora or full, got {self.method!r}")
        for name in ("examples", "bundled_examples"):
            n = getattr(self, name)
            if n < self.batch_size or n % self.batch_size:
                raise OctoError(f"{name}={n} must be a positive multiple of batch_size={self.batch_size}")
        if self.epochs < 2:
            raise OctoError("epochs must be >= 2: the first epoch compiles, the last is timed")
        if self.repeats < 1 or self.rank < 1 or self.batch_size < 1:
            raise OctoError("repeats, rank and batch_size must be >= 1")


@dataclass(frozen=True)
class PeerRun:
    """One process of one peer."""

    peer: str
    repeat: int
    ok: bool
    epoch_seconds: float = 0.0  # training-step seconds of the timed (last) epoch
    useful_tokens: int = 0  # non-padding tokens of that epoch
    peak_mlx_bytes: int | None = None  # mx.get_peak_memory() (MLX peers)
    max_rss_bytes: int | None = None  # the process's resident-set peak
    final_loss: float | None = None
    wall_seconds: float = 0.0  # the whole process, loading included
    own_tokens: int | None = None  # the peer's own count of useful tokens per epoch, when it has one
    error: str = ""

    @property
    def tokens_per_s(self) -> float:
        return self.useful_tokens / self.epoch_seconds if self.ok and self.epoch_seconds > 0 else 0.0


@dataclass(frozen=True)
class PeerSummary:
    """Medians over a peer's successful runs."""

    peer: str
    runs: int
    tokens_per_s: float
    epoch_seconds: float
    useful_tokens: int
    peak_mlx_bytes: int | None
    max_rss_bytes: int | None
    spread: float  # (max - min) / median of tokens/s


@dataclass(frozen=True)
class BenchReport:
    """Everything one `octo-mlx bench train` measured."""

    config: BenchConfig
    runs: list[PeerRun]
    summaries: dict[str, PeerSummary]
    machine: dict = field(default_factory=dict)
    seconds: float = 0.0

    def ratio(self, peer: str, over: str = "octo") -> float | None:
        """tokens/s of ``over`` divided by ``peer``'s (>1: ``over`` is faster)."""
        a, b = self.summaries.get(over), self.summaries.get(peer)
        if a is None or b is None or b.tokens_per_s <= 0:
            return None
        return a.tokens_per_s / b.tokens_per_s


# --- preparation ----------------------------------------------------------------------------


def _subset(data: Path, out: Path, n: int, batch_size: int) -> Path:
    """The first ``n`` training examples, and one batch of validation ones (mlx_lm.lora needs it)."""
    from octo_mlx.data import read_split, write_split

    train = read_split(data / "train.jsonl")
    if len(train) < n:
        raise OctoError(f"needs {n} training examples, has {len(train)}", data / "train.jsonl")
    valid_path = data / "valid.jsonl"
    valid = read_split(valid_path) if valid_path.is_file() else []
    out.mkdir(parents=True, exist_ok=True)
    write_split(out / "train.jsonl", train[:n])
    write_split(out / "valid.jsonl", (valid + train)[:batch_size])
    return out


def encode_subset(model: Path, data: Path) -> list[tuple[list[int], int]]:
    """(tokens, prompt length) of each training example with the model's chat template, as mlx-lm."""
    from mlx_lm.tokenizer_utils import load as load_tokenizer

    from octo_mlx.data import read_split
    from octo_mlx.train import batching

    tok = load_tokenizer(model)
    out = []
    for e in read_split(data / "train.jsonl"):
        enc = batching.encode_chat(tok, e.to_record()["messages"])
        out.append((list(enc.tokens), enc.prompt_len))
    return out


def _load_avg() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def machine_info() -> dict:
    """The facts a reader needs to judge the figures."""
    import mlx.core as mx
    import mlx_lm

    from octo_mlx.runtime.blas import find_openblas

    return {
        "platform": f"{platform.system()} {platform.machine()}",
        "cpus": os.cpu_count(),
        "mlx": mx.__version__,
        "mlx_lm": getattr(mlx_lm, "__version__", "?"),
        "openblas": find_openblas(),
        "python": platform.python_version(),
    }


# --- running the peers ----------------------------------------------------------------------


def _env(openblas: bool) -> dict[str, str]:
    from octo_mlx.runtime.blas import NO_OPENBLAS_ENV, openblas_env

    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env["TOKENIZERS_PARALLELISM"] = "false"
    if openblas:
        return openblas_env(env)
    env[NO_OPENBLAS_ENV] = "1"
    return env


def _run_process(
    cmd: list[str], env: dict, cwd: Path, result: Path, timeout: float | None
) -> tuple[dict | None, str, float]:
    """Run a worker; (what it wrote to ``result``, or None and why it failed; wall seconds)."""
    tic = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s", time.perf_counter() - tic
    wall = time.perf_counter() - tic
    if out.returncode != 0 or not result.is_file():
        tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
        return None, f"exit {out.returncode}: " + " | ".join(tail), wall
    try:
        return read_json_object(result), "", wall
    except OctoError as e:  # not UTF-8, not JSON: this peer failed, the others still run
        return None, str(e), wall


def _worker_cmd(kind: str, spec: Path) -> list[str]:
    return python_command("octo_mlx.bench.workers", kind, str(spec))


def run_peer(peer: str, repeat: int, spec: dict, work: Path, timeout: float | None = None) -> PeerRun:
    """Run one peer once in a fresh process and read what it measured."""
    path = work / f"spec-{peer}-{repeat}.json"
    result_path = work / f"result-{peer}-{repeat}.json"
    spec = dict(spec, out=str(work / f"out-{peer}-{repeat}"), result=str(result_path))
    path.write_text(json.dumps(spec))
    if peer == "peft":
        python = spec.get("torch_python")
        if not python or not Path(python).exists():
            return PeerRun(
                peer, repeat, False, error=f"no PyTorch environment at {python} (see docs/bench.md)"
            )
        if not PEFT_SCRIPT.is_file():
            return PeerRun(peer, repeat, False, error=f"{PEFT_SCRIPT} missing (run from a source checkout)")
        cmd, env = [python, str(PEFT_SCRIPT), str(path)], _env(False)
        # PyTorch's OpenMP threads spin at barriers: on a shared machine a busy core turned a
        # 10 s epoch into 46 s (20 s passive). MLX's pool does not spin. An explicit setting wins.
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    elif peer in OCTO_VARIANTS:
        cmd, env = _worker_cmd("worker-octo", path), _env(True)
    else:
        cmd, env = _worker_cmd("worker-mlx-lm", path), _env(peer == "mlx_lm")
    result, error, wall = _run_process(cmd, env, ROOT, result_path, timeout)
    if result is None:
        return PeerRun(peer, repeat, False, wall_seconds=wall, error=error)
    last = result["epochs"][-1]
    return PeerRun(
        peer,
        repeat,
        True,
        epoch_seconds=last["seconds"],
        useful_tokens=spec["useful_tokens"],
        peak_mlx_bytes=result.get("peak_mlx"),
        max_rss_bytes=result.get("max_rss"),
        final_loss=last.get("last_loss"),
        wall_seconds=wall,
        own_tokens=last.get("useful_tokens", result.get("own_tokens")),
    )


def summarize(runs: list[PeerRun]) -> dict[str, PeerSummary]:
    """Median tokens/s, epoch time and memory of each peer's successful runs."""
    out = {}
    for peer in sorted({r.peer for r in runs}, key=lambda p: PEERS.index(p) if p in PEERS else len(PEERS)):
        ok = [r for r in runs if r.peer == peer and r.ok]
        if not ok:
            continue
        tps = [r.tokens_per_s for r in ok]
        med = statistics.median(tps)
        peaks = [r.peak_mlx_bytes for r in ok if r.peak_mlx_bytes]
        rss = [r.max_rss_bytes for r in ok if r.max_rss_bytes]
        out[peer] = PeerSummary(
            peer=peer,
            runs=len(ok),
            tokens_per_s=med,
            epoch_seconds=statistics.median(r.epoch_seconds for r in ok),
            useful_tokens=ok[0].useful_tokens,
            peak_mlx_bytes=int(statistics.median(peaks)) if peaks else None,
            max_rss_bytes=int(statistics.median(rss)) if rss else None,
            spread=(max(tps) - min(tps)) / med if med else 0.0,
        )
    return out


def run_bench(
    config: BenchConfig, callback: Callable[[str, PeerRun | None], None] | None = None
) -> BenchReport:
    """Run every peer ``repeats`` times, interleaved, and summarize.

    Args:
        config: what to run.
        callback: called with (message, run or None) before and after each process.
    """
    from octo_mlx.models.loading import resolve_model
    from octo_mlx.models.tokens import extend_base

    say = callback or (lambda msg, run: None)
    tic = time.perf_counter()
    # Every peer loads the extended base octo-mlx trains on: the same vocabulary, the same tokens.
    model = extend_base(resolve_model(config.model))
    data = Path(config.data)
    if not (data / "train.jsonl").is_file():
        raise OctoError("no train.jsonl in the data folder", data)
    temporary = config.work_dir is None  # ours to delete: a full fine-tuning run leaves ~0.7 GB
    work = Path(config.work_dir or tempfile.mkdtemp(prefix="octo-bench-"))
    try:
        work.mkdir(parents=True, exist_ok=True)
        torch_python = config.torch_python or (str(TORCH_PYTHON) if TORCH_PYTHON.exists() else None)
        specs = {}
        for peer in config.peers:
            n = config.bundled_examples if peer == "mlx_lm_bundled" else config.examples
            subset = _subset(data, work / f"data-{n}", n, config.batch_size)
            encoded = encode_subset(model, subset)
            specs[peer] = dict(
                asdict(config),
                peer=peer,
                model=str(model),
                data=str(subset),
                examples=encoded if peer == "peft" else None,
                n_examples=n,
                useful_tokens=sum(len(t) for t, _ in encoded),
                torch_python=torch_python,
                octo_overrides=[*config.octo_overrides, *OCTO_VARIANTS.get(peer, ())],
            )
        machine = dict(machine_info(), load_before=_load_avg())
        runs: list[PeerRun] = []
        for repeat in range(config.repeats):
            for peer in config.peers:
                say(f"{peer} run {repeat + 1}/{config.repeats}", None)
                run = run_peer(peer, repeat, specs[peer], work)
                runs.append(run)
                if temporary:  # its checkpoints are not needed once its figures are read
                    shutil.rmtree(work / f"out-{peer}-{repeat}", ignore_errors=True)
                say(f"{peer} run {repeat + 1}/{config.repeats}", run)
        machine["load_after"] = _load_avg()
        if torch_python and "peft" in config.peers:
            machine["torch_python"] = torch_python
        return BenchReport(config, runs, summarize(runs), machine, time.perf_counter() - tic)
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)


def write_json(report: BenchReport, path: str | Path) -> Path:
    """Every run, the summaries and the machine, as JSON."""
    data = {
        "config": asdict(report.config),
        "machine": report.machine,
        "seconds": report.seconds,
        "runs": [dict(asdict(r), tokens_per_s=r.tokens_per_s) for r in report.runs],
        "summaries": {k: asdict(v) for k, v in report.summaries.items()},
        "speedup": {p: report.ratio(p) for p in report.summaries if p != "octo"},
    }
    return write_atomic(path, json.dumps(data, indent=1))
