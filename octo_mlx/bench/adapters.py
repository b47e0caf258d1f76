"""`octo-mlx bench adapters`: the adapter runtime (#14) against mlx-lm, measured in one run.

- **Swap time** (measurement.md): first-token latency right after an adapter switch minus
  first-token latency without one, the same prompt, batch 1, greedy. Switch and no-switch
  requests alternate (A, B, B, A, A, ...), and our side and the peer alternate request by
  request, so that load from other jobs hits all four alike. Ours: the resident pool
  (octo_mlx.resident.AdapterPool), whose switch is attribute writes inside the first forward
  pass of a pool view. The peer: a real ``mlx_lm.server`` asked for the same adapter folders,
  which reloads the whole model whenever the requested adapter changes (bench.mlx_lm_peers).
- **Decode speed**: tokens/s at batch 1, greedy, the same prompt and number of tokens, through
  mlx-lm's own ``generate_step`` on every side: plain mlx-lm (its own process, float32), the
  pool with the first adapter on (unfused LoRA layers), that adapter folded into a copy of the
  weights (the LoRA layers' own ``fuse()``, via adapters.fuse), and the pool's bare base. The
  sides take turns, the order rotating each round; medians.
- **Memory**: everything resident (base + adapters) over the base alone, as parameter bytes
  (``AdapterPool.nbytes``) and as MLX's active memory.
- **Adapter operations**: making an adapter resident, folding one in memory; the multi-LoRA
  issue (#13) adds its combine and fuse times in :func:`time_adapter_ops`.

Without ``adapters`` it makes random-valued LoRA adapters (every linear layer of every block)
with mlx-lm's own layers and saves them in mlx-lm's format, so every side loads real adapter
files; their outputs mean nothing, which timing does not need. The report says which it was.
"""

from __future__ import annotations

import gc
import math
import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from octo_mlx.errors import OctoError

SCHEMA = "octo-mlx.bench.adapters/1"
DEFAULT_PROMPT = "Find articles about Jensen Huang in English and email the first one to myself."
RANDOM_SCALE = 2.0  # alpha / rank of our recipes (r16 / alpha 32)
RANDOM_B_STD = 0.02  # |scale * x A B| ~ 10% of |x W| for the default model: outputs change, stay finite
SWAP_GOAL_S = 0.050
DECODE_GOAL = 0.90
MEMORY_GOAL = 1.5
SETTLE_S = 0.2  # after each server request: a step of the default model is ~60-120 ms here
DECODE_SIDES = {  # key -> label, in the order of the tables
    "mlx_lm": "plain mlx-lm (own process, float32)",
    "pool": "pool, adapter on (unfused LoRA)",
    "fused": "adapter fused into a copy of the weights",
    "pool_base": "pool, bare base",
}


@dataclass(frozen=True)
class BenchAdaptersConfig:
    """What `octo-mlx bench adapters` measures.

    Args:
        model: the base (default: the default model); the pool holds its extended base, and
            every side serves that same folder.
        adapters: two or more adapter folders; none: ``random_adapters`` random-valued ones.
        random_adapters: how many random adapters to make when none are given.
        rank: their LoRA rank.
        repeats: timed switch/no-switch pairs per side, and timed decodes per side.
        tokens: tokens decoded per timed decode.
        warmup: untimed rounds first (each adapter once per side; one decode per side).
        server: run the mlx_lm.server peer.
        prompt: the user turn every request sends.
        seed: the random adapters' seed.
    """

    model: str | None = None
    adapters: tuple[str, ...] = ()
    random_adapters: int = 2
    rank: int = 16
    repeats: int = 10
    tokens: int = 64
    warmup: int = 1
    server: bool = True
    prompt: str = DEFAULT_PROMPT
    seed: int = 0

    def __post_init__(self):
        if len(self.adapters) == 1:
            raise OctoError("a switch needs two or more --adapter folders (or none: random adapters)")
        if not self.adapters and self.random_adapters < 2:
            raise OctoError(f"--random must be >= 2, got {self.random_adapters}")
        if self.rank < 1 or self.repeats < 1 or self.tokens < 2 or self.warmup < 0:
            raise OctoError("--rank and --repeats must be >= 1, --tokens >= 2, --warmup >= 0")
        if not self.prompt.strip():
            raise OctoError("--prompt is empty")


