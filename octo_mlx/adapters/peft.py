"""PEFT interop: an adapter folder (mlx-lm's format) written as a PEFT LoRA folder, and back.

The mapping, exact in both directions (docs/adapters.md, "PEFT interop"):

- **Names.** mlx-lm keeps Hugging Face's module paths for llama, phi3 and gemma
  (``model.layers.3.self_attn.qkv_proj`` is the same module on both sides); PEFT saves them
  under ``base_model.model.``.
- **Factors.** mlx-lm: ``lora_a`` (in, r), ``lora_b`` (r, out), ``y += scale * x A B``. PEFT:
  ``lora_A.weight`` (r, in), ``lora_B.weight`` (out, r), ``y += scaling * x A^T B^T``; on an
  embedding ``lora_embedding_A`` (r, vocab) and ``lora_embedding_B`` (dim, r). Transposes
  only: the numbers are never touched, so ours -> PEFT -> ours is bit-identical.
- **Scale.** One rank (the file's) and a ``lora_alpha`` with ``lora_alpha / r == scale`` (to
  the last bit where a float64 can; else one ulp off, far below float32). Imported per-module
  ranks or alphas (``rank_pattern``, ``alpha_pattern``) are zero-padded to the largest rank and
  their scaling ratio folded into ``lora_b``.
- **Rows of added tokens** already are LoRA factors of ``embed_tokens`` (and an untied
  ``lm_head``), which PEFT holds as they are. A tied head (SmolLM2, Gemma) takes mlx-lm's
  embedding update too; PEFT's embedding LoRA changes the input only, so the export adds
  ``lm_head`` factors that are the same numbers transposed (PEFT's own ``ensure_weight_tying``
  builds the same pair), and the import folds such a pair back.
- **DoRA** on linear layers maps one to one (a magnitude per output row on both sides). On an
  embedding PEFT's magnitude is per embedding dimension and mlx-lm's per token row: refused.

What has no faithful form (full module copies, trainable-token values, LoRA biases, an
embedding LoRA on a tied model without its head pair, ...) is one OctoError naming the file
and field, never a silently different adapter.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import mlx.core as mx

from octo_mlx.adapters.folder import (
    adapter_base,
    check_out,
    extended_base_for,
    is_adapter_folder,
    read_adapter_config,
    save_adapter,
)
from octo_mlx.adapters.peft_map import (
    BLOCK,
    EMBED,
    HEAD,
    PEFT_CONFIG,
    PEFT_WEIGHTS,
    PeftLora,
    check_peft_config,
    from_peft_tensors,
    group_factors,
    module_kind,
    peft_alpha,
    split_base_copies,
    target_modules,
    to_peft_tensors,
)
from octo_mlx.adapters.rows import pad_rank
from octo_mlx.errors import OctoError
from octo_mlx.files import read_json_object, safetensors_header, staged_dir
from octo_mlx.models.folder import read_config, weights_sha256
from octo_mlx.models.loading import resolve_model
from octo_mlx.models.tokens import read_extension

SIDECAR = "octo_mlx_adapter_config.json"  # our adapter_config.json, verbatim (PEFT ignores the file)
CONVERTED = "the folder being converted"  # how --out's error names the folder read
ARCHS = ("llama", "phi3", "gemma")  # mlx-lm keeps Hugging Face's module paths for these (checked)


@dataclass(frozen=True)
class Base:
    """What the mapping needs to know of a base model, read from mlx-lm's own (lazy) model."""

    folder: Path
    model_type: str
    tied: bool  # the output head is the embedding (no lm_head module in mlx-lm)
    layers: int
    shapes: dict[str, tuple[int, int]]  # module path -> (in, out); an embedding: (vocab, dim)


@dataclass(frozen=True)
class PeftExport:
    out: Path
    base: str | None  # base_model_name_or_path
    rank: int
    lora_alpha: float
    modules: int
    tied_head: bool  # lm_head factors added for a tied head
    tokens: tuple[str, ...]


@dataclass(frozen=True)
class PeftImport:
    out: Path
    base: Path
    rank: int
    scale: float
    modules: int
    dora: bool
    folded: tuple[str, ...]  # what was changed in form, not in function (rank padding, a tied head pair)


# --- the base -----------------------------------------------------------------------------------


