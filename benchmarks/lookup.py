"""What prompt-lookup decoding saves the agent, on the shipped adapters (octo_mlx.generation.lookup_draft).

The base loads once with the shipped planner and action adapters resident (as `octo-mlx chat`
does). For the first ``--plans`` requests of the frozen android planner split and the first
``--steps`` steps of the frozen action split, each is decoded at batch 1, greedy, once per draft
size of ``--drafts`` (sizes in turn, their order reversed every other item, after one warm-up
item), as the agent decodes them (`Planner.stream`; `ActionModel.act` under the call grammar
with jump-forward). Reported per draft size: forward passes per generated token, seconds per
plan or call (median) and in total, the total against no draft, and how many outputs differ
from the no-draft ones (greedy decoding under lookup should change none; a difference would come
from float rounding between a pass over many tokens and one over one).

    bash scripts/with-openblas.sh .venv/bin/python benchmarks/lookup.py [--plans 20] [--steps 40]
        [--drafts 0,2,4,8] [--out runs/bench-lookup.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Counting:
    """A model handle that counts its forward passes (everything else is the model's own)."""

    def __init__(self, model):
        self._model, self.passes = model, 0

    def __call__(self, *args, **kwargs):
        self.passes += 1
        return self._model(*args, **kwargs)

    def __getattr__(self, attr):
        return getattr(self._model, attr)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--plans", type=int, default=20, help="planner requests (frozen android test split)")
    p.add_argument("--steps", type=int, default=40, help="action steps (frozen action test split)")
    p.add_argument(
        "--drafts", default="0,2,4,8", help="draft sizes to compare (0: no lookup; first is the yardstick)"
    )
    p.add_argument("--out", default=None, help="write the JSON report here")
    a = p.parse_args()
    drafts = [int(x) for x in a.drafts.split(",")]
    if not drafts or drafts[0] != 0 or min(drafts) < 0:
        raise SystemExit("--drafts: non-negative sizes, the first 0 (the yardstick)")

    from octo_mlx.agent.session import open_session

    load_before = os.getloadavg()[0]
    session = open_session()
    planner, action = session.agent.planner, session.agent.action
    planner.model = Counting(planner.model)
    action.model = Counting(action.model)
    queries = [
        json.loads(line)["messages"][0]["content"]
        for line in (ROOT / "benchmarks/splits/planner-v1/android/test.jsonl").open()
    ][: a.plans]
    steps = [json.loads(line) for line in (ROOT / "benchmarks/splits/action-v1/test.jsonl").open()][: a.steps]

    def plan(query: str, k: int) -> dict:
        planner.lookup, planner.model.passes = k, 0
        tic = time.perf_counter()
        out = [x for x in planner.stream(query)][-1]
        return {
            "seconds": time.perf_counter() - tic,
            "passes": planner.model.passes,
            "tokens": out.gen_tokens,
            "text": out.text,
        }

    def act(step: dict, k: int) -> dict:
        action.lookup, action.model.passes = k, 0
        tic = time.perf_counter()
        d = action.act(step["step"], step["observation"])
        return {
            "seconds": time.perf_counter() - tic,
            "passes": action.model.passes,
            "tokens": d.generation.gen_tokens,
            "text": d.text,
        }

    work = [("plan", q, plan) for q in queries] + [("call", s, act) for s in steps]
    for k in drafts:  # warm-up: first allocations, the grammar's first masks
        work[0][2](work[0][1], k)
        work[-1][2](work[-1][1], k)
    rows: list[dict] = []
    for i, (kind, item, fn) in enumerate(work):
        order = drafts if i % 2 == 0 else drafts[::-1]
        for k in order:
            rows.append(dict(fn(item, k), kind=kind, item=i, draft=k))
    load_after = os.getloadavg()[0]

    report = {
        "platform": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "load_before": load_before,
        "load_after": load_after,
        "drafts": drafts,
        "rows": rows,
        "summary": {},
    }
    for kind in ("plan", "call"):
        mine = [r for r in rows if r["kind"] == kind]
        if not mine:
            continue
        base = {r["item"]: r for r in mine if r["draft"] == 0}
        total0 = sum(r["seconds"] for r in base.values())
        for k in drafts:
            rs = [r for r in mine if r["draft"] == k]
            total = sum(r["seconds"] for r in rs)
            report["summary"][f"{kind}/{k}"] = {
                "n": len(rs),
                "passes_per_token": sum(r["passes"] for r in rs) / sum(r["tokens"] for r in rs),
                "median_seconds": statistics.median(r["seconds"] for r in rs),
                "total_seconds": total,
                "total_vs_none": total / total0,
                "differ": sum(r["text"] != base[r["item"]]["text"] for r in rs),
            }
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(report, indent=1))
    print(f"{report['platform']}; load {load_before:.1f} before, {load_after:.1f} after")
    print("| | draft | passes per token | median s | total s | total vs no draft | outputs that differ |")
    print("|---|---|---|---|---|---|---|")
    for key, s in report["summary"].items():
        kind, k = key.split("/")
        print(
            f"| {kind}s ({s['n']}) | {k} | {s['passes_per_token']:.3f} | {s['median_seconds']:.3f} | "
            f"{s['total_seconds']:.1f} | {s['total_vs_none']:.3f} | {s['differ']} |"
        )


if __name__ == "__main__":
    main()
