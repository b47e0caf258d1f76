"""GGUF (llama.cpp's file format) to a folder `mlx_lm.load` loads, and back.

What llama.cpp's converter (`convert_hf_to_gguf.py`, classes LlamaModel, Phi3MiniModel and
GemmaModel, read for this module) does to Hugging Face weights, and what we undo:

- llama: the rows of q_proj and k_proj are permuted for llama.cpp's interleaved RoPE,
  ``w.reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2)``, with n_head = the KV head
  count for k_proj. We apply the inverse. Forgetting it still loads and generates, but badly:
  SmolLM2-135M's next-token loss goes from ~2.1 to ~3.6 nats on plain English.
- phi3: no permutation (llama.cpp runs Phi-3 with NeoX-style RoPE, the HF layout); q/k/v stay
  fused in ``attn_qkv`` and gate/up in ``ffn_up``, exactly mlx-lm's ``qkv_proj``/``gate_up_proj``.
- gemma: no permutation (NeoX RoPE too), but every ``*norm.weight`` was written as ``w + 1``
  (HF Gemma's RMSNorm multiplies by ``1 + w``; llama.cpp's by ``w``). We subtract 1.
  ``lm_head`` is dropped: Gemma ties it to the embeddings.

Quantized tensors (Q4_0, Q4_1, Q8_0) come from ``mx.load`` as MLX affine triplets (packed
uint32 weight, scales, biases; group size 32) and are dequantized in float32, which gives the
same numbers as llama.cpp's own float32 dequantization. They are then stored as float16: the
4-bit rounding step is ~1/15 of a group's range, ~100x the float16 rounding (2^-11 relative),
and float16 halves the folder (270 MB instead of 540 MB for SmolLM2-135M). F32/F16 tensors are
written as they are, so float files round-trip bit-exactly. The runtime casts to its compute
dtype on load (float32 on a Linux CPU, see octo_mlx.runtime.device).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from octo_mlx.errors import OctoError
from octo_mlx.files import check_output_file, check_output_folder, fresh_tmp, replace_dir
from octo_mlx.models.folder import read_config
from octo_mlx.models.gguf.format import load_gguf_tensors, read_gguf_header
from octo_mlx.models.shape import ModelShape

ARCHITECTURES = ("llama", "phi3", "gemma")


# --- names and layouts ------------------------------------------------------------------------

_GLOBAL_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
_BLOCK_NAMES = {
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "attn_qkv": "self_attn.qkv_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
_PHI3_BLOCK_NAMES = {**_BLOCK_NAMES, "ffn_up": "mlp.gate_up_proj"}  # phi3's ffn_up holds [gate; up]
_BLOCK_RE = re.compile(r"^blk\.(\d+)\.(\w+)\.(weight|bias)$")
_HF_BLOCK_RE = re.compile(r"^model\.layers\.(\d+)\.(.+)\.(weight|bias)$")


def hf_name(gguf_name: str, arch: str) -> str:
    """The mlx-lm (Hugging Face) name of a GGUF tensor.

    E.g. blk.3.attn_q.weight -> model.layers.3.self_attn.q_proj.weight.
    """
    block_names = _PHI3_BLOCK_NAMES if arch == "phi3" else _BLOCK_NAMES
    m = _BLOCK_RE.match(gguf_name)
    if m and m.group(2) in block_names:
        return f"model.layers.{m.group(1)}.{block_names[m.group(2)]}.{m.group(3)}"
    stem, _, suffix = gguf_name.rpartition(".")
    if stem in _GLOBAL_NAMES and suffix in ("weight", "bias"):
        return f"{_GLOBAL_NAMES[stem]}.{suffix}"
    raise OctoError(f"tensor '{gguf_name}' has no known {arch} counterpart in mlx-lm")


def gguf_name(hf: str, arch: str) -> str:
    """The inverse of hf_name."""
    block_names = _PHI3_BLOCK_NAMES if arch == "phi3" else _BLOCK_NAMES
    m = _HF_BLOCK_RE.match(hf)
    if m:
        for short, long in block_names.items():
            if long == m.group(2):
                return f"blk.{m.group(1)}.{short}.{m.group(3)}"
    stem, _, suffix = hf.rpartition(".")
    for short, long in _GLOBAL_NAMES.items():
        if long == stem:
            return f"{short}.{suffix}"
    raise OctoError(f"tensor '{hf}' has no GGUF name for {arch}")


def permute_qk(w, n_heads: int):
    """HF layout -> llama.cpp layout of q_proj/k_proj rows (convert_hf_to_gguf.py LlamaModel.permute)."""
    rows = w.shape[0]
    return w.reshape(n_heads, 2, rows // n_heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute_qk(w, n_heads: int):
    """llama.cpp layout -> HF layout: the inverse of permute_qk."""
    rows = w.shape[0]
    return w.reshape(n_heads, rows // n_heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _is_norm(name: str) -> bool:
    return name.endswith("norm.weight")


def to_hf_weights(tensors: dict, arch: str, n_heads: int, n_kv_heads: int) -> dict:
    """GGUF-named float tensors -> mlx-lm-named tensors, undoing llama.cpp's layout changes (pure)."""
    import mlx.core as mx

    out = {}
    for name, w in tensors.items():
        if name.startswith("rope_factors_"):  # phi3 long-context RoPE factors live in config.json
            continue
        hf = hf_name(name, arch)
        if arch == "llama" and ".q_proj." in hf:
            w = unpermute_qk(w, n_heads)
        elif arch == "llama" and ".k_proj." in hf:
            w = unpermute_qk(w, n_kv_heads)
        elif arch == "gemma" and _is_norm(hf):
            w = (w.astype(mx.float32) - 1).astype(w.dtype)  # undo llama.cpp's `w + 1`
        out[hf] = w
    if arch == "phi3":  # some phi3 GGUFs carry q/k/v and gate/up split: mlx-lm wants them fused
        for i in range(len([k for k in out if k.endswith("input_layernorm.weight")])):
            p = f"model.layers.{i}"
            parts = [out.pop(f"{p}.self_attn.{x}_proj.weight", None) for x in "qkv"]
            if all(x is not None for x in parts):
                out[f"{p}.self_attn.qkv_proj.weight"] = mx.concatenate(parts, axis=0)
            gate = out.pop(f"{p}.mlp.gate_proj.weight", None)
            if gate is not None:
                out[f"{p}.mlp.gate_up_proj.weight"] = mx.concatenate(
                    [gate, out.pop(f"{p}.mlp.gate_up_proj.weight")]
                )
    return out