def read_base(folder: Path) -> Base:
    """Module paths, shapes and head tying of a base, from mlx-lm's model built lazily (no weights read)."""
    import mlx.nn as nn
    from mlx_lm.utils import load_model

    model_type = read_config(folder).get("model_type", "?")
    if model_type not in ARCHS:
        raise OctoError(
            f"model_type {model_type!r}: PEFT names are mapped for {', '.join(ARCHS)} only",
            folder / "config.json",
        )
    try:
        model, _ = load_model(Path(folder), lazy=True)
    except Exception as e:
        raise OctoError(f"cannot read the model: {type(e).__name__}: {e}", folder) from None
    shapes: dict[str, tuple[int, int]] = {}
    for path, m in model.named_modules():
        bits = getattr(m, "bits", None)
        packed = 32 // bits if isinstance(m, (nn.QuantizedLinear, nn.QuantizedEmbedding)) else 1
        if isinstance(m, (nn.Linear, nn.QuantizedLinear)):
            shapes[path] = (int(m.weight.shape[1]) * packed, int(m.weight.shape[0]))
        elif isinstance(m, (nn.Embedding, nn.QuantizedEmbedding)):
            shapes[path] = (int(m.weight.shape[0]), int(m.weight.shape[1]) * packed)
    return Base(Path(folder), model_type, HEAD not in shapes, len(model.layers), shapes)


def _check_fits(factors: dict[str, dict], base: Base, where: Path) -> None:
    """Every module is one of the base's, of the same shape (a clear line before mlx-lm's own)."""
    inner = sorted({m.group(2) for p in base.shapes if (m := BLOCK.match(p))})
    for module, f in factors.items():
        if module not in base.shapes:
            raise OctoError(
                f"no module {module} in the {base.model_type} base {base.folder} "
                f"(its blocks have {', '.join(inner)})",
                where,
            )
        want, got = base.shapes[module], (f["lora_a"].shape[0], f["lora_b"].shape[1])
        if tuple(got) != want:
            raise OctoError(
                f"{module}: factors for a {got[0]}x{got[1]} layer, the base {base.folder} has "
                f"{want[0]}x{want[1]}: another base (or vocabulary)? give it with --model",
                where,
            )


# --- export ---------------------------------------------------------------------------------------


def _export_base(adapter: Path, cfg: dict, model) -> tuple[Path | None, str | None]:
    """(the folder the adapter loads on, base_model_name_or_path); (None, its name) when not here."""
    if "table" in cfg:  # trained on the extended base (added-token table): that is the base
        folder = extended_base_for(model, cfg, adapter)
        return folder, str(folder.resolve())
    if model is not None:
        return resolve_model(model), str(model)
    named = adapter_base(None, cfg, adapter) or cfg.get("model")
    if named and Path(named).is_dir():
        folder = resolve_model(named)
        return folder, str(folder.resolve())
    return None, named


