"""Phi-3 Mini and Gemma 2B at their true size (random weights): the memory plan against the
measured peak of real LoRA steps, step time, and the adapter and GGUF round trips (issue #18).

The weights cannot be downloaded here, so each model is built with mlx-lm's own model class from
its published config.json (``benchmarks/true_size/*.json``, written here as data) and random
weights in float32; its embedding and LM head have the real vocabulary's rows (32,064 and
256,000). The tokenizer is a local byte-level BPE trained on the planner data (the real ones
cannot be fetched either): every tensor has the true shape, and the examples tokenize to lengths
of the same order as with the real tokenizers. Phases, each in a fresh process so that one
model's memory is gone before the next phase starts:

1. ``build``: the random model folder (``--work``/MODEL/src).
2. ``plan``: ``octo-mlx train --plan-memory`` for the shipped recipes of the model.
3. ``lora``: a few real LoRA steps for each ``--ranks`` (all linear layers of every block, the
   added-token table's <nexa_split> row trained), the MLX peak and the process RSS measured beside
   the prediction for the micro-batches that ran (benchmarks/memory_validate.py's measurement).
4. ``adapter``: the rank-16 adapter loaded by octo-mlx and by plain ``mlx_lm.load(extended base,
   adapter_path=...)``; their logits compared.
5. ``gguf``: ``export_gguf`` then ``import_gguf``; every tensor compared bit for bit.

    bash scripts/with-openblas.sh .venv/bin/python benchmarks/true_size.py --model gemma-2b \\
        --out benchmarks/results/true-size-gemma-2b.json
    bash scripts/with-openblas.sh .venv/bin/python benchmarks/true_size.py --model phi-3-mini \\
        --out benchmarks/results/true-size-phi-3-mini.json

Needs about 2x the float32 weights in free memory (Phi-3 Mini: 15.3 GB of weights, ~19 GB peak
for LoRA) and ~4x on disk (model, extended base, GGUF, imported copy; removed at the end
unless ``--keep``). One model at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # the tests package of this source checkout: the local tokenizer
sys.path.insert(0, str(HERE))  # memory_validate: the one measurement of a training peak

MODELS = {
    # name: (published config, shipped recipes planned, LoRA recipe the steps run)
    "phi-3-mini": (
        "phi-3-mini-4k-instruct.json",
        [
            "recipes/planner-full-phi3-mini.yaml",
            "recipes/planner-lora-r16-phi3-mini.yaml",
            "recipes/planner-lora-r64-phi3-mini.yaml",
        ],
        "recipes/planner-lora-r{rank}-phi3-mini.yaml",
    ),
    "gemma-2b": (
        "gemma-2b.json",
        ["recipes/planner-full-gemma-2b.yaml"],
        "recipes/planner-lora-r{rank}-phi3-mini.yaml",  # the same LoRA settings, the Gemma model
    ),
}
ROUND_TRIP_IDS = [3, 17, 101, 250, 999, 1500, 40, 7]


def build(name: str, folder: Path, data: Path, layers: int | None = None) -> dict:
    """The random model of ``name``'s true configuration with a local tokenizer (``layers``:
    that many blocks instead of the published count, every width kept)."""
    import mlx.core as mx
    from mlx_lm.utils import _get_classes, save_config, save_model

    from tests.helpers.tiny import build_tokenizer

    published = json.loads((HERE / "true_size" / MODELS[name][0]).read_text())
    corpus = [
        m["content"]
        for line in (data / "train.jsonl").read_text().splitlines()
        for m in json.loads(line)["messages"]
    ]
    build_tokenizer(folder, 4096, corpus=corpus, max_length=published["max_position_embeddings"])
    vocab = json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"]
    config = {k: v for k, v in published.items() if not k.startswith("_")}
    if layers:
        config["num_hidden_layers"] = layers
    # the local tokenizer's end and pad ids; every shape stays the published one
    config.update(eos_token_id=vocab["<|im_end|>"], pad_token_id=vocab["<|endoftext|>"], bos_token_id=None)
    start = time.perf_counter()
    model_class, args_class = _get_classes(config)
    mx.random.seed(0)
    model = model_class(args_class.from_dict(config))
    save_model(folder, model)  # evaluates the random weights shard by shard
    save_config(dict(config), folder / "config.json")
    params = sum(v.size for v in mx.load(str(next(folder.glob("model*.safetensors")))).values())
    del model
    mx.clear_cache()
    built = time.perf_counter() - start
    # The extended base (the added-token table's rows), built here so that the training processes
    # find it cached and their peak is training's alone.
    from octo_mlx.models.tokens import extend_base

    start = time.perf_counter()
    extended = extend_base(folder)
    return dict(
        folder=str(folder),
        seconds=round(built, 1),
        first_shard_params=params,
        extended=str(extended),
        config={k: v for k, v in json.loads((folder / "config.json").read_text()).items() if k in published},
        extend_seconds=round(time.perf_counter() - start, 1),
    )


def plan(name: str, folder: Path, data: Path) -> list[dict]:
    """`octo-mlx train --plan-memory` of each shipped recipe, on the built folder and the data the
    steps train on."""
    rows = []
    for recipe in MODELS[name][1]:
        cmd = [
            str(ROOT / ".venv/bin/octo-mlx"),
            "train",
            "--recipe",
            recipe,
            "--plan-memory",
            f"model.path={folder}",
            f"data.path={data}",
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        rows.append(dict(recipe=recipe, rc=out.returncode, text=out.stdout + out.stderr))
    return rows


def lora(name: str, folder: Path, data: Path, work: Path, rank: int, steps: int, batch: int) -> dict:
    """A few LoRA steps of ``rank`` in a fresh process: measured and predicted peak, step time."""
    from memory_validate import predict

    from octo_mlx.models.shape import read_model_config
    from octo_mlx.runtime.blas import openblas_env

    run = work / f"run-r{rank}"
    if run.exists():
        shutil.rmtree(run)
    spec = dict(
        model=str(folder),
        data=str(data),
        method="lora",
        rank=rank,
        gc=False,
        batching="bucket",
        pad_multiple=16,
        recipe=str(ROOT / MODELS[name][2].format(rank=rank)),
    )
    spec["overrides"] = [
        f"model.path={folder}",
        f"data.path={data}",
        f"output.dir={run}",
        f"lora.rank={rank}",
        f"lora.alpha={2 * rank}",
        "train.method=lora",
        "train.epochs=1",
        f"train.batch_size={batch}",
        "train.grad_accumulation=1",
        "train.batching=bucket",
        "train.pad_multiple=16",
        "train.grad_checkpoint=false",
        "train.warmup_ratio=0",
        "train.learning_rate=1e-3",  # an adapter far from zero for the round trip; memory, time alike
        "output.save_best=false",
        "data.valid_limit=1",
    ]
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, str(HERE / "memory_validate.py"), "--data", str(data), "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=openblas_env(),
        cwd=ROOT,
    )
    wall = time.perf_counter() - start
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
    if not line:
        return dict(rank=rank, failed=out.stderr[-3000:])
    measured = json.loads(line[0][7:])
    trained = json.loads((run / "train.json").read_text())
    p = predict(read_model_config(folder), spec, measured)
    mlx_pred = p.total - p.overhead
    return dict(
        rank=rank,
        steps=trained["steps"],
        micro_batches=[len(m) for m in measured["micro"]],
        tokens_per_step=[sum(m) for m in measured["micro"]],
        train_seconds=round(trained["train_seconds"], 1),
        seconds_per_step=round(trained["train_seconds"] / max(trained["steps"], 1), 1),
        useful_tokens_per_s=round(trained["useful_tokens_per_s"], 1),
        process_seconds=round(wall, 1),
        predicted_mlx_gb=round(mlx_pred / 1e9, 3),
        measured_mlx_gb=round(measured["peak"] / 1e9, 3),
        mlx_error=round((mlx_pred - measured["peak"]) / measured["peak"], 4),
        predicted_total_gb=round(p.total / 1e9, 3),
        measured_rss_gb=round(measured["rss"] / 1e9, 3),
        rss_error=round((p.total - measured["rss"]) / measured["rss"], 4),
        adapter=str(run / "last"),
        base=trained["base_dir"],
        spec=spec,
        measured=measured,
    )


def adapter_round_trip(adapter: str, base: str) -> dict:
    """Logits of the adapter as octo-mlx loads it and as plain mlx-lm loads it, one at a time."""
    import mlx.core as mx
    import mlx_lm
    import numpy as np

    from octo_mlx.adapters.folder import load_with_adapter

    ids = mx.array([ROUND_TRIP_IDS])
    model, _, folder = load_with_adapter(adapter_path=adapter)
    ours = np.array(model(ids).astype(mx.float32))
    del model
    mx.clear_cache()
    model, _ = mlx_lm.load(base, adapter_path=adapter)
    plain = np.array(model(ids).astype(mx.float32))
    del model
    mx.clear_cache()
    model, _ = mlx_lm.load(base)  # without the adapter: the adapter must matter for the test to mean anything
    bare = np.array(model(ids).astype(mx.float32))
    diff = float(np.abs(ours - plain).max())
    return dict(
        octo_base=str(folder),
        plain_base=base,
        max_abs_diff=diff,
        logit_scale=float(np.abs(plain).max()),
        adapter_effect=float(np.abs(plain - bare).max()),
        same_argmax=bool((ours.argmax(-1) == plain.argmax(-1)).all()),
        allclose_1e4=bool(np.allclose(ours, plain, atol=1e-4, rtol=1e-4)),
    )


def gguf_round_trip(folder: Path, work: Path) -> dict:
    """export_gguf then import_gguf; every tensor compared bit for bit (Gemma's norms are stored
    as w + 1 by llama.cpp's convention: compared within one float32 ulp of their value)."""
    import mlx.core as mx

    from octo_mlx.models.gguf import convert as gguf

    path, back = work / "model.gguf", work / "from-gguf"
    for p in (path, back):
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    start = time.perf_counter()
    gguf.export_gguf(folder, path)
    export_s = time.perf_counter() - start
    size = path.stat().st_size
    start = time.perf_counter()
    report = gguf.import_gguf(path, back)
    import_s = time.perf_counter() - start
    path.unlink()
    a, b = {}, {}
    for f in sorted(folder.glob("model*.safetensors")):
        a.update(mx.load(str(f)))
    for f in sorted(back.glob("model*.safetensors")):
        b.update(mx.load(str(f)))
    exact, within_ulp, differ = 0, 0, []
    for k in sorted(a):  # lazily loaded: one pair of tensors in memory at a time
        if k not in b or a[k].dtype != b[k].dtype or a[k].shape != b[k].shape:
            differ.append(k)
        elif mx.array_equal(a[k], b[k]).item():
            exact += 1
        elif k.endswith("norm.weight") and mx.allclose(a[k], b[k], rtol=0, atol=2.4e-7).item():
            within_ulp += 1
        else:
            differ.append(k)
        a[k] = b[k] = None
    extra = sorted(k for k in b if k not in a)
    shutil.rmtree(back)
    return dict(
        tensors=len(a),
        bit_exact=exact,
        norms_within_one_ulp=within_ulp,
        differ=differ[:10],
        extra_in_import=extra[:10],
        gguf_bytes=size,
        export_seconds=round(export_s, 1),
        import_seconds=round(import_s, 1),
        arch=report.arch,
    )


def _phase(args: list[str]) -> dict:
    """Run one phase of this script in a fresh process; its JSON result."""
    from octo_mlx.runtime.blas import openblas_env

    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, env=openblas_env(), cwd=ROOT
    )
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
    if not line:
        return dict(failed=out.stderr[-3000:])
    return json.loads(line[0][7:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, choices=sorted(MODELS))
    ap.add_argument("--work", default="/tmp/octo-true-size", help="where the models are built")
    ap.add_argument("--ranks", default="16,64")
    ap.add_argument("--steps", type=int, default=3, help="LoRA steps per rank (one epoch of steps x batch)")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument(
        "--layers", type=int, default=None, help="fewer blocks, true widths (a quick check; reported)"
    )
    ap.add_argument("--skip", default="", help="phases to skip: plan,lora,adapter,gguf")
    ap.add_argument("--keep", action="store_true", help="keep the built model and runs")
    ap.add_argument("--out", default=None, help="write the JSON report here")
    ap.add_argument("--phase", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    work = Path(a.work) / a.model
    folder, data = work / "src", work / "data"
    if a.phase:
        kind, *rest = a.phase.split(":")
        if kind == "build":
            result = build(a.model, folder, data, a.layers)
        elif kind == "adapter":
            result = adapter_round_trip(rest[0], ":".join(rest[1:]))
        else:
            result = gguf_round_trip(folder, work)
        print("RESULT " + json.dumps(result))
        return
    import mlx.core as mx

    skip = set(filter(None, a.skip.split(",")))
    marker = work / ".octo-true-size"  # a folder this script made: the only kind it removes
    if work.exists() and any(work.iterdir()) and not marker.exists():
        sys.exit(f"{work}: holds something this script did not make; choose another --work")
    if work.exists() and not a.keep:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    marker.touch()
    report = dict(
        model=a.model,
        command=" ".join(["benchmarks/true_size.py", *sys.argv[1:]]),
        machine=dict(platform=platform.platform(), cpus=os.cpu_count(), mlx=mx.__version__),
        started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )

    def save():
        if a.out:
            Path(a.out).parent.mkdir(parents=True, exist_ok=True)
            Path(a.out).write_text(json.dumps(report, indent=1) + "\n")

    n = a.steps * a.batch
    if not (folder / "config.json").exists():
        subprocess.run(
            [
                str(ROOT / ".venv/bin/octo-mlx"),
                "data",
                "synth",
                "--offline",
                "--domain",
                "android",
                "--n",
                str(max(4 * n, 40)),
                "--out",
                str(work / "synth"),
            ],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        data.mkdir(exist_ok=True)
        lines = (work / "synth" / "train.jsonl").read_text().splitlines()
        (data / "train.jsonl").write_text("\n".join(lines[:n]) + "\n")
        (data / "valid.jsonl").write_text(lines[n] + "\n")
        layers = ["--layers", str(a.layers)] if a.layers else []
        report["build"] = _phase(["--model", a.model, "--work", a.work, *layers, "--phase", "build"])
        save()
    if "plan" not in skip:
        report["plan"] = plan(a.model, folder, data)
        save()
    report["lora"] = []
    if "lora" not in skip:
        for rank in map(int, a.ranks.split(",")):
            report["lora"].append(lora(a.model, folder, data, work, rank, a.steps, a.batch))
            save()
    done = [r for r in report["lora"] if "adapter" in r]
    if "adapter" not in skip and done:
        r = done[0]
        report["adapter_round_trip"] = _phase(
            ["--model", a.model, "--work", a.work, "--phase", f"adapter:{r['adapter']}:{r['base']}"]
        )
        save()
    if "gguf" not in skip:
        report["gguf_round_trip"] = _phase(["--model", a.model, "--work", a.work, "--phase", "gguf"])
        save()
    report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if not a.keep:
        for r in done:
            if Path(r["base"]).is_dir() and "/extended/" in r["base"]:
                shutil.rmtree(r["base"], ignore_errors=True)  # 15 GB of cache: rebuilt when needed
        shutil.rmtree(work, ignore_errors=True)
    save()
    print(json.dumps({k: v for k, v in report.items() if k != "plan"}, indent=1, default=str)[:6000])


if __name__ == "__main__":
    main()