# --- results ------------------------------------------------------------------------------------


def _p90(values: list[float]) -> float:
    from octo_mlx.eval.action import percentile

    return percentile(values, 0.9)


def median_halfwidth(values: list[float]) -> float:
    """Half-width of the ~95% interval of a median: 1.58 x IQR / sqrt(n) (the notches of McGill,
    Tukey and Larsen's box plots); infinite below two values."""
    if len(values) < 2:
        return math.inf
    q1, _, q3 = statistics.quantiles(values, n=4)
    return 1.58 * (q3 - q1) / math.sqrt(len(values))


@dataclass
class SwapSide:
    """One side's first-token latencies: right after a switch, and with the adapter already on."""

    name: str
    switch_s: list[float] = field(default_factory=list)
    same_s: list[float] = field(default_factory=list)
    # CPU seconds the serving process spent per request (all its threads): waiting for a core
    # does not count, so other jobs' load inflates it far less than the wall time (none: not known)
    switch_cpu_s: list[float] = field(default_factory=list)
    same_cpu_s: list[float] = field(default_factory=list)

    def add(self, switch: tuple[float, float | None], same: tuple[float, float | None]) -> None:
        """One pair of (wall seconds, CPU seconds or None)."""
        self.switch_s.append(switch[0])
        self.same_s.append(same[0])
        if switch[1] is not None and same[1] is not None:
            self.switch_cpu_s.append(switch[1])
            self.same_cpu_s.append(same[1])

    def summary(self) -> dict[str, float]:
        paired = [a - b for a, b in zip(self.switch_s, self.same_s)]
        cpu = {}
        if self.switch_cpu_s:
            a, b = self.switch_cpu_s, self.same_cpu_s
            cpu = {
                "switch_cpu_median_s": statistics.median(a),
                "same_cpu_median_s": statistics.median(b),
                "cpu_swap_s": statistics.median(a) - statistics.median(b),
                "cpu_swap_halfwidth_s": math.hypot(median_halfwidth(a), median_halfwidth(b)),
            }
        return {
            "pairs": len(paired),
            "switch_median_s": statistics.median(self.switch_s),
            "switch_p90_s": _p90(self.switch_s),
            "same_median_s": statistics.median(self.same_s),
            "same_p90_s": _p90(self.same_s),
            # the definition: first token after a switch minus first token without one
            "swap_s": statistics.median(self.switch_s) - statistics.median(self.same_s),
            # its ~95% interval: the two medians' notches combined (independent errors)
            "swap_halfwidth_s": math.hypot(median_halfwidth(self.switch_s), median_halfwidth(self.same_s)),
            "paired_median_s": statistics.median(paired),
            "paired_p90_s": _p90(paired),
            **cpu,
        }


@dataclass
class DecodeSide:
    """One side's timed decodes: tokens/s and time to the first token per run, and its tokens."""

    name: str
    tokens_per_s: list[float] = field(default_factory=list)
    ttft_s: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)  # greedy and the same prompt: every run alike

    def add(self, run: dict) -> None:
        """Record one :func:`octo_mlx.bench.mlx_lm_peers.decode_timed` result."""
        self.tokens_per_s.append((len(run["tokens"]) - 1) / run["decode_s"])
        self.ttft_s.append(run["ttft_s"])
        self.tokens = run["tokens"]

    def summary(self) -> dict[str, float]:
        return {
            "runs": len(self.tokens_per_s),
            "tokens_per_s_median": statistics.median(self.tokens_per_s),
            "tokens_per_s_min": min(self.tokens_per_s),
            "tokens_per_s_max": max(self.tokens_per_s),
            "ttft_median_s": statistics.median(self.ttft_s),
        }