def export_peft(
    adapter: str | Path, out: str | Path, model: str | Path | None = None, overwrite: bool = False
) -> PeftExport:
    """Write an adapter folder (mlx-lm's format, octo-mlx's or mlx-lm's own) as a PEFT LoRA folder.

    Args:
        adapter: the adapter folder (adapter_config.json + adapters.safetensors).
        out: the PEFT folder to write (adapter_config.json + adapter_model.safetensors, and our
            config beside as octo_mlx_adapter_config.json); new or empty; written whole or not at all.
        model: the base (a folder or hub id); default: the one the adapter names.
        overwrite: replace a non-empty ``out`` (whole, once the new folder is written).
    """
    adapter = Path(adapter)
    out = check_out(out, overwrite, "a PEFT adapter folder", _is_peft_folder, [adapter], CONVERTED)
    cfg = read_adapter_config(adapter)
    where = adapter / "adapter_config.json"
    kind = cfg.get("fine_tune_type", "lora")
    if kind == "full":
        raise OctoError(
            "fine_tune_type: a full fine-tune is a model, not a LoRA: PEFT's LoRA cannot hold it", where
        )
    params = cfg["lora_parameters"]
    rank, scale = params["rank"], params.get("scale")
    if scale is None:
        raise OctoError("lora_parameters.scale: missing (mlx-lm needs it too)", where)
    factors = group_factors(mx.load(str(adapter / "adapters.safetensors")), rank, kind == "dora", adapter)
    if kind == "dora" and (EMBED in factors or HEAD in factors):
        raise OctoError(
            "a DoRA adapter with embedding/head rows: PEFT's DoRA scales an embedding per dimension, "
            "mlx-lm per token row; no faithful PEFT form",
            where,
        )
    folder, name = _export_base(adapter, cfg, model)
    base = read_base(folder) if folder is not None else None
    if base is not None:
        _check_fits(factors, base, adapter / "adapters.safetensors")
    elif EMBED in factors:
        raise OctoError(
            f"base {name!r} is not here, and whether it ties its output head to {EMBED} decides the "
            "PEFT form of the embedding factors; give the base with --model",
            where,
        )
    tie_head = base is not None and base.tied and EMBED in factors and HEAD not in factors
    tensors = to_peft_tensors(factors, tie_head)
    modules = sorted({*factors, *([HEAD] if tie_head else [])})
    alpha = peft_alpha(scale, rank)
    peft_config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": name,
        "r": rank,
        "lora_alpha": alpha,
        "lora_dropout": params.get("dropout", 0.0),
        "target_modules": target_modules(modules, base.layers if base else None),
        "use_rslora": False,
        "use_dora": kind == "dora",
        "bias": "none",
        "lora_bias": False,
        "fan_in_fan_out": False,
        "modules_to_save": None,
        "rank_pattern": {},
        "alpha_pattern": {},
        "layers_to_transform": None,
        "layers_pattern": None,
        "init_lora_weights": True,
        "inference_mode": True,
        "revision": None,
    }
    with staged_dir(out) as tmp:
        mx.save_safetensors(str(tmp / PEFT_WEIGHTS), tensors, metadata={"format": "pt"})
        (tmp / PEFT_CONFIG).write_text(json.dumps(peft_config, indent=2) + "\n")
        (tmp / SIDECAR).write_text(json.dumps(cfg, indent=4))
    return PeftExport(out, name, rank, alpha, len(modules), tie_head, tuple(cfg.get("tokens") or ()))


# --- import ---------------------------------------------------------------------------------------


def _import_base(model, sidecar: dict | None, peft_dir: Path, name: str | None) -> Path:
    """The base the PEFT adapter was trained on: --model; else what our exported config names;
    else base_model_name_or_path (a folder, or a hub id fetched as everywhere in octo-mlx)."""
    if sidecar is not None and "table" in sidecar:
        return extended_base_for(model, sidecar, peft_dir)
    if model is not None:
        return resolve_model(model)
    if sidecar is not None:
        named = adapter_base(None, sidecar, peft_dir) or sidecar.get("model")
        if named and Path(named).is_dir():
            return resolve_model(named)
    if not name:
        raise OctoError(
            "base_model_name_or_path: missing; give the base model with --model", peft_dir / PEFT_CONFIG
        )
    return resolve_model(name)


def _tie(factors: dict[str, dict], base: Base, lora: PeftLora, where: Path) -> list[str]:
    """Make the head factors fit mlx-lm's tied head (in place); what was folded."""
    if not base.tied or not ({EMBED, HEAD} & set(factors)):
        return []
    if HEAD in factors:
        e, h = factors.get(EMBED), factors[HEAD]
        if e is not None and _same(h["lora_a"], e["lora_b"].T) and _same(h["lora_b"], e["lora_a"].T):
            del factors[HEAD]  # the tied pair (our export, PEFT's ensure_weight_tying): one update
            return ["the lm_head factors are the embedding's, transposed: one tied update"]
        raise OctoError(
            f"{HEAD}: the {base.model_type} base ties its output head to {EMBED} (mlx-lm has no "
            "separate head to adapt) and these factors are not the embedding's; no faithful mlx-lm form",
            where,
        )
    if not lora.tied_by_peft:
        raise OctoError(
            f"{EMBED}: on this tied base PEFT changes the input embedding only, mlx-lm the output "
            "head too; no faithful mlx-lm form (PEFT's ensure_weight_tying=True gives the head the "
            "same update, as mlx-lm does)",
            where,
        )
    return []


