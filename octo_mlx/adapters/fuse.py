"""`octo-mlx adapters fuse`: an adapter folded into its base, written as a model folder mlx-lm loads.

The fold is the LoRA/DoRA layers' own ``fuse()`` (mlx-lm's): W + scale * (A B)^T for a linear
layer, W + scale * A B for an embedding (the rows of added tokens with it), DoRA's magnitudes
included, so a DoRA adapter fuses exactly even though it cannot be combined. A quantized base is
quantized again after the fold (lossy, as ``mlx_lm.fuse``) unless ``dequantize``.
:func:`fuse_layers` works on a model in memory, for callers that fold an adapter without
writing it.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from octo_mlx.adapters.folder import (
    adapter_base_folder,
    apply_adapter,
    check_adapter,
    check_out,
    read_adapter_config,
)
from octo_mlx.errors import OctoError
from octo_mlx.files import sha256_file, staged_dir
from octo_mlx.models.folder import is_model_folder
from octo_mlx.syntax import TASK_FILE

FUSED_MARKER = "octo-mlx-fused.json"  # what was folded into what


@dataclass(frozen=True)
class FuseResult:
    """What `adapters fuse` wrote."""

    out: Path
    adapter: Path
    base: Path
    layers: int  # LoRA/DoRA layers folded
    quantized: bool  # the base was quantized
    dequantized: bool  # ...and the result is not (``dequantize``)
    seconds: float


def fuse_layers(model, dequantize: bool = False) -> list[str]:
    """Fold every LoRA/DoRA layer of ``model`` into its base layer, in place.

    Args:
        model: an mlx-lm model with adapter layers (``load_adapters``).
        dequantize: leave folded quantized layers dense instead of quantizing them again.

    Returns:
        the names of the modules folded.
    """
    from mlx.utils import tree_unflatten

    folded = [
        (name, m.fuse(dequantize=dequantize)) for name, m in model.named_modules() if hasattr(m, "fuse")
    ]
    if folded:
        model.update_modules(tree_unflatten(folded))
    return [name for name, _ in folded]


def fuse_model(
    adapter: str | Path,
    out: str | Path,
    model: str | Path | None = None,
    dequantize: bool = False,
    force: bool = False,
    overwrite: bool = False,
) -> FuseResult:
    """Write the adapter's base with the adapter folded in, as a model folder (``mlx_lm.load(out)``).

    Args:
        adapter: an adapter folder (LoRA or DoRA; a combined one too).
        out: the model folder to write (new or empty; ``overwrite`` replaces it).
        model: the base (default: the one the adapter names; :func:`.folder.adapter_base_folder`).
        dequantize: write dense weights when the base is quantized (exact; otherwise the fused
            weights are quantized again, as mlx_lm.fuse does).
        force: fold onto a base whose fingerprint differs from the adapter's (a warning).
        overwrite: replace a non-empty ``out``.
    """
    from mlx_lm.utils import dequantize_model, load_model, save_config, save_model

    from octo_mlx.adapters.lora import is_quantized

    start = time.perf_counter()
    adapter = Path(adapter)
    out = check_out(out, overwrite, "a model folder", is_model_folder)
    cfg = read_adapter_config(adapter)
    if cfg.get("fine_tune_type") == "full":
        raise OctoError(
            "a full fine-tune is a model already: nothing to fuse", adapter / "adapter_config.json"
        )
    base = adapter_base_folder(adapter, cfg, model, force)
    if out.exists() and out.resolve() in (base.resolve(), adapter.resolve()):
        raise OctoError("is the base model or the adapter itself; write the fused model elsewhere", "--out")
    net, config = load_model(base, lazy=True)
    check_adapter(adapter, cfg, config)
    apply_adapter(net, adapter, cfg, base)
    quantized = is_quantized(net)
    dequantized = bool(dequantize and quantized)
    folded = fuse_layers(net, dequantize)
    if dequantized:
        net = dequantize_model(net)
        config.pop("quantization", None)
        config.pop("quantization_config", None)
    marker = {
        "adapter": str(adapter.resolve()),
        "adapters_sha256": sha256_file(adapter / "adapters.safetensors"),
        "base": str(base.resolve()),
        "base_fingerprint": cfg.get("base_fingerprint"),
        "table": cfg.get("table"),
        "tokens": cfg.get("tokens", []),
        "dequantized": dequantized,
        "combine": cfg.get("combine"),
    }
    with staged_dir(out) as tmp:
        _copy_small_files(base, tmp)
        save_model(tmp, net)
        save_config(config, tmp / "config.json")
        # How the model is asked (an action model's task, slots, domains and dates; a planner's
        # request clock) must outlive its adapter: see action.model.dates_for, planner.clock_of.
        task = {k: cfg[k] for k in ("task", "slots", "domains", "dates", "languages", "queries") if k in cfg}
        if task:
            (tmp / TASK_FILE).write_text(json.dumps(task, indent=2) + "\n")
        (tmp / FUSED_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    return FuseResult(out, adapter, base, len(folded), quantized, dequantized, time.perf_counter() - start)


def _copy_small_files(base: Path, dest: Path) -> None:
    """The base's tokenizer, generation config and licence; not its weights, config or markers
    (an extended base's marker would claim untrained rows)."""
    for f in base.iterdir():
        if not f.is_file() or f.name == "config.json" or f.name.startswith(("model", "octo-mlx", ".")):
            continue
        if f.suffix in (".gguf", ".safetensors"):
            continue
        shutil.copy2(f, dest / f.name)
