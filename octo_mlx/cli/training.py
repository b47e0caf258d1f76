"""`octo-mlx train`, `octo-mlx memory ...` and `octo-mlx bench train`."""

from __future__ import annotations

import shlex
import sys

from octo_mlx.cli import command

# --- train ----------------------------------------------------------------------------------


def _train_args(p):
    p.add_argument("--recipe", required=True, help="a recipe YAML (see recipes/)")
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="SECTION.KEY=VALUE",
        help="override recipe values, e.g. train.learning_rate=1e-5 lora.rank=16",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--resume",
        action="store_true",
        help="continue from the output's last checkpoint (the default when one exists)",
    )
    g.add_argument("--fresh", action="store_true", help="ignore and delete the output's checkpoints")
    m = p.add_argument_group("memory plan (predicts, trains nothing)")
    m.add_argument(
        "--plan-memory",
        action="store_true",
        help="predict the peak memory of this recipe and whether it fits, then stop",
    )
    m.add_argument(
        "--seq-len",
        type=int,
        default=None,
        help="tokens per example for the plan (default: measured on the recipe's data)",
    )
    m.add_argument(
        "--mac-gb",
        type=float,
        default=None,
        help="plan for a Mac with this much unified memory (bfloat16) instead of this machine",
    )


@command(
    "train",
    "octo_mlx.train:train",
    "fine-tune a planner from a recipe (full, LoRA, DoRA; resumable)",
    _train_args,
)
def _train(a):
    from octo_mlx import ui
    from octo_mlx.config import load_recipe
    from octo_mlx.train import train

    recipe = load_recipe(a.recipe, a.overrides)
    if a.plan_memory:
        from octo_mlx.memory import plan_recipe

        ui.show_memory_plan(plan_recipe(recipe, seq_len=a.seq_len, memory_gb=a.mac_gb))
        return
    resume = True if a.resume else (False if a.fresh else None)
    command = "octo-mlx train " + shlex.join(["--recipe", a.recipe, *a.overrides])
    with ui.train_progress() as progress:
        result = train(recipe, callback=progress, resume=resume, command=command)
    ui.show_train_result(result)

# --- memory / bench train --------------------------------------------------------------------


def _memory_plan_args(p):
    p.add_argument(
        "--model",
        default=None,
        help="model folder, or a known architecture: phi-3-mini, gemma-2b, gemma-7b, smollm2-135m "
        "(or their hub ids); default: the default model",
    )
    p.add_argument("--method", default="lora", choices=["full", "lora", "dora"])
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=256, help="tokens per example")
    p.add_argument("--pack", action="store_true", help="one packed row (train.batching=pack)")
    p.add_argument(
        "--head-fraction",
        type=float,
        default=0.5,
        help="share of positions that reach the LM head (completion tokens; 1.0 = all)",
    )
    p.add_argument("--grad-checkpoint", action="store_true")
    p.add_argument(
        "--dtype",
        default=None,
        choices=["float32", "bfloat16", "float16"],
        help="default: bfloat16 on a Mac (or with --mac-gb), float32 elsewhere",
    )
    p.add_argument("--mac-gb", type=float, default=None, help="check against a Mac with this much memory")


@command(
    "memory plan",
    "octo_mlx.memory:plan_memory",
    "predict the peak training memory of a model and batch",
    _memory_plan_args,
)
def _memory_plan(a):
    from octo_mlx import memory, ui

    source = a.model or "smollm2-135m"
    if a.model is None:
        from octo_mlx.models import default_model_dir

        if (default_model_dir() / "config.json").is_file():
            source = str(default_model_dir())
    config = memory.read_model_config(source)
    mac = a.mac_gb is not None or memory.is_mac()
    dtype = a.dtype or ("bfloat16" if mac else "float32")
    plan = memory.plan_memory(
        config,
        a.method,
        a.rank,
        a.batch_size,
        a.seq_len,
        dtype,
        a.grad_checkpoint,
        packed=a.pack and a.batch_size > 1,
        head_fraction=a.head_fraction,
        overhead_bytes=memory.OVERHEAD_MAC if mac else memory.OVERHEAD_LINUX,
    )
    if a.mac_gb is not None:
        budget = memory.Budget(memory.mac_budget(a.mac_gb), f"75% of a {a.mac_gb:g} GB Mac")
    else:
        budget = memory.machine_budget()
    geometry = memory.Geometry(
        a.batch_size, a.seq_len, a.pack and a.batch_size > 1, a.head_fraction, "--batch-size/--seq-len"
    )
    ui.show_memory_plan(memory.RecipePlan(plan, budget, source, geometry))


