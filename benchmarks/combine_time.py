"""How long `adapters combine` takes for four r64 adapters of the default model, and `adapters fuse`
for one (issue #13: combining four r64 adapters in <= 2 s here).

The adapters are random-valued (`octo-mlx bench adapters`' maker: every linear layer of every
block, rank 64): the time of the maths depends on the shapes, not on trained values. Every
operation is the Python API the commands call, timed end to end (read the sources, combine, write
the folder) in one process after one untimed round; medians of ``--repeats`` rounds.

    bash scripts/with-openblas.sh .venv/bin/python benchmarks/combine_time.py \
        --out docs/results/combine-time.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

CASES = (  # a None rank becomes --rank
    ("linear (exact: the stacked rank)", {"method": "linear"}),
    ("linear, truncated SVD to the sources' rank", {"method": "linear", "rank": None}),
    ("ties, density 0.5", {"method": "ties", "density": 0.5}),
    ("dare_ties, density 0.5", {"method": "dare_ties", "density": 0.5}),
    ("knots, density 0.5", {"method": "knots", "density": 0.5}),
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rank", type=int, default=64)
    ap.add_argument("--adapters", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()

    from octo_mlx.adapters.combined import combine_adapters
    from octo_mlx.adapters.fuse import fuse_model
    from octo_mlx.bench.adapters import make_random_adapters
    from octo_mlx.models.loading import resolve_model
    from octo_mlx.models.tokens import TABLE, extend_base

    base = extend_base(resolve_model(None), TABLE)
    rows = []
    with tempfile.TemporaryDirectory(prefix="octo-combine-time-") as tmp:
        work = Path(tmp)
        paths = make_random_adapters(base, work / "sources", a.adapters, a.rank, seed=0)
        for label, options in CASES:
            times = []
            for i in range(a.repeats + 1):
                tic = time.perf_counter()
                opts = {k: (a.rank if k == "rank" and v is None else v) for k, v in options.items()}
                combine_adapters(paths, work / "out", overwrite=True, **opts)
                if i:  # the first round warms caches and imports
                    times.append(time.perf_counter() - tic)
            rows.append({"operation": f"combine {a.adapters} r{a.rank}: {label}", "seconds": times})
        times = []
        for i in range(a.repeats + 1):
            tic = time.perf_counter()
            fuse_model(paths[0], work / "fused", model=base, overwrite=True)
            if i:
                times.append(time.perf_counter() - tic)
        rows.append(
            {
                "operation": f"fuse one r{a.rank} adapter into the base (write the model folder)",
                "seconds": times,
            }
        )
    for r in rows:
        r["median"] = statistics.median(r["seconds"])
        print(f"| {r['operation']} | {r['median']:.2f} s | {len(r['seconds'])} |")
    if a.out:
        Path(a.out).write_text(
            json.dumps({"rank": a.rank, "adapters": a.adapters, "rows": rows}, indent=2) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
