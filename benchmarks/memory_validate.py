"""Predicted vs measured peak memory of real training steps (octo_mlx.train.loop), several model shapes.

Each case trains one epoch of a few examples in a fresh process and reads the MLX allocator
peak (mx.get_peak_memory) and the process max RSS; the prediction is octo_mlx.train.memory's plan for
the micro-batches that ran. Random weights for the synthetic shapes (memory does not depend on
the values), the real default model (SmolLM2-135M-Instruct) for the last cases.

    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 \
        .venv/bin/python benchmarks/memory_validate.py --data /tmp/octo-bench/android [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests package of this source checkout: tiny models

SHAPES = {
    # name: (arch, overrides of tests/helpers/tiny.py's config)
    "tiny-llama": ("llama", dict(hidden_size=64, num_hidden_layers=2, intermediate_size=128)),
    "small-llama": (
        "llama",
        dict(
            hidden_size=256,
            num_hidden_layers=4,
            intermediate_size=768,
            num_attention_heads=8,
            num_key_value_heads=4,
            vocab_size=4096,
        ),
    ),
    "small-phi3": (
        "phi3",
        dict(
            hidden_size=256,
            num_hidden_layers=4,
            intermediate_size=768,
            num_attention_heads=8,
            num_key_value_heads=8,
            vocab_size=4096,
        ),
    ),
    "small-gemma": (
        "gemma",
        dict(
            hidden_size=256,
            num_hidden_layers=4,
            intermediate_size=1024,
            num_attention_heads=4,
            num_key_value_heads=1,
            head_dim=64,
            vocab_size=8192,
        ),
    ),
}


def build_model(folder: Path, arch: str, overrides: dict) -> Path:
    """A random model of this shape with the tests' local tokenizer."""
    import mlx.core as mx
    from mlx_lm.utils import _get_classes, save_config, save_model

    from tests.helpers.tiny import ARCH_CONFIGS, build_tokenizer

    build_tokenizer(folder)
    vocab = json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"]
    config = dict(
        ARCH_CONFIGS[arch],
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=len(vocab),
        eos_token_id=vocab["<|im_end|>"],
        pad_token_id=vocab["<|endoftext|>"],
    )
    config.update(overrides)
    config["vocab_size"] = max(config["vocab_size"], len(vocab) + 8)  # room for <nexa_split>
    model_class, args_class = _get_classes(config)
    mx.random.seed(0)
    model = model_class(args_class.from_dict(config))
    mx.eval(model.parameters())
    save_model(folder, model)
    save_config(dict(config), folder / "config.json")
    return folder


def worker(spec: dict) -> dict:
    """Train one epoch; return the measured peaks and the micro-batches' geometry."""
    import mlx.core as mx

    from octo_mlx.train import batching
    from octo_mlx.train.loop import train
    from octo_mlx.train.recipe import load_recipe

    recipe = load_recipe(spec.get("recipe"), spec["overrides"])  # a recipe file, else the defaults
    result = train(recipe)
    # the micro-batches of that epoch, exactly as the loop built them
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(result.base_dir if spec["method"] != "full" else spec["model"]))
    tok.add_tokens(["<nexa_split>"])
    lines = [json.loads(x) for x in (Path(spec["data"]) / "train.jsonl").read_text().splitlines()]
    enc = [batching.encode_chat(tok, x["messages"]) for x in lines]
    t = recipe.train
    plan = batching.plan_epoch([len(e.tokens) for e in enc], t.batch_size, 1, t.seed, 0, t.batching)
    micro = [[len(enc[j].tokens) for j in m[0]] for m in plan]
    comp = [[enc[j].completion_len for j in m[0]] for m in plan]
    return dict(
        peak=result.peak_memory_gb * 1e9,
        rss=result.peak_rss_gb * 1e9,
        micro=micro,
        comp=comp,
        mlx=mx.__version__,
    )


