"""An adapter folder written again in a smaller float type, to ship: LoRA weights and trained rows
in float16 (or bfloat16), everything else as it was.

Training keeps float32 here (the CPU has no fast half-precision path); a shipped adapter needs
half the bytes, and loading casts it back to the compute dtype (:func:`octo_mlx.adapters.folder.
load_with_adapter`). The folder records what it was packed from and the largest change any
weight took, so a reader can see the cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from octo_mlx.adapters.folder import check_out, is_adapter_folder, read_adapter_config, save_adapter
from octo_mlx.errors import OctoError
from octo_mlx.models.folder import weights_sha256

DTYPES = ("float16", "bfloat16", "float32")


@dataclass(frozen=True)
class PackResult:
    """What :func:`pack_adapter` wrote: ``bytes_in``/``bytes_out`` of the weights file and the
    largest absolute change of any weight (``max_abs_change``)."""

    out: Path
    dtype: str
    tensors: int
    bytes_in: int
    bytes_out: int
    max_abs_change: float


def pack_adapter(
    adapter: str | Path, out: str | Path, dtype: str = "float16", overwrite: bool = False
) -> PackResult:
    """Write ``adapter`` to ``out`` with its floating-point weights in ``dtype``.

    Raises:
        OctoError: not an adapter folder, an unknown dtype, or an ``--out`` that is refused
            (see :func:`octo_mlx.adapters.folder.check_out`).
    """
    import mlx.core as mx

    adapter = Path(adapter)
    if dtype not in DTYPES:
        raise OctoError(f"unknown dtype {dtype!r}: {', '.join(DTYPES)}", "--dtype")
    if not is_adapter_folder(adapter):
        raise OctoError("not an adapter folder (adapter_config.json + adapters.safetensors)", adapter)
    out = check_out(
        out, overwrite, "an adapter folder", is_adapter_folder, [adapter], "the adapter being packed"
    )
    cfg = read_adapter_config(adapter)
    source = adapter / "adapters.safetensors"
    weights = mx.load(str(source))
    target = getattr(mx, dtype)
    packed, change = {}, 0.0
    for name, w in weights.items():
        if mx.issubdtype(w.dtype, mx.floating):
            p = w.astype(target)
            if not mx.all(mx.isfinite(p)).item():  # beyond the type's range (float16: 65504)
                raise OctoError(f"{name} does not fit in {dtype} (values beyond its range)", source)
            change = max(change, mx.abs(p.astype(mx.float32) - w.astype(mx.float32)).max().item())
            packed[name] = p
        else:
            packed[name] = w
    cfg = {
        **cfg,
        "packed": {"dtype": dtype, "from_sha256": weights_sha256(adapter), "max_abs_change": change},
    }
    recipe = adapter / "recipe.yaml"
    save_adapter(out, packed, cfg, recipe.read_text() if recipe.is_file() else None)
    return PackResult(
        Path(out),
        dtype,
        len(packed),
        source.stat().st_size,
        (Path(out) / "adapters.safetensors").stat().st_size,
        change,
    )