@dataclass
class BenchAdaptersResult:
    """Everything one run measured, and the facts that judge it."""

    config: dict[str, Any]
    machine: dict[str, Any]
    base: str
    adapters: list[dict[str, Any]]  # name, path, rank, layers, nbytes (resident factors)
    random_adapters: bool
    prompt_tokens: int
    ours: SwapSide
    peer: SwapSide | None
    use_s: list[float]  # the pool's switch alone (``use``), alternating adapters
    decode: dict[str, DecodeSide]
    memory: dict[str, int]
    checks: dict[str, Any]
    adapter_ops: dict[str, list[float]]  # operation -> seconds per run (#13 adds combine and fuse)
    warnings: list[str] = field(default_factory=list)
    command: str = ""

    def ratios(self) -> dict[str, float | None]:
        """Decode speed over plain mlx-lm's, memory over the base alone, the peer's swap time over ours.

        ``decode_*``: the median over rounds of each round's ratio (a round runs every side back
        to back, so its ratio cancels the drift of the machine's load across rounds);
        ``decode_*_of_medians``: the ratio of the sides' medians.
        """
        plain = self.decode["mlx_lm"]
        m = self.memory
        ours = self.ours.summary()
        out: dict[str, float | None] = {}
        for key, label in (("fused", "fused"), ("pool", "unfused"), ("pool_base", "pool_base")):
            side = self.decode[key]
            per_round = [a / b for a, b in zip(side.tokens_per_s, plain.tokens_per_s)]
            out[f"decode_{label}"] = statistics.median(per_round)
            out[f"decode_{label}_of_medians"] = statistics.median(side.tokens_per_s) / statistics.median(
                plain.tokens_per_s
            )
        out["memory_bytes"] = m["resident_bytes"] / m["base_bytes"]
        out["memory_active"] = m["active_resident_bytes"] / m["active_base_bytes"]
        # a ratio only when our swap time is resolved above zero (its interval clear of it)
        resolved = ours["swap_s"] - ours["swap_halfwidth_s"] > 0
        out["peer_swap_over_ours"] = (
            self.peer.summary()["swap_s"] / ours["swap_s"] if self.peer and resolved else None
        )
        return out

    def goals(self) -> dict[str, bool | None]:
        """The issue's bars.

        ``swap_50ms``: True when the swap time's ~95% interval lies at or below 50 ms, False when
        it lies above, None when it straddles 50 ms (this run's noise cannot tell). ``decode_90pct``:
        the adapter fused decodes at >= 90% of plain mlx-lm (``decode_90pct_unfused``: the pool's
        unfused LoRA by the same bar). ``memory_1_5x``: everything resident < 1.5x the base, both ways.
        """
        r, s = self.ratios(), self.ours.summary()
        low, high = s["swap_s"] - s["swap_halfwidth_s"], s["swap_s"] + s["swap_halfwidth_s"]
        return {
            "swap_50ms": True if high <= SWAP_GOAL_S else False if low > SWAP_GOAL_S else None,
            "decode_90pct": r["decode_fused"] >= DECODE_GOAL,
            "decode_90pct_unfused": r["decode_unfused"] >= DECODE_GOAL,
            "memory_1_5x": max(r["memory_bytes"], r["memory_active"]) < MEMORY_GOAL,
        }

    def to_json(self) -> dict[str, Any]:
        out = {"schema": SCHEMA, **asdict(self)}
        out["summary"] = {
            "swap": {
                "ours": self.ours.summary(),
                "mlx_lm_server": self.peer.summary() if self.peer else None,
            },
            "use_median_s": statistics.median(self.use_s),
            "decode": {k: s.summary() for k, s in self.decode.items()},
            "adapter_ops_median_s": {k: statistics.median(v) for k, v in self.adapter_ops.items() if v},
        }
        out["ratios"], out["goals"] = self.ratios(), self.goals()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BenchAdaptersResult:
        """Rebuild a result from :meth:`to_json` output (e.g. to re-render the markdown)."""
        keep = set(cls.__dataclass_fields__) - {"ours", "peer", "decode"}
        return cls(
            **{k: data[k] for k in keep if k in data},
            ours=SwapSide(**data["ours"]),
            peer=SwapSide(**data["peer"]) if data.get("peer") else None,
            decode={k: DecodeSide(**v) for k, v in data["decode"].items()},
        )


# --- setting up ---------------------------------------------------------------------------------