def to_gguf_weights(weights: dict, arch: str, n_heads: int, n_kv_heads: int) -> dict:
    """mlx-lm-named float tensors -> GGUF names in llama.cpp's layout (pure; inverse of to_hf_weights)."""
    import mlx.core as mx

    out = {}
    for hf, w in weights.items():
        if arch == "llama" and ".q_proj." in hf:
            w = permute_qk(w, n_heads)
        elif arch == "llama" and ".k_proj." in hf:
            w = permute_qk(w, n_kv_heads)
        elif arch == "gemma" and _is_norm(hf):
            w = (w.astype(mx.float32) + 1).astype(w.dtype)
        out[gguf_name(hf, arch)] = w
    return out


# --- config.json --------------------------------------------------------------------------------


def _float32(value) -> float:
    """GGUF stores these as float32: write 1e-05, not 9.999999747378752e-06."""
    import numpy as np

    return float(str(np.float32(value)))


_HF_CLASSES = {"llama": "LlamaForCausalLM", "phi3": "Phi3ForCausalLM", "gemma": "GemmaForCausalLM"}
_MISSING = object()


def build_config(metadata: dict, arch: str, tensors: dict, where: str | Path | None = None) -> dict:
    """config.json for mlx-lm from GGUF metadata (`{arch}.*` keys) and the tensor names/shapes.

    Args:
        metadata: GGUF metadata.
        arch: llama, phi3 or gemma.
        tensors: the GGUF-named tensors (only names and shapes are read).
        where: the file, for error messages.
    """

    def get(key: str, default=_MISSING):
        value = metadata.get(f"{arch}.{key}", default)
        if value is _MISSING:
            raise OctoError(f"GGUF metadata lacks '{arch}.{key}'", where)
        if isinstance(value, list):
            raise OctoError(f"'{arch}.{key}' varies per layer; only uniform models are supported", where)
        return value

    hidden, heads = int(get("embedding_length")), int(get("attention.head_count"))
    head_dim = int(get("attention.key_length", hidden // heads))
    rope_dim = int(get("rope.dimension_count", head_dim))
    context = int(get("context_length", 2048))
    if "token_embd.weight" not in tensors:
        raise OctoError("GGUF has no token_embd.weight tensor", where)
    config = {
        "architectures": [_HF_CLASSES[arch]],
        "model_type": arch,
        "hidden_size": hidden,
        "num_hidden_layers": int(get("block_count")),
        "intermediate_size": int(get("feed_forward_length")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(get("attention.head_count_kv", heads)),
        "rms_norm_eps": _float32(get("attention.layer_norm_rms_epsilon")),
        "rope_theta": _float32(get("rope.freq_base", 10000.0)),
        "max_position_embeddings": context,
        "vocab_size": int(tensors["token_embd.weight"].shape[0]),
        "tie_word_embeddings": "output.weight" not in tensors,
    }
    for key, field_name in (("bos", "bos_token_id"), ("eos", "eos_token_id"), ("padding", "pad_token_id")):
        if f"tokenizer.ggml.{key}_token_id" in metadata:
            config[field_name] = int(metadata[f"tokenizer.ggml.{key}_token_id"])
    if head_dim != hidden // heads or arch == "gemma":
        config["head_dim"] = head_dim
    scaling = get("rope.scaling.type", "none")
    if scaling == "linear":
        factor = float(get("rope.scaling.factor"))
        config["rope_scaling"] = {"type": "linear", "rope_type": "linear", "factor": factor}
    elif scaling not in ("none", None):
        raise OctoError(f"RoPE scaling '{scaling}' is not supported (supported: none, linear)", where)
    if "rope_freqs.weight" in tensors:
        raise OctoError("rope_freqs (Llama 3.1-style RoPE scaling) is not supported yet", where)
    if arch == "llama":
        if rope_dim != head_dim:
            raise OctoError(f"partial RoPE ({rope_dim} of {head_dim} dims) is not supported for llama", where)
        config["attention_bias"] = "blk.0.attn_q.bias" in tensors
        config["mlp_bias"] = "blk.0.ffn_up.bias" in tensors
    elif arch == "phi3":
        config["partial_rotary_factor"] = rope_dim / head_dim
        config["original_max_position_embeddings"] = int(get("rope.scaling.original_context_length", context))
        if "rope_factors_long.weight" in tensors:
            config["rope_scaling"] = {
                "type": "longrope",
                "long_factor": tensors["rope_factors_long.weight"].tolist(),
                "short_factor": tensors["rope_factors_short.weight"].tolist(),
            }
    return config


# --- import and export --------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportReport:
    """What import_gguf did."""

    source: Path
    out_dir: Path
    arch: str
    n_tensors: int  # tensors in the GGUF
    tensor_types: dict[str, int]  # GGUF tensor type -> count, e.g. {"Q4_1": 182, "F32": 61}
    n_params: int
    vocab_size: int
    tokenizer: str  # e.g. "gpt2 byte-level BPE (pre: smollm)"
    written_dtypes: dict[str, int]  # dtype on disk -> tensor count
    disk_bytes: int
    seconds: float
    warnings: tuple[str, ...] = field(default_factory=tuple)


def _save_weights(out_dir: Path, weights: dict) -> None:
    """Save like mlx_lm.utils.save_model: shards of <= 5 GB plus the index."""
    import mlx.core as mx
    from mlx_lm.utils import make_shards

    shards = make_shards(weights)
    fmt = "model-{:05d}-of-{:05d}.safetensors" if len(shards) > 1 else "model.safetensors"
    index = {"metadata": {"total_size": sum(v.nbytes for v in weights.values())}, "weight_map": {}}
    for i, shard in enumerate(shards):
        name = fmt.format(i + 1, len(shards))
        mx.save_safetensors(str(out_dir / name), shard, metadata={"format": "mlx"})
        index["weight_map"].update({k: name for k in shard})
    index["weight_map"] = dict(sorted(index["weight_map"].items()))
    (out_dir / "model.safetensors.index.json").write_text(json.dumps(index, indent=4))


def import_gguf(path: str | Path, out_dir: str | Path, dtype: str | None = None) -> ImportReport:
    """Turn a llama/phi3/gemma GGUF into a folder mlx_lm.load loads (config, safetensors, tokenizer).

    The folder is built beside ``out_dir`` (``.NAME.tmp``) and renamed into place when whole, so
    a kill leaves no folder or a complete one; a temporary folder left by a killed run is removed
    by the next run.

    Args:
        path: the .gguf file.
        out_dir: the folder to create; it must not exist or be empty.
        dtype: None keeps F32/F16 tensors as stored and writes dequantized ones as float16;
            "float32"/"float16"/"bfloat16" casts every tensor.

    Raises:
        OctoError: not a GGUF, truncated, unsupported architecture, tensor type or tokenizer.
    """
    import mlx.core as mx

    from octo_mlx.models.gguf import vocab as gguf_vocab

    t0 = time.perf_counter()
    path, out_dir = Path(path), Path(out_dir)
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise OctoError("output folder exists and is not empty; choose another", out_dir)
    check_output_folder(out_dir, "--out", overwrite=True)  # not a file, writable (emptiness: above)
    header = read_gguf_header(path)
    arch = header.arch
    if arch not in ARCHITECTURES:
        raise OctoError(
            f"architecture '{arch or '?'}' is not supported (supported: {', '.join(ARCHITECTURES)})", path
        )
    if dtype not in (None, "float32", "float16", "bfloat16"):
        raise OctoError(f"dtype must be float32, float16 or bfloat16, not '{dtype}'")
    vocab = gguf_vocab.tokenizer_from_gguf(header.metadata, path)
    tensors = load_gguf_tensors(header, getattr(mx, dtype) if dtype else None)
    config = build_config(header.metadata, arch, tensors, path)
    try:
        weights = to_hf_weights(tensors, arch, config["num_attention_heads"], config["num_key_value_heads"])
    except OctoError as e:
        raise OctoError(e.message, path) from None
    if dtype:
        weights = {k: v.astype(getattr(mx, dtype)) for k, v in weights.items()}
    vocab_rows = config["vocab_size"]
    if len(vocab.tokens) > vocab_rows:
        raise OctoError(f"{len(vocab.tokens)} tokens but only {vocab_rows} embedding rows", path)
    vocab.config["model_max_length"] = config["max_position_embeddings"]
    final = Path(os.path.abspath(out_dir))  # "." has no name to put a sibling beside
    tmp = fresh_tmp(final)  # a stale one from a killed run is removed first
    try:
        _save_weights(tmp, weights)
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
        (tmp / "tokenizer.json").write_text(json.dumps(vocab.tokenizer, ensure_ascii=False))
        (tmp / "tokenizer_config.json").write_text(json.dumps(vocab.config, indent=2, ensure_ascii=False))
        replace_dir(tmp, final)  # an empty out_dir is replaced; the folder appears whole
    except BaseException:  # a half-written folder must not look like a model
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    types: dict[str, int] = {}
    for t in header.tensors:
        types[t.type_name] = types.get(t.type_name, 0) + 1
    written: dict[str, int] = {}
    for w in weights.values():
        key = str(w.dtype).replace("mlx.core.", "")
        written[key] = written.get(key, 0) + 1
    return ImportReport(
        source=path,
        out_dir=out_dir,
        arch=arch,
        n_tensors=len(header.tensors),
        tensor_types=types,
        n_params=sum(w.size for w in weights.values()),
        vocab_size=vocab_rows,
        tokenizer=vocab.kind,
        written_dtypes=written,
        disk_bytes=sum(p.stat().st_size for p in out_dir.iterdir()),
        seconds=time.perf_counter() - t0,
        warnings=vocab.warnings,
    )


def export_gguf(model_dir: str | Path, out_path: str | Path, dtype: str | None = None) -> Path:
    """Write a float llama/phi3/gemma model folder as a GGUF llama.cpp can read (F32/F16 tensors).

    mlx_lm.fuse exports GGUF for llama/mistral/mixtral only; this also covers phi3 and gemma and
    carries the tokenizer (byte-level BPE) and chat template.

    Args:
        model_dir: a folder mlx_lm.load loads (not quantized: dequantize it first).
        out_path: the .gguf file to write; ``.gguf`` is added when the name lacks it (as
            ``mx.save_gguf`` would), before anything is written.
        dtype: None keeps float32/float16 (bfloat16 becomes float32, losslessly); or "float16"/"float32".

    Returns:
        The file written (written atomically: a kill leaves the old file or none).
    """
    import mlx.core as mx

    from octo_mlx.models.gguf import vocab as gguf_vocab

    model_dir, out_path = Path(model_dir), Path(out_path)
    if out_path.is_dir():
        raise OctoError("--out is a folder, expected the .gguf file to write", out_path)
    if out_path.suffix != ".gguf":
        out_path = out_path.with_name(out_path.name + ".gguf")
    check_output_file(out_path, "--out")
    config = read_config(model_dir)
    config_path = model_dir / "config.json"
    arch = config.get("model_type")
    if arch not in ARCHITECTURES:
        raise OctoError(
            f"model_type '{arch}' cannot be exported (supported: {', '.join(ARCHITECTURES)})", config_path
        )
    if "quantization" in config:
        raise OctoError(
            "quantized models cannot be exported: dequantize first (mlx_lm.fuse --dequantize)", model_dir
        )
    weights = {}
    for f in sorted(model_dir.glob("model*.safetensors")):
        weights.update(mx.load(str(f)))
    if not weights:
        raise OctoError("no model*.safetensors", model_dir)
    shape = ModelShape.from_config(config, config_path)  # mlx-lm's defaults: kv heads, head_dim, tying
    heads, kv_heads, hidden, head_dim = shape.heads, shape.kv_heads, shape.hidden, shape.head_dim
    if shape.tied:
        weights.pop("lm_head.weight", None)
    out = to_gguf_weights(weights, arch, heads, kv_heads)
    for k, v in out.items():
        if dtype:
            out[k] = v.astype(getattr(mx, dtype))
        elif v.dtype == mx.bfloat16:  # GGUF from mx.save_gguf has no BF16; float32 holds it exactly
            out[k] = v.astype(mx.float32)
    u32, f32 = mx.uint32, mx.float32
    meta = {
        "general.architecture": arch,
        "general.name": model_dir.name,
        f"{arch}.context_length": mx.array(config.get("max_position_embeddings", 2048), dtype=u32),
        f"{arch}.embedding_length": mx.array(hidden, dtype=u32),
        f"{arch}.block_count": mx.array(config["num_hidden_layers"], dtype=u32),
        f"{arch}.feed_forward_length": mx.array(config["intermediate_size"], dtype=u32),
        f"{arch}.attention.head_count": mx.array(heads, dtype=u32),
        f"{arch}.attention.head_count_kv": mx.array(kv_heads, dtype=u32),
        f"{arch}.attention.layer_norm_rms_epsilon": mx.array(config["rms_norm_eps"], dtype=f32),
        f"{arch}.attention.key_length": mx.array(head_dim, dtype=u32),
        f"{arch}.attention.value_length": mx.array(head_dim, dtype=u32),
        f"{arch}.rope.freq_base": mx.array(config.get("rope_theta", 10000.0), dtype=f32),
        f"{arch}.rope.dimension_count": mx.array(
            int(head_dim * config.get("partial_rotary_factor", 1.0)), dtype=u32
        ),
        f"{arch}.vocab_size": mx.array(weights["model.embed_tokens.weight"].shape[0], dtype=u32),
    }
    if arch == "phi3":
        orig = config.get("original_max_position_embeddings", meta[f"{arch}.context_length"].item())
        meta["phi3.rope.scaling.original_context_length"] = mx.array(orig, dtype=u32)
    meta.update(
        gguf_vocab.tokenizer_to_gguf(model_dir, config, weights["model.embed_tokens.weight"].shape[0])
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp.gguf")  # save_gguf wants .gguf
    try:
        mx.save_gguf(str(tmp), out, meta)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out_path
