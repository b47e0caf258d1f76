"""`octo-mlx adapters ...`: several adapters combined into one, an adapter fused into its base."""

from __future__ import annotations

from octo_mlx.cli.registry import at_least, between, check_numbers, command

# --- combine ------------------------------------------------------------------------------------


def _combine_args(p):
    p.add_argument("adapters", nargs="*", metavar="ADAPTER", help="two or more adapter folders (LoRA)")
    p.add_argument(
        "--weights",
        nargs="+",
        type=float,
        default=None,
        metavar="W",
        help="one weight per adapter, in their order (default: 1/n each)",
    )
    p.add_argument(
        "--method",
        default="linear",
        help="linear: the exact weighted sum of updates (stacked ranks, or SVD with --rank); "
        "ties, dare_linear, dare_ties, magnitude_prune: on the update matrices; "
        "knots, knots_dare: TIES/DARE in the shared SVD basis (docs/adapters.md)",
    )
    p.add_argument(
        "--rank",
        type=int,
        default=None,
        help="store the result at this rank by truncated SVD (default: exact for linear and knots, "
        "the sum of the ranks for the others)",
    )
    p.add_argument(
        "--density", type=float, default=None, help="share of entries kept, in (0, 1] (methods that trim)"
    )
    p.add_argument(
        "--seed", type=int, default=None, help="seed of DARE's draws (dare_*, knots_dare; default 0)"
    )
    p.add_argument("--out", help="the adapter folder to write (new or empty)")
    p.add_argument("--overwrite", action="store_true", help="replace an adapter folder already at --out")


@command(
    "adapters combine",
    "octo_mlx.adapters.combined:combine_adapters",
    "combine several LoRA adapters into one (exact weighted sum, TIES, DARE, KnOTS)",
    _combine_args,
)
def _adapters_combine(a):
    from octo_mlx import ui
    from octo_mlx.adapters import combined
    from octo_mlx.errors import OctoError

    if not a.out:
        raise OctoError(
            "missing --out, e.g. `octo-mlx adapters combine A B --weights 0.5 0.5 --out combined`"
        )
    result = combined.combine_adapters(
        a.adapters, a.out, a.weights, a.method, a.rank, a.density, a.seed, a.overwrite
    )
    ui.show_combined(result)


# --- fuse ---------------------------------------------------------------------------------------


def _fuse_args(p):
    p.add_argument("adapter", nargs="?", help="an adapter folder (LoRA or DoRA, combined or trained)")
    p.add_argument("--out", help="the model folder to write (new or empty)")
    p.add_argument("--model", default=None, help="the base model (default: the one the adapter names)")
    p.add_argument(
        "--dequantize",
        action="store_true",
        help="write dense weights when the base is quantized (otherwise quantized again, lossy)",
    )
    p.add_argument("--force", action="store_true", help="fuse onto a base of another fingerprint (warns)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")


@command(
    "adapters fuse",
    "octo_mlx.adapters.fuse:fuse_model",
    "fold an adapter into its base: a model folder mlx_lm.load loads",
    _fuse_args,
)
def _adapters_fuse(a):
    from octo_mlx import ui
    from octo_mlx.adapters import fuse
    from octo_mlx.errors import OctoError

    if not a.adapter or not a.out:
        raise OctoError("missing ADAPTER or --out, e.g. `octo-mlx adapters fuse runs/x/last --out fused`")
    ui.show_fused(fuse.fuse_model(a.adapter, a.out, a.model, a.dequantize, a.force, a.overwrite))


# --- PEFT interop -------------------------------------------------------------------------------


def _export_args(p):
    p.add_argument("adapter", nargs="?", help="an adapter folder (LoRA or DoRA; mlx-lm's format)")
    p.add_argument("--format", choices=["peft"], default="peft", help="the format to write (PEFT's LoRA)")
    p.add_argument("--out", help="the PEFT folder to write (new or empty)")
    p.add_argument("--model", default=None, help="the base model (default: the one the adapter names)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")


@command(
    "adapters export",
    "octo_mlx.adapters.peft:export_peft",
    "write an adapter as a PEFT LoRA folder (adapter_config.json + adapter_model.safetensors)",
    _export_args,
)
def _adapters_export(a):
    from octo_mlx import ui
    from octo_mlx.adapters import peft
    from octo_mlx.errors import OctoError

    if not a.adapter or not a.out:
        raise OctoError(
            "missing ADAPTER or --out, e.g. `octo-mlx adapters export runs/x/last --format peft --out peft`"
        )
    ui.show_peft_export(peft.export_peft(a.adapter, a.out, a.model, a.overwrite))