def _check_base_copies(copies: dict[str, mx.array], base: Base, where: Path) -> None:
    """A saved embedding or head matrix must be the base's own (then the LoRA alone is the
    adapter); a different one means the matrix itself was trained or resized: no LoRA form."""
    if not copies:
        return
    stored: dict[str, mx.array] = {}
    for f in sorted(base.folder.glob("model*.safetensors")):
        stored.update(mx.load(str(f)))
    for module, saved in copies.items():
        own = stored.get(f"{module}.weight", stored.get(f"{EMBED}.weight") if base.tied else None)
        if own is None or not _same(own.astype(mx.float32), saved.astype(mx.float32)):
            raise OctoError(
                f"{module}.base_layer.weight differs from the base's {module}: the matrix itself was "
                "trained or resized, which no LoRA holds (give its own base with --model)",
                where,
            )


def _check_targets(targets, base: Base, where: Path) -> None:
    """Each name in a list ``target_modules`` matches a module of the base, as PEFT matches them
    (the path, or its end after a dot): a name that matches none was meant for another model."""
    if not isinstance(targets, list):
        return  # "all-linear" or a regex: the tensors' own modules are checked instead
    paths = [*base.shapes, HEAD]  # transformers has an lm_head module even when it is tied
    for name in targets:
        if not isinstance(name, str) or not any(p == name or p.endswith("." + name) for p in paths):
            leaves = sorted({p.rsplit(".", 1)[-1] for p in paths})
            raise OctoError(
                f"target_modules: {name!r} names no module of the {base.model_type} base "
                f"{base.folder} (its modules: {', '.join(leaves)})",
                where,
            )


def _is_peft_folder(folder: Path) -> bool:
    if not (folder / PEFT_WEIGHTS).is_file() or not (folder / PEFT_CONFIG).is_file():
        return False
    try:
        return "peft_type" in read_json_object(folder / PEFT_CONFIG)
    except OctoError:  # not JSON: not a PEFT folder either
        return False


def _same(x: mx.array, y: mx.array) -> bool:
    return x.shape == y.shape and bool(mx.array_equal(x, y).item())


def import_peft(
    peft_dir: str | Path, out: str | Path, model: str | Path | None = None, overwrite: bool = False
) -> PeftImport:
    """Write a PEFT LoRA folder as an adapter folder mlx-lm and octo-mlx load.

    Args:
        peft_dir: adapter_config.json (peft_type LORA) + adapter_model.safetensors.
        out: the adapter folder to write; new or empty; written whole or not at all.
        model: the base model (folder or hub id); default: the base our export recorded, else
            base_model_name_or_path.
        overwrite: replace a non-empty ``out`` (whole, once the new folder is written).
    """
    peft_dir = Path(peft_dir)
    out = check_out(out, overwrite, "an adapter folder", is_adapter_folder, [peft_dir], CONVERTED)
    cfg_path, w_path = peft_dir / PEFT_CONFIG, peft_dir / PEFT_WEIGHTS
    if not peft_dir.is_dir():
        raise OctoError("no such folder", peft_dir)
    if not cfg_path.is_file():
        raise OctoError(f"not a PEFT adapter folder: no {PEFT_CONFIG}", peft_dir)
    if not w_path.is_file():
        if (peft_dir / "adapter_model.bin").is_file():
            raise OctoError(
                "adapter_model.bin is a pickle, not read here: save it with safe_serialization=True", peft_dir
            )
        raise OctoError(f"not a PEFT adapter folder: no {PEFT_WEIGHTS}", peft_dir)
    peft_config = read_json_object(cfg_path)
    lora = check_peft_config(peft_config, cfg_path)
    name = peft_config.get("base_model_name_or_path")
    safetensors_header(w_path)  # a truncated or random file: one line, not mlx's traceback
    tensors, copies = split_base_copies(mx.load(str(w_path)))
    factors = from_peft_tensors(tensors, w_path)
    if not factors:
        raise OctoError("no LoRA factors", w_path)
    for module, f in factors.items():
        try:
            module_kind(module)
        except OctoError as e:
            raise OctoError(e.message, w_path) from None
        if "m" in f and not lora.dora:
            raise OctoError(f"{module}: a DoRA magnitude, but use_dora is false", cfg_path)
        if lora.dora and f["embedding"]:
            raise OctoError(
                f"{module}: DoRA on an embedding: PEFT's magnitude is per embedding dimension, "
                "mlx-lm's per token row; no faithful mlx-lm form",
                w_path,
            )
        if lora.dora and "m" not in f:
            raise OctoError(f"{module}: use_dora is true but the module has no lora_magnitude_vector", w_path)
    sidecar = read_json_object(peft_dir / SIDECAR) if (peft_dir / SIDECAR).is_file() else None
    base = read_base(_import_base(model, sidecar, peft_dir, name))
    _check_targets(peft_config.get("target_modules"), base, cfg_path)
    _check_base_copies(copies, base, w_path)
    folded = _tie(factors, base, lora, w_path)
    _check_fits(factors, base, w_path)

    # One rank and one scale per mlx-lm adapter: pad to the largest rank, fold other scalings into B.
    scale = lora.scaling(lora.r, lora.alpha)
    rank = max(f["lora_a"].shape[1] for f in factors.values())
    weights: dict[str, mx.array] = {}
    for module, f in factors.items():
        r = f["lora_a"].shape[1]
        want = lora.pattern(lora.rank_pattern, module, lora.r)
        if r != want:
            raise OctoError(
                f"{module}: factors of rank {r}, the config says {want} (r, rank_pattern)", w_path
            )
        s = lora.scaling(r, lora.pattern(lora.alpha_pattern, module, lora.alpha))
        b = f["lora_b"]
        if s != scale:
            b = (b.astype(mx.float32) * (s / scale)).astype(b.dtype)
            folded.append(f"{module}: scaling {s:g} folded into lora_b (the adapter's is {scale:g})")
        weights[f"{module}.lora_a"], weights[f"{module}.lora_b"] = f["lora_a"], b
        if "m" in f:
            weights[f"{module}.m"] = f["m"]
    if any(f["lora_a"].shape[1] != rank for f in factors.values()):
        folded.append(f"factors zero-padded to rank {rank} (mlx-lm has one rank per adapter)")
    weights = dict(sorted(pad_rank(weights, rank).items()))

    config = _adapter_config(factors, base, lora, rank, scale, sidecar)
    config["imported_from"] = {
        "format": "peft",
        "path": str(peft_dir.resolve()),
        "base_model_name_or_path": name,
    }
    save_adapter(out, weights, config)
    return PeftImport(out, base.folder, rank, scale, len(factors), lora.dora, tuple(folded))