def _memory_table_args(p):
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=256, help="tokens per example (planning examples: < 256)")
    p.add_argument("--grad-checkpoint", action="store_true")
    p.add_argument("--pack", action="store_true", help="packed rows (train.batching=pack)")


@command(
    "memory table",
    "octo_mlx.memory:memory_table",
    "predicted peaks of Phi-3 Mini and Gemma 2B/7B, full and LoRA, on 16/32/64 GB Macs",
    _memory_table_args,
)
def _memory_table(a):
    from octo_mlx import memory, ui

    rows = memory.memory_table(
        batch_size=a.batch_size, seq_len=a.seq_len, grad_checkpoint=a.grad_checkpoint, packed=a.pack
    )
    layout = "one packed row" if a.pack else "one row per example"
    ui.show_memory_table(
        rows,
        caption=f"batch {a.batch_size} x {a.seq_len} tokens, {layout}; "
        f"budget = {memory.MAC_WORKING_SET:.0%} of unified memory",
    )


def _bench_train_args(p):
    p.add_argument("--data", required=True, help="a planner dataset folder (train.jsonl)")
    p.add_argument("--model", default=None, help="model folder (default: the default model)")
    p.add_argument("--method", default="lora", choices=["lora", "full"])
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--alpha", type=float, default=32.0)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument(
        "--examples", type=int, default=32, help="first N training examples (a multiple of the batch)"
    )
    p.add_argument(
        "--bundled-examples",
        type=int,
        default=8,
        help="examples for the slow bundled-BLAS peer (per-token speed is what is compared)",
    )
    p.add_argument("--epochs", type=int, default=2, help="the last one is timed (the first compiles)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--peers",
        default="octo,mlx_lm,mlx_lm_bundled,peft",
        help="comma-separated: octo, mlx_lm, mlx_lm_bundled, peft, octo_pack (ours, each micro-batch "
        "packed into one row)",
    )
    p.add_argument(
        "--torch-python",
        default=None,
        help="python of the PyTorch + PEFT environment (default .venv-torch/bin/python)",
    )
    p.add_argument(
        "--octo",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="extra recipe override for our side (repeatable)",
    )
    p.add_argument("--json", default=None, help="write every run as JSON here")
    p.add_argument(
        "--markdown",
        default=None,
        metavar="FILE",
        help="write/replace this configuration's section of FILE (e.g. BENCHMARKS.md)",
    )


@command(
    "bench train",
    "octo_mlx.bench:run_bench",
    "training speed and memory: octo-mlx vs mlx_lm.lora (OpenBLAS and bundled BLAS) vs PyTorch + PEFT",
    _bench_train_args,
)
def _bench_train(a):
    from octo_mlx import bench, ui

    config = bench.BenchConfig(
        data=a.data,
        model=a.model,
        method=a.method,
        rank=a.rank,
        alpha=a.alpha,
        batch_size=a.batch_size,
        examples=a.examples,
        bundled_examples=a.bundled_examples,
        epochs=a.epochs,
        repeats=a.repeats,
        peers=tuple(p.strip() for p in a.peers.split(",") if p.strip()),
        torch_python=a.torch_python,
        octo_overrides=tuple(a.octo),
    )
    report = bench.run_bench(config, callback=ui.bench_train_callback)
    if a.json:
        bench.write_json(report, a.json)
    if a.markdown:
        from octo_mlx.markdown import write_section

        write_section(a.markdown, bench.markdown_report(report, "octo-mlx " + shlex.join(sys.argv[1:])))
    ui.show_bench_train(report)