def _import_args(p):
    p.add_argument("peft_dir", nargs="?", metavar="PEFT_DIR", help="a PEFT LoRA folder (safetensors)")
    p.add_argument("--out", help="the adapter folder to write (new or empty)")
    p.add_argument(
        "--model", default=None, help="the base model (default: the base_model_name_or_path it names)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")


@command(
    "adapters import",
    "octo_mlx.adapters.peft:import_peft",
    "turn a PEFT LoRA folder into an adapter mlx-lm and octo-mlx load",
    _import_args,
)
def _adapters_import(a):
    from octo_mlx import ui
    from octo_mlx.adapters import peft
    from octo_mlx.errors import OctoError

    if not a.peft_dir or not a.out:
        raise OctoError("missing PEFT_DIR or --out, e.g. `octo-mlx adapters import peft-lora --out mine`")
    ui.show_peft_import(peft.import_peft(a.peft_dir, a.out, a.model, a.overwrite))


# --- pack ---------------------------------------------------------------------------------------


def _pack_args(p):
    p.add_argument("adapter", nargs="?", help="an adapter folder (trained, combined or imported)")
    p.add_argument("--dtype", default="float16", help="float16 (default), bfloat16 or float32")
    p.add_argument("--out", help="the adapter folder to write (new or empty)")
    p.add_argument("--overwrite", action="store_true", help="replace an adapter folder already at --out")


@command(
    "adapters pack",
    "octo_mlx.adapters.pack:pack_adapter",
    "write an adapter again with its weights in float16, to ship (half the bytes)",
    _pack_args,
)
def _adapters_pack(a):
    from octo_mlx import ui
    from octo_mlx.adapters import pack
    from octo_mlx.errors import OctoError

    if not a.adapter or not a.out:
        raise OctoError(
            "missing ADAPTER or --out, e.g. `octo-mlx adapters pack runs/x/last --out adapters/x`"
        )
    ui.show_packed(pack.pack_adapter(a.adapter, a.out, a.dtype, a.overwrite))


def _tune_args(p):
    p.add_argument("adapters", nargs="*", help="two or more planner adapter folders of one base")
    p.add_argument("--data", required=False, help="the validation split (DIR/valid.jsonl), never test")
    p.add_argument("--out", required=False, help="the adapter folder for the best combination")
    p.add_argument("--method", default="linear", help="as for `adapters combine` (default linear)")
    p.add_argument(
        "--search",
        default="grid",
        choices=["grid", "random", "cma", "learned"],
        help="learned: one weight per adapter per layer, trained on the validation requests (LoRA Soups)",
    )
    p.add_argument("--step", type=float, default=0.25, help="grid: the weight step (0.25: 5 mixes of 2)")
    p.add_argument("--budget", type=int, default=12, help="random and cma: candidates scored")
    p.add_argument("--per-domain", type=int, default=100, help="validation requests per domain (<= 100)")
    p.add_argument("--density", type=float, default=None, help="methods that trim: the share kept")
    p.add_argument("--seed", type=int, default=0, help="random search's seed (and DARE's)")
    p.add_argument(
        "--resolver-data",
        default=None,
        help="the judge's resolver's split (default: the train split beside --data)",
    )
    p.add_argument("--epochs", type=int, default=2, help="learned: passes over the validation requests")
    p.add_argument("--lr", type=float, default=0.05, help="learned: Adam's learning rate for the weights")
    p.add_argument("--overwrite", action="store_true", help="replace an adapter folder at --out")


@command(
    "adapters tune",
    "octo_mlx.eval.tune:tune_weights",
    "search the fusion weights of planner adapters on a validation split, write the best combination",
    _tune_args,
)
def _tune(a):
    from octo_mlx import ui
    from octo_mlx.errors import OctoError
    from octo_mlx.eval.tune import tune_weights

    if not a.data or not a.out:
        raise OctoError("give --data VALID_SPLIT and --out FOLDER")
    check_numbers(
        a,
        step=between(0, 1),
        budget=at_least(1),
        per_domain=between(1, 100),
        seed=between(0, 2**32 - 1),
        epochs=at_least(1),
    )
    if not a.lr > 0:
        raise OctoError(f"must be > 0, got {a.lr}", "--lr")
    result = tune_weights(
        a.adapters, a.data, a.out, a.method, a.search, a.step, a.budget, a.per_domain, a.density, a.seed,
        overwrite=a.overwrite, progress=ui.counter("candidates"), epochs=a.epochs, learning_rate=a.lr,
        resolver_data=a.resolver_data,
    )  # fmt: skip
    ui.show_tune(result)