def _adapter_config(
    factors: dict, base: Base, lora: PeftLora, rank: int, scale: float, sidecar: dict | None
) -> dict:
    """Our adapter_config.json: mlx-lm's fields, and the base (and table) as octo-mlx records them."""
    kinds = [module_kind(m) for m in factors]
    blocks = sorted({i for i, _ in kinds if i is not None})
    inner = sorted({path for i, path in kinds if i is not None})
    tops = [m for m in (EMBED, HEAD) if m in factors]
    params = {"rank": rank, "scale": scale, "dropout": lora.dropout, "keys": inner + tops}
    if not lora.rslora:
        params.update(alpha=lora.alpha, trained_rank=lora.r)
    lora_fields = {
        "fine_tune_type": "dora" if lora.dora else "lora",
        "num_layers": -1 if not blocks or blocks[0] == 0 else base.layers - blocks[0],
        "lora_parameters": params,
    }
    if sidecar is not None:  # our own export coming back: its record, unless the update changed shape
        old = sidecar.get("lora_parameters") or {}
        same = (
            old.get("rank") == rank
            and isinstance(old.get("scale"), (int, float))
            and math.isclose(old["scale"], scale, rel_tol=1e-12)  # peft_alpha: at most an ulp off
            and sorted(old.get("keys") or []) == sorted(params["keys"])
        )
        kept = {k: sidecar[k] for k in ("fine_tune_type", "num_layers", "lora_parameters") if k in sidecar}
        same = same and kept.get("fine_tune_type", "lora") == lora_fields["fine_tune_type"]
        return dict(sidecar, **(kept if same else lora_fields))
    marker = read_extension(base.folder)
    if marker is None:
        folder = str(base.folder.resolve())
        return dict(
            lora_fields, model=folder, base_model=folder, base_fingerprint=weights_sha256(base.folder)
        )
    ids = marker.get("ids") or {}
    rows = [factors[EMBED]["lora_a"]] if EMBED in factors else []
    if HEAD in factors:
        rows.append(factors[HEAD]["lora_b"].T)
    changed = {t for t, i in ids.items() for a in rows if i < a.shape[0] and bool(mx.any(a[i] != 0).item())}
    return dict(
        lora_fields,
        model=marker.get("source"),
        base_fingerprint=marker.get("source_sha256"),
        table=marker.get("table"),
        tokens=[t for t in ids if t in changed],
    )