def make_random_adapters(base: str | Path, out: str | Path, n: int, rank: int, seed: int = 0) -> list[Path]:
    """``n`` LoRA adapters of random values for ``base``, saved in mlx-lm's format under ``out``.

    Every linear layer of every block, rank ``rank``, scale 2 (alpha = 2 x rank, as our recipes),
    built by mlx-lm's ``linear_to_lora_layers``; A drawn as mlx-lm initialises it, B ~ N(0, 0.02)
    instead of zeros (a zero B would make every adapter the base).

    Args:
        base: the model folder they fit (only its config and weight shapes are read).
        out: the folder to write ``random-1``, ``random-2``, ... in.
        n, rank, seed: how many, their rank, the seed of the first (the others: seed + i).
    """
    import mlx.core as mx
    import mlx.nn as nn
    from mlx_lm.tuner.utils import linear_to_lora_layers
    from mlx_lm.utils import load_model

    from octo_mlx.adapters.folder import save_adapter

    model, _ = load_model(Path(base), lazy=True)  # shapes only: the base's weights are never read
    linear = (nn.Linear, nn.QuantizedLinear)
    keys = sorted(k for k, m in model.layers[0].named_modules() if isinstance(m, linear))
    params = {"rank": rank, "scale": RANDOM_SCALE, "dropout": 0.0, "keys": keys}
    linear_to_lora_layers(model, len(model.layers), params)
    layers = {k: m for k, m in model.named_modules() if "lora_a" in m}
    folders = []
    for i in range(n):
        mx.random.seed(seed + i)
        weights = {}
        for key, layer in layers.items():
            a_shape, b_shape = layer.lora_a.shape, layer.lora_b.shape
            bound = 1 / math.sqrt(a_shape[0])
            weights[f"{key}.lora_a"] = mx.random.uniform(-bound, bound, a_shape)
            weights[f"{key}.lora_b"] = RANDOM_B_STD * mx.random.normal(b_shape)
        config = {
            "fine_tune_type": "lora",
            "num_layers": len(model.layers),
            "lora_parameters": params,
            "model": str(base),
        }
        note = f"# not trained: random values made by `octo-mlx bench adapters` (seed {seed + i})\n"
        folders.append(save_adapter(Path(out) / f"random-{i + 1}", weights, config, note))
    return folders


def _names(paths: list[Path]) -> list[str]:
    """Resident names, one each: the folder's name, numbered where two folders share it
    (``NAME-i``, i its place from 1, counted on past a name another folder has)."""
    names = [p.name for p in paths]
    counts = Counter(names)
    taken = {n for n in names if counts[n] == 1}
    out = []
    for i, name in enumerate(names):
        if counts[name] > 1:
            k = i + 1
            while f"{name}-{k}" in taken:
                k += 1
            name = f"{name}-{k}"
            taken.add(name)
        out.append(name)
    return out


def _active_bytes() -> int:
    """MLX's active memory with everything unreferenced freed (its cache is not active)."""
    import mlx.core as mx

    gc.collect()
    mx.synchronize()
    mx.clear_cache()
    return mx.get_active_memory()