def predict(config: dict, spec: dict, measured: dict):
    from octo_mlx.train.memory import data_geometry, plan_memory

    plans = []
    for lengths, comps in zip(measured["micro"], measured["comp"]):
        g = data_geometry(lengths, comps, len(lengths), spec["batching"], spec["pad_multiple"])
        plans.append(
            plan_memory(
                config,
                spec["method"],
                spec["rank"],
                g.batch_size,
                g.seq_len,
                "float32",
                spec["gc"],
                packed=g.packed,
                head_fraction=g.head_fraction,
            )
        )
    return max(plans, key=lambda p: p.total)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="a planner dataset folder (train.jsonl)")
    ap.add_argument("--n", type=int, default=8, help="training examples (one epoch)")
    ap.add_argument("--shapes", default="tiny-llama,small-llama,small-phi3,small-gemma,default")
    ap.add_argument("--methods", default="lora,full")
    ap.add_argument("--gc", default="0,1")
    ap.add_argument("--batching", default="bucket", choices=["bucket", "pack", "pad"])
    ap.add_argument("--out", default=None, help="write the rows as JSON here")
    ap.add_argument("--replay", default=None, help="re-predict the measurements of an --out JSON")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print("RESULT " + json.dumps(worker(json.loads(a.worker))))
        return
    if a.replay:
        rows = json.loads(Path(a.replay).read_text())
        for row in rows:
            show(row, predict(row["config"], row["spec"], row["measured"]))
        return
    from octo_mlx.models.shape import read_model_config
    from octo_mlx.runtime.blas import openblas_env

    tmp = Path(tempfile.mkdtemp(prefix="octo-memval-"))
    data = tmp / "data"
    data.mkdir()
    lines = (Path(a.data) / "train.jsonl").read_text().splitlines()[: a.n]
    (data / "train.jsonl").write_text("\n".join(lines) + "\n")
    (data / "valid.jsonl").write_text(lines[0] + "\n")
    rows = []
    for shape in a.shapes.split(","):
        if shape == "default":
            from octo_mlx.models.default import default_model_path

            model = default_model_path()
        else:
            arch, over = SHAPES[shape]
            model = build_model(tmp / shape, arch, over)
        config = read_model_config(model)
        for method in a.methods.split(","):
            for gc in a.gc.split(","):
                spec = dict(model=str(model), data=str(data), method=method, rank=8, gc=gc == "1")
                spec.update(batching=a.batching, pad_multiple=16)
                spec["overrides"] = [
                    f"model.path={model}",
                    f"data.path={data}",
                    f"output.dir={tmp}/run-{shape}-{method}-{gc}",
                    f"train.method={method}",
                    "lora.rank=8",
                    "lora.alpha=16",
                    f"train.grad_checkpoint={gc == '1'}",
                    f"train.batching={a.batching}",
                    "train.pad_multiple=16",
                    "train.epochs=1",
                    "train.batch_size=4",
                    "train.learning_rate=1e-5",
                    "output.save_best=false",
                ]
                out = subprocess.run(
                    [sys.executable, __file__, "--data", a.data, "--worker", json.dumps(spec)],
                    capture_output=True,
                    text=True,
                    env=openblas_env(),
                    cwd=ROOT,
                )
                line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
                if not line:
                    print(f"{shape} {method} gc={gc}: FAILED\n{out.stderr[-2000:]}", file=sys.stderr)
                    continue
                m = json.loads(line[0][7:])
                row = dict(shape=shape, method=method, gc=gc == "1", config=config, spec=spec, measured=m)
                rows.append(row)
                show(row, predict(config, spec, m))
                if a.out:
                    Path(a.out).write_text(json.dumps(rows, indent=1))


def show(row: dict, p) -> None:
    m = row["measured"]
    mlx_pred = p.total - p.overhead
    e_mlx, e_rss = (mlx_pred - m["peak"]) / m["peak"], (p.total - m["rss"]) / m["rss"]
    print(
        f"| {row['shape']} | {row['method']} | {'yes' if row['gc'] else 'no'} | {mlx_pred / 1e6:.0f} | "
        f"{m['peak'] / 1e6:.0f} | {e_mlx:+.0%} | {p.total / 1e6:.0f} | {m['rss'] / 1e6:.0f} | {e_rss:+.0%} |",
        flush=True,
    )


if __name__ == "__main__":
    main()
