"""Our action model against the general-agent way, in one run: the trained action adapter
(functional tokens, decoded under the call grammar) and the same base model prompted in context
with the JSON descriptions of the active domains' functions, on the same frozen test steps.

- ``ours``: :class:`octo_mlx.action.model.ActionModel` on ``--adapter`` (its base as
  `octo-mlx eval` finds it, or ``--model``), constrained decoding with jump-forward; the step
  (and the previous observation) is the whole prompt.
- ``peer``: the model the adapter was trained from (:func:`original_base`: the one it names or
  the default model, its weights checked; with ``--base-only``, ``--model`` or the default model) as
  :class:`octo_mlx.action.backends.LocalToolsModel` with ``tools_prompt="hermes"``: the active
  functions as OpenAI tools JSON in a system turn, in the Hermes / Qwen form
  (:func:`octo_mlx.action.backends.hermes_tools_prompt`; SmolLM2's own template drops ``tools``),
  the same user turn (calendar words resolved to ISO dates when our adapter was trained so: both
  sides are given the same dates), its answer read by ``parse_tool_output`` (``<tool_call>`` JSON, or text
  for "no function").

Both decode greedily at batch 1 with the same ``--max-tokens``, interleaved step by step (the
order alternating), after ``--warmup`` untimed decodes each; each decode is scored by the
scorer of `octo-mlx eval` (:func:`octo_mlx.eval.action.score_decoded`: function, full call per
schema type, validity on the first decode) and summed up by its metrics (Wilson 95% intervals),
with prompt tokens and per-call latency (first token, whole call: prompt, decode, parse). Writes
the JSON report (``--out``) and the BENCHMARKS.md section (``--markdown``; printed either way;
``--render REPORT`` writes it again from a report). The peer's tools prompt is not cached
between calls: each call prefills all of it (~7,400 tokens for the 47 bundled functions).

    bash scripts/with-openblas.sh .venv/bin/python benchmarks/action_peer.py \\
        --adapter runs/action-lora-smollm2/last --limit 50 --out runs/action-peer.json \\
        --markdown BENCHMARKS.md
    bash scripts/with-openblas.sh .venv/bin/python benchmarks/action_peer.py --base-only --limit 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from octo_mlx.action.constrain import DEFAULT_MAX_TOKENS
from octo_mlx.errors import OctoError
from octo_mlx.eval.action import ACTIVE, KINDS, Outcome, StepRecord, side_metrics
from octo_mlx.stats import format_rate

SCHEMA = "octo-mlx.bench.action-peer/1"
DEFAULT_DATA = "benchmarks/splits/action-v1/test.jsonl"
SECTION = "action-peer"  # <!-- action-peer:start --> ... <!-- action-peer:end --> in BENCHMARKS.md
SIDES = ("ours", "peer")
LABELS = {
    "ours": "action adapter, constrained (step only)",
    "peer": "base + tools JSON in context (Hermes prompt)",
}


@dataclass(frozen=True)
class PeerConfig:
    """What one comparison runs (recorded in the report).

    Args:
        data: the action test split (``DIR/test.jsonl``).
        adapter: the trained action adapter; None with ``base_only``.
        model: with ``adapter``, its base (default: the one it names, as `octo-mlx eval`); with
            ``base_only``, the peer's model (default: the default model).
        base_only: run the peer alone (no adapter needed: a smoke run).
        limit: the first ``limit`` test steps only.
        max_tokens: most generated tokens per call, both sides.
        active: "model" (every domain served may be called: the agent's case) or "example"
            (each step's own domains only).
        domains: domain names or files to check the split against (default: its manifest's).
        warmup: untimed decodes per side (and per active domain set) first.
        force: use the adapter on a base other than its own.
    """

    data: str = DEFAULT_DATA
    adapter: str | None = None
    model: str | None = None
    base_only: bool = False
    limit: int | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    active: str = "model"
    domains: tuple[str, ...] | None = None
    warmup: int = 1
    force: bool = False

    def __post_init__(self):
        if self.base_only == (self.adapter is not None):
            raise OctoError("give the action model as --adapter DIR, or run the peer alone with --base-only")
        if self.active not in ACTIVE:
            raise OctoError(f"unknown value {self.active!r} (choose from {', '.join(ACTIVE)})", "--active")
        if self.max_tokens < 1 or (self.limit is not None and self.limit < 1) or self.warmup < 0:
            raise OctoError("--max-tokens and --limit must be >= 1, --warmup >= 0")


@dataclass
class PeerStep(StepRecord):
    """One test step: what it was, its gold call, and each side's scored decode (``ours`` is None
    in a base-only run). Read by :func:`octo_mlx.eval.action.side_metrics` like an eval example."""

    peer: Outcome
    ours: Outcome | None = None
    order: list[str] = field(default_factory=list)  # which side decoded first


def original_base(adapter: str | Path, model: str | Path | None = None, force: bool = False) -> Path:
    """The model an action adapter was trained from (the peer): for an adapter trained on the
    added-token table, the first of ``model`` (an extended base: the model it was built from),
    the model the adapter names, the default model, whose weights are the adapter's
    ``base_fingerprint`` (``force``: ``model`` as given); for another adapter, its own base;
    for a fully fine-tuned action model, ``model`` or the default model.

    Raises:
        OctoError: none of them is here with those weights.
    """
    from octo_mlx.adapters.folder import adapter_base, read_adapter_config
    from octo_mlx.models.default import default_model_path
    from octo_mlx.models.folder import weights_sha256
    from octo_mlx.models.loading import resolve_model
    from octo_mlx.models.tokens import read_extension

    if not (Path(adapter) / "adapter_config.json").is_file():
        return resolve_model(model)
    cfg = read_adapter_config(adapter)
    if "table" not in cfg:
        return resolve_model(adapter_base(model, cfg, adapter))
    want = cfg.get("base_fingerprint")
    candidates = []
    if model is not None:
        folder = resolve_model(model)
        marker = read_extension(folder)  # its source path may be stale: the cache is keyed by weights
        if marker is None and force:
            return folder
        candidates.append(Path(marker.get("source") or "") if marker else folder)
    if cfg.get("model"):
        candidates.append(Path(cfg["model"]))
    candidates.append(default_model_path())
    for folder in candidates:
        if (folder / "config.json").is_file() and read_extension(folder) is None:
            if not want or weights_sha256(folder) == want:
                return folder
    raise OctoError(
        f"the model the adapter was trained from (sha256 {str(want)[:12]}...) is not here: give --model",
        adapter,
    )


def load_sides(config: PeerConfig, domains: list):
    """(ours or None, the peer backend, the peer's model folder), ``max_tokens`` alike."""
    from octo_mlx.action.backends import LocalToolsModel
    from octo_mlx.models.loading import load_model

    ours = None
    if config.adapter is not None:
        from octo_mlx.action.model import ActionModel

        ours = ActionModel.load(config.adapter, config.model, config.force, max_tokens=config.max_tokens)
        domains = ours.domains
        base = original_base(config.adapter, config.model, config.force)
    else:
        base = config.model
    model, tokenizer, path = load_model(base)
    peer = LocalToolsModel(
        model,
        tokenizer,
        list(domains),
        max_tokens=config.max_tokens,
        batch_size=1,
        tools_prompt="hermes",
        today=ours.today if ours is not None else None,  # the same user turn as ours
    )
    return ours, peer, Path(path)


def _summary(steps: list[PeerStep], side: str) -> dict[str, Any]:
    """The side's eval metrics (overall, per function, domain and kind) and the prompt tokens'
    median, which the eval's Latency does not give."""
    metrics = side_metrics(steps, side)
    outcomes = [getattr(s, side) for s in steps]
    return {
        "prompt_tokens_median": statistics.median(o.prompt_tokens for o in outcomes),
        "prompt_tokens_max": max(o.prompt_tokens for o in outcomes),
        **asdict(metrics),
    }


def run(config: PeerConfig, progress=None) -> dict[str, Any]:
    """Decode every test step with both sides, interleaved, and return the report (JSON-ready).

    Args:
        config: what to compare.
        progress: ``progress(i, n, outcomes)`` after each step (outcomes: side -> Outcome).

    Raises:
        OctoError: bad input (a malformed split, a domain the action model does not serve, a
            peer prompt past the model's context), before the first timed decode.
    """
    from octo_mlx.eval.action import (
        active_domains,
        check_served,
        load_action_split,
        score_decoded,
        timed_act,
        warm_up,
    )
    from octo_mlx.files import fingerprint

    load_before = os.getloadavg()[0]
    examples, domains = load_action_split(config.data, config.domains, config.limit)
    ours, peer, peer_path = load_sides(config, domains)
    served = [d.name for d in peer.domains]
    check_served(examples, served, config.data)
    functions = {f.name: f for d in domains for f in d.functions}
    sides = {"ours": ours, "peer": peer} if ours is not None else {"peer": peer}

    # Every peer prompt checked against the context before anything is timed (47 functions of
    # the bundled domains are ~7,400 tokens for SmolLM2, of its 8,192).
    for e in examples:
        peer.prompts([(e.step, e.observation)], peer.functions(active_domains(config.active, e)))
    warm_up(list(sides.values()), examples, config.active, config.warmup)

    steps = []
    for i, e in enumerate(examples):
        order = list(sides) if i % 2 == 0 else list(sides)[::-1]  # neither side always first
        outcomes = {}
        for name in order:
            decoded, seconds = timed_act(sides[name], e, active_domains(config.active, e))
            outcomes[name] = score_decoded(e.call, decoded, functions, seconds)
        steps.append(PeerStep.of(e, peer=outcomes["peer"], ours=outcomes.get("ours"), order=order))
        if progress is not None:
            progress(i + 1, len(examples), outcomes)
    cfg = asdict(config)
    cfg.update(
        ours_model_path=str(ours.path) if ours is not None and ours.path else None,
        peer_model_path=str(peer_path),
        tools_prompt=peer.tools_prompt,
        served_domains=served,
        n_examples=len(examples),
    )
    return {
        "schema": SCHEMA,
        "config": cfg,
        "machine": _machine(load_before),
        "labels": {s: LABELS[s] for s in sides},
        "fingerprints": {
            "ours_model": fingerprint(ours.path) if ours is not None and ours.path else {},
            "adapter": fingerprint(config.adapter) if config.adapter else {},
            "peer_model": fingerprint(peer_path),
        },
        "summary": {s: _summary(steps, s) for s in sides},
        "steps": [asdict(s) for s in steps],
        "warnings": ["--force: the adapter ran on a base other than its own"] if config.force else [],
    }


def _machine(load_before: float) -> str:
    import mlx.core as mx

    from octo_mlx.runtime.blas import blas_in_use

    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, MLX {mx.__version__} on "
        f"{mx.default_device()}, {blas_in_use()}; load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after"
    )


# --- the BENCHMARKS.md section --------------------------------------------------------------------


def _rate(r: dict) -> str:
    return format_rate(r["k"], r["n"], r["low"], r["high"])


def _seconds(lat: dict | None, key: str) -> str:
    return "-" if lat is None else f"{lat[f'{key}_median_s']:.3f} / {lat[f'{key}_p90_s']:.3f} s"


def section(report: dict[str, Any], command: str) -> str:
    """The report as the BENCHMARKS.md section (markers, command, one table, per-kind rows)."""
    s = report["summary"]
    sides = [x for x in SIDES if x in s]
    c = report["config"]

    def row(label: str, cell) -> str:
        return f"| {label} | " + " | ".join(cell(s[x]) for x in sides) + " |"

    lines = [
        f"<!-- {SECTION}:start -->",
        "## Action model vs the general-agent way: tools JSON in context (`benchmarks/action_peer.py`)",
        "",
        "```",
        command,
        "```",
        "",
        f"Machine: {report['machine']}. Split `{c['data']}`, {c['n_examples']} steps, active functions: "
        + ("every served domain's" if c["active"] == "model" else "each step's own domains'")
        + f" ({', '.join(c['served_domains'])}). Batch 1, greedy, at most {c['max_tokens']} tokens per call, "
        f"sides interleaved step by step, {c['warmup']} warm-up decode per side. Peer: "
        f"`{Path(c['peer_model_path']).name}` with the functions as OpenAI tools JSON in a system turn "
        "(the Qwen 2.5 / 3 template's Hermes tools block), its output read as `<tool_call>` JSON; an "
        'answer in text is a "no function" call, valid, as `octo-mlx eval` counts it. No prompt '
        "cache: each peer call prefills its whole prompt (a server that kept the shared tools prefix "
        "would prefill only the step). Both sides scored by `octo-mlx eval`'s scorer (Wilson 95%).",
        "",
        "| | " + " | ".join(LABELS[x] for x in sides) + " |",
        "|---|" + "---|" * len(sides),
        row("function accuracy", lambda m: _rate(m["overall"]["function_accuracy"])),
        row("full-call accuracy", lambda m: _rate(m["overall"]["call_accuracy"])),
        row("valid on the first decode", lambda m: _rate(m["overall"]["validity"])),
        row('"no function": precision', lambda m: _rate(m["overall"]["none_precision"])),
        row('"no function": recall', lambda m: _rate(m["overall"]["none_recall"])),
        row("prompt tokens per call (median)", lambda m: f"{m['prompt_tokens_median']:.0f}"),
        row("first token (median / p90)", lambda m: _seconds(m["overall"]["latency"], "first_token")),
        row("whole call (median / p90)", lambda m: _seconds(m["overall"]["latency"], "call")),
        row("generated tokens (mean)", lambda m: f"{m['overall']['latency']['gen_tokens_mean']:.1f}"),
    ]
    for kind in KINDS:
        if all(kind in s[x]["by_kind"] for x in sides):
            n = s[sides[0]]["by_kind"][kind]["n"]
            lines += [
                row(
                    f"{kind} steps ({n}): function / full call",
                    lambda m, k=kind: (
                        f"{m['by_kind'][k]['function_accuracy']['p']:.1%} / "
                        f"{m['by_kind'][k]['call_accuracy']['p']:.1%}"
                    ),
                ),
                row(
                    f"{kind} steps: whole call (median)",
                    lambda m, k=kind: f"{m['by_kind'][k]['latency']['call_median_s']:.3f} s",
                ),
            ]
    problems = {x: s[x]["overall"]["problems"] for x in sides}
    if any(problems.values()):
        lines += [
            "",
            "Invalid outputs by kind: "
            + "; ".join(
                f"{LABELS[x]}: " + (", ".join(f"{k} {v}" for k, v in p.items()) or "none")
                for x, p in problems.items()
            )
            + ".",
        ]
    lines += [*(["", *[f"Warning: {w}" for w in report["warnings"]]] if report["warnings"] else [])]
    lines.append(f"<!-- {SECTION}:end -->")
    return "\n".join(lines) + "\n"


def _progress(i: int, n: int, outcomes: dict[str, Outcome]) -> None:
    def verdict(o: Outcome) -> str:
        return "call right" if o.call_correct else "function right" if o.function_correct else "wrong"

    said = ", ".join(f"{side} {o.call_seconds:.1f} s {verdict(o)}" for side, o in outcomes.items())
    print(f"step {i}/{n}: {said}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=DEFAULT_DATA, help=f"action test split (default {DEFAULT_DATA})")
    ap.add_argument("--adapter", default=None, help="the trained action adapter")
    ap.add_argument("--model", default=None, help="the adapter's base; with --base-only the peer's model")
    ap.add_argument("--base-only", action="store_true", help="run the peer alone (no adapter: a smoke)")
    ap.add_argument("--limit", type=int, default=None, help="the first N test steps")
    ap.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS, help="per call, both sides")
    ap.add_argument("--active", choices=ACTIVE, default="model", help="which domains' functions are offered")
    ap.add_argument("--domain", action="append", default=None, help="domain name or file (repeat)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--force", action="store_true", help="use the adapter on a base other than its own")
    ap.add_argument("--out", default=None, help="write the JSON report here")
    ap.add_argument("--markdown", default=None, help="rewrite the action-peer section of this file")
    ap.add_argument("--render", default=None, help="only write the section of this JSON report again")
    a = ap.parse_args(argv)
    command = "bash scripts/with-openblas.sh .venv/bin/python benchmarks/action_peer.py " + shlex.join(argv)
    from octo_mlx.bench.markdown import write_section
    from octo_mlx.files import check_output_file, read_json_object, write_atomic

    try:
        if a.render:  # the section of a finished run, with the command that made it
            report = read_json_object(a.render)
            if report.get("schema") != SCHEMA:
                raise OctoError(f"not an action-peer report ({SCHEMA})", a.render)
        else:
            config = PeerConfig(
                data=a.data,
                adapter=a.adapter,
                model=a.model,
                base_only=a.base_only,
                limit=a.limit,
                max_tokens=a.max_tokens,
                active=a.active,
                domains=tuple(a.domain) if a.domain else None,
                warmup=a.warmup,
                force=a.force,
            )
            for path, flag in ((a.out, "--out"), (a.markdown, "--markdown")):
                if path is not None:  # refused before a long run, not after it
                    check_output_file(path, flag)
            report = run(config, _progress)
            report["command"] = command
            if a.out:
                write_atomic(a.out, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        text = section(report, report["command"])
        if a.markdown:
            write_section(a.markdown, text)
    except OctoError as e:
        print(f"action_peer: error: {e}", file=sys.stderr)
        return 2
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