def _machine(load_before: float) -> dict[str, Any]:
    from octo_mlx.bench.train import machine_info
    from octo_mlx.runtime.blas import blas_in_use

    return {
        **machine_info(),
        "blas": blas_in_use(),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


# --- measuring ----------------------------------------------------------------------------------


def time_adapter_ops(
    pool, paths: list[Path], names: list[str], config: BenchAdaptersConfig
) -> dict[str, list[float]]:
    """Timings of operations on adapter files, seconds per run, by operation.

    The slot of the multi-LoRA issue (#13): its combine (four r64 adapters on the default model,
    goal <= 2 s) and fuse (`octo-mlx adapters fuse`) times go here, keyed by what they time.
    The two figures this issue needs are taken where their work happens (make resident in
    :func:`run_bench_adapters`, fold in memory in :func:`_fused_copy`) and merged in.
    """
    return {}


def _fused_copy(folder: Path, adapter: Path):
    """(a second copy of the base with ``adapter`` folded in, seconds the fold took)."""
    import mlx.core as mx

    from octo_mlx.adapters.folder import load_with_adapter
    from octo_mlx.adapters.fuse import fuse_layers

    model, _, _ = load_with_adapter(folder, adapter)
    mx.eval(model.parameters())  # the cast to the compute dtype is lazy: not part of the fold
    tic = time.perf_counter()
    fuse_layers(model)
    mx.eval(model.parameters())
    return model, time.perf_counter() - tic


def _logits(model, prompt: list[int]):
    import mlx.core as mx

    out = model(mx.array(prompt)[None])[0, -1].astype(mx.float32)
    mx.eval(out)
    return out


def _checks(pool, name: str, fused, prompt: list[int]) -> dict[str, float]:
    """That the adapter is on where it should be: how far it moves the last logits from the base,
    and how far the fused copy's logits are from the unfused pool's (float rounding only)."""
    import mlx.core as mx

    with pool.using(None):
        base = _logits(pool.model, prompt)
    with pool.using(name):
        unfused = _logits(pool.model, prompt)
    folded = _logits(fused, prompt)
    return {
        "adapter_moves_logits_by": mx.abs(unfused - base).max().item(),
        "fused_vs_unfused_max_diff": mx.abs(folded - unfused).max().item(),
        "logits_scale": mx.abs(unfused).max().item(),
    }


def _swap_round(request: Callable[[int], tuple], side: SwapSide, current: int, n: int) -> int:
    """One switch request (to the next adapter) and one no-switch request (the same again)."""
    nxt = (current + 1) % n
    switch = request(nxt)
    side.add(switch, request(nxt))
    return nxt


def run_bench_adapters(
    config: BenchAdaptersConfig, callback: Callable[[str], None] = lambda message: None
) -> BenchAdaptersResult:
    """Measure swap time, decode speed and memory (see the module docstring).

    Args:
        config: what to measure.
        callback: progress messages, one per stage.
    """
    import mlx.core as mx
    from mlx.utils import tree_flatten

    from octo_mlx.bench.mlx_lm_peers import PlainWorker, ServerPeer, decode_timed, first_token_seconds
    from octo_mlx.generation import encode_prompt
    from octo_mlx.models.loading import resolve_model
    from octo_mlx.models.tokens import TABLE, extend_base
    from octo_mlx.resident import AdapterPool

    load_before = os.getloadavg()[0]
    warnings: list[str] = []
    folder = extend_base(resolve_model(config.model), TABLE)  # the pool's base; every side serves it
    with tempfile.TemporaryDirectory(prefix="octo-bench-adapters-") as tmp:
        work = Path(tmp)
        if config.adapters:
            paths = [Path(p) for p in config.adapters]
        else:
            callback(f"making {config.random_adapters} random LoRA r{config.rank} adapters")
            paths = make_random_adapters(folder, work, config.random_adapters, config.rank, config.seed)
        names = _names(paths)

        callback("loading the base once, making the adapters resident")
        before = _active_bytes()
        pool = AdapterPool.open(folder)
        mx.eval(pool.model.parameters())  # the cast to the compute dtype is lazy until the first use
        active_base = _active_bytes() - before
        resident_s = []
        for name, path in zip(names, paths):
            tic = time.perf_counter()
            pool.add(name, path)
            resident_s.append(time.perf_counter() - tic)
        active_resident = _active_bytes() - before
        memory = {
            "base_bytes": pool.base_nbytes(),
            "resident_bytes": pool.nbytes(),
            "active_base_bytes": active_base,
            "active_resident_bytes": active_resident,
        }
        messages = [{"role": "user", "content": config.prompt}]
        prompt = encode_prompt(pool.tokenizer, messages)
        n = len(names)

        server = worker = None
        try:
            if config.server:
                callback("starting mlx_lm.server on the same base")
                server = ServerPeer(folder, work / "mlx_lm-server.log")
            replies: list[dict] = []

            def ours(i: int) -> tuple[float, float]:
                cpu = time.process_time()
                seconds = first_token_seconds(pool.view(names[i]), prompt)[0]
                return seconds, time.process_time() - cpu

            def theirs(i: int) -> tuple[float, float | None]:
                cpu = server.cpu_seconds()
                seconds, reply = server.first_token_seconds(paths[i], messages)
                replies.append(reply)
                time.sleep(SETTLE_S)  # the server may still run a queued decoding step: not in our time
                after = server.cpu_seconds()
                return seconds, None if cpu is None or after is None else after - cpu

            sides = [(SwapSide("octo-mlx resident pool"), ours)]
            if server is not None:
                sides.append((SwapSide("mlx_lm.server (reloads on an adapter change)"), theirs))
            callback(f"swap time: {config.repeats} switch / no-switch pairs per side, interleaved")
            for _ in range(config.warmup):
                for i in range(n):
                    for _side, request in sides:
                        request(i)
            current = [n - 1] * len(sides)  # the warm-up (or nothing) left the last adapter on
            for _ in range(config.repeats):
                for j, (side, request) in enumerate(sides):
                    current[j] = _swap_round(request, side, current[j], n)
            if server is not None:
                server.stop()
                server = None  # its memory back before the other copies load

            use_s = []
            for i in range(max(200, 2 * config.repeats)):
                tic = time.perf_counter()
                pool.use(names[i % n])
                use_s.append(time.perf_counter() - tic)
            pool.use(None)

            callback("starting plain mlx-lm in its own process")
            worker = PlainWorker(folder, work / "plain-mlx-lm.log")
            callback(f"folding {names[0]} into a copy of the weights")
            fused, fold_s = _fused_copy(folder, paths[0])
            memory["fused_copy_bytes"] = sum(v.nbytes for _, v in tree_flatten(fused.parameters()))
            checks = _checks(pool, names[0], fused, prompt)
            served = {r.get("usage", {}).get("prompt_tokens") for r in replies}
            if served:
                checks["server_prompt_tokens"] = sorted(t for t in served if t is not None)
                if served != {len(prompt)}:
                    warnings.append(
                        f"mlx_lm.server saw {sorted(served, key=str)} prompt tokens, ours {len(prompt)}"
                    )

            runners = {
                "mlx_lm": lambda: worker.decode(prompt, config.tokens),
                "pool": lambda: decode_timed(pool.view(names[0]), prompt, config.tokens),
                "fused": lambda: decode_timed(fused, prompt, config.tokens),
                "pool_base": lambda: decode_timed(pool.view(None), prompt, config.tokens),
            }
            decode = {k: DecodeSide(label) for k, label in DECODE_SIDES.items()}
            callback(f"decode speed: {config.repeats} x {config.tokens} tokens per side, interleaved")
            for _ in range(config.warmup):
                for run in runners.values():
                    run()
            order = list(runners)
            for r in range(config.repeats):
                for key in order[r % len(order) :] + order[: r % len(order)]:  # rotated: no side always first
                    decode[key].add(runners[key]())
        finally:
            for peer in (server, worker):
                if peer is not None:
                    peer.stop()
        checks["fused_tokens_equal_unfused"] = decode["fused"].tokens == decode["pool"].tokens
        checks["adapter_changes_tokens"] = decode["pool"].tokens != decode["pool_base"].tokens
        if not checks["fused_tokens_equal_unfused"]:
            warnings.append("the fused copy's greedy tokens differ from the unfused pool's (float rounding)")

        adapter_ops = {"make an adapter resident (build its layers, load its factors)": resident_s}
        adapter_ops["fold an adapter into a copy of the base in memory (LoRA fuse())"] = [fold_s]
        adapter_ops.update(time_adapter_ops(pool, paths, names, config))
        infos = [
            {"name": a.name, "path": str(a.path), "rank": a.rank, "layers": a.layers, "nbytes": a.nbytes}
            for a in pool.adapters.values()
        ]
        fused = None  # the copy freed before the report is built
        mx.clear_cache()
    return BenchAdaptersResult(
        config={**asdict(config), "adapters": [str(p) for p in config.adapters]},
        machine=_machine(load_before),
        base=str(folder),
        adapters=infos,
        random_adapters=not config.adapters,
        prompt_tokens=len(prompt),
        ours=sides[0][0],
        peer=sides[1][0] if len(sides) > 1 else None,
        use_s=use_s,
        decode=decode,
        memory=memory,
        checks=checks,
        adapter_ops=adapter_ops,
        warnings=warnings,
    )
