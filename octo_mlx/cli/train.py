"""`octo-mlx train` and `octo-mlx memory ...`: fine-tuning, and its memory planned before anything loads."""

from __future__ import annotations

import shlex

from octo_mlx.cli.registry import command

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
    p.add_argument(
        "--force",
        action="store_true",
        help="train even when the memory plan predicts the run does not fit this machine (warns)",
    )
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
    "octo_mlx.train.loop:train",
    "fine-tune a planner from a recipe (full, LoRA, DoRA; resumable)",
    _train_args,
)
def _train(a):
    from octo_mlx import ui
    from octo_mlx.train import loop, setup
    from octo_mlx.train.recipe import load_recipe

    recipe = load_recipe(a.recipe, a.overrides)
    if a.plan_memory:
        ui.show_memory_plan(setup.plan_recipe(recipe, seq_len=a.seq_len, memory_gb=a.mac_gb))
        return
    resume = True if a.resume else (False if a.fresh else None)
    command = "octo-mlx train " + shlex.join(["--recipe", a.recipe, *a.overrides])
    with ui.train_progress() as progress:
        result = loop.train(recipe, callback=progress, resume=resume, command=command, force=a.force)
    ui.show_train_result(result)


# --- memory ---------------------------------------------------------------------------------


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
    "octo_mlx.train.memory:plan_on_machine",
    "predict the peak training memory of a model and batch",
    _memory_plan_args,
)
def _memory_plan(a):
    from octo_mlx import ui
    from octo_mlx.train import memory

    config, where, _ = memory.model_config_for(a.model)
    packed = a.pack and a.batch_size > 1
    geometry = memory.Geometry(a.batch_size, a.seq_len, packed, a.head_fraction, "--batch-size/--seq-len")
    plan = memory.plan_on_machine(
        config, where, geometry, a.method, a.rank, a.grad_checkpoint, dtype=a.dtype, memory_gb=a.mac_gb
    )
    ui.show_memory_plan(plan)


def _memory_table_args(p):
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=256, help="tokens per example (planning examples: < 256)")
    p.add_argument("--grad-checkpoint", action="store_true")
    p.add_argument("--pack", action="store_true", help="packed rows (train.batching=pack)")


@command(
    "memory table",
    "octo_mlx.train.memory:memory_table",
    "predicted peaks of Phi-3 Mini and Gemma 2B/7B, full and LoRA, on 16/32/64 GB Macs",
    _memory_table_args,
)
def _memory_table(a):
    from octo_mlx import ui
    from octo_mlx.train import memory

    rows = memory.memory_table(
        batch_size=a.batch_size, seq_len=a.seq_len, grad_checkpoint=a.grad_checkpoint, packed=a.pack
    )
    layout = "one packed row" if a.pack else "one row per example"
    ui.show_memory_table(
        rows,
        caption=f"batch {a.batch_size} x {a.seq_len} tokens, {layout}; "
        f"budget = {memory.MAC_WORKING_SET:.0%} of unified memory",
    )
