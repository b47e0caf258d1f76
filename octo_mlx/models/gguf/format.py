"""The GGUF file format (llama.cpp's): a checked header reader and the tensors as MLX arrays.

Layout (GGUF v2/v3, little-endian): magic "GGUF", uint32 version, uint64 tensor count, uint64
metadata count; the metadata (key, type, value); the tensor table (name, dims innermost first,
ggml type, offset); padding to `general.alignment` (32); the tensor data. Every read is
bounds-checked and every tensor's bytes must lie inside the file before `mx.load` sees it:
`mx.load` on a truncated file raises a RuntimeError from C++ at best.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

from octo_mlx.errors import OctoError

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)  # version 1 (2023) used 32-bit counts; nobody ships it any more
DEFAULT_ALIGNMENT = 32

# ggml.h `enum ggml_type`; ids 4 and 5 were removed upstream.
GGML_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1",
    10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS",
    17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS",
    24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 30: "BF16", 34: "TQ1_0",
    35: "TQ2_0",
}  # fmt: skip
# (values per block, bytes per block) of the types we read. Q4_0: fp16 scale + 32 nibbles = 18 B.
BLOCK_LAYOUT = {
    "F32": (1, 4),
    "F16": (1, 2),
    "BF16": (1, 2),
    "Q4_0": (32, 18),
    "Q4_1": (32, 20),
    "Q8_0": (32, 34),
}
QUANTIZED = ("Q4_0", "Q4_1", "Q8_0")

# GGUF metadata value types -> struct format; 8 = string, 9 = array.
_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a GGUF file. ``shape`` is row-major (as MLX and numpy see it)."""

    name: str
    shape: tuple[int, ...]
    type_name: str
    offset: int  # absolute byte offset of the data in the file
    nbytes: int


@dataclass(frozen=True)
class GGUFHeader:
    """Everything before the tensor data: version, metadata, tensor table."""

    path: Path
    version: int
    metadata: dict
    tensors: tuple[TensorInfo, ...]
    file_size: int

    @property
    def arch(self) -> str:
        return str(self.metadata.get("general.architecture", ""))


class _Cursor:
    """Bounds-checked reads: a truncated header is a clear error, never a garbage value."""

    def __init__(self, buf, path: Path):
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise OctoError(
                f"truncated GGUF: the header needs byte {self.pos + n:,} "
                f"but the file has {len(self.buf):,} bytes",
                self.path,
            )
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def scalar(self, fmt: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        return self.take(self.scalar("<Q")).decode("utf-8", errors="replace")

    def value(self, vtype: int):
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            item_type, count = self.scalar("<I"), self.scalar("<Q")
            if item_type in _SCALARS:  # numeric arrays (token types, scores) in one unpack
                fmt = _SCALARS[item_type]
                size = struct.calcsize(fmt)
                return list(struct.unpack(f"<{count}{fmt[1]}", self.take(count * size)))
            return [self.value(item_type) for _ in range(count)]
        raise OctoError(f"corrupt GGUF: unknown metadata value type {vtype} at byte {self.pos}", self.path)


def read_gguf_header(path: str | Path) -> GGUFHeader:
    """Parse and check a GGUF header: magic, version, metadata, tensor table and data extents.

    Args:
        path: the .gguf file.

    Raises:
        OctoError: not a GGUF, unsupported version, truncated header or tensor data.
    """
    path = Path(path)
    if not path.is_file():
        raise OctoError("no such file", path)
    size = path.stat().st_size
    if size < 24:
        raise OctoError(f"not a GGUF file: {size} bytes, too short for the 24-byte header", path)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        cur = _Cursor(buf, path)
        magic = cur.take(4)
        if magic != GGUF_MAGIC:
            raise OctoError(f"not a GGUF file: it starts with {magic!r}, not {GGUF_MAGIC!r}", path)
        version = cur.scalar("<I")
        if version not in SUPPORTED_VERSIONS:
            raise OctoError(f"GGUF version {version} is not supported (supported: 2, 3)", path)
        n_tensors, n_kv = cur.scalar("<Q"), cur.scalar("<Q")
        if n_tensors > size or n_kv > size:  # counts read from a corrupt file can be astronomic
            raise OctoError(
                f"corrupt GGUF: {n_tensors} tensors and {n_kv} metadata keys in {size} bytes", path
            )
        metadata = {}
        for _ in range(n_kv):
            key = cur.string()
            metadata[key] = cur.value(cur.scalar("<I"))
        raw = []
        for _ in range(n_tensors):
            name = cur.string()
            dims = [cur.scalar("<Q") for _ in range(cur.scalar("<I"))]
            raw.append((name, tuple(reversed(dims)), cur.scalar("<I"), cur.scalar("<Q")))
        align = int(metadata.get("general.alignment", DEFAULT_ALIGNMENT))
        data_start = -(-cur.pos // align) * align
    tensors = []
    unsupported: dict[str, list[str]] = {}
    for name, shape, type_id, offset in raw:
        type_name = GGML_TYPES.get(type_id, f"type {type_id}")
        if type_name not in BLOCK_LAYOUT:
            unsupported.setdefault(type_name, []).append(name)
            continue
        per_block, block_bytes = BLOCK_LAYOUT[type_name]
        n = 1
        for d in shape:
            n *= d
        if n % per_block:
            raise OctoError(
                f"corrupt GGUF: tensor '{name}' has {n} values, not whole {type_name} blocks", path
            )
        nbytes = n // per_block * block_bytes
        start = data_start + offset
        if start + nbytes > size:
            raise OctoError(
                f"truncated GGUF: tensor '{name}' needs bytes {start:,}..{start + nbytes:,} "
                f"but the file has {size:,} bytes (incomplete download?)",
                path,
            )
        tensors.append(TensorInfo(name, shape, type_name, start, nbytes))
    if unsupported:
        kinds = ", ".join(f"{t} ({len(names)} tensors, e.g. {names[0]})" for t, names in unsupported.items())
        raise OctoError(
            f"unsupported tensor type(s): {kinds}; supported: {', '.join(BLOCK_LAYOUT)} "
            "(re-quantize with llama.cpp's llama-quantize to Q8_0, Q4_0 or Q4_1)",
            path,
        )
    return GGUFHeader(path, version, metadata, tuple(tensors), size)


def load_gguf_tensors(header: GGUFHeader, quant_dtype=None) -> dict:
    """The tensors of a checked GGUF as float MLX arrays, by GGUF name.

    Args:
        header: from read_gguf_header (its extent checks make mx.load safe to call).
        quant_dtype: dtype of dequantized tensors (default float16); F32/F16/BF16 keep theirs.
    """
    import mlx.core as mx
    import numpy as np

    quant_dtype = mx.float16 if quant_dtype is None else quant_dtype
    out = {}
    loaded = mx.load(str(header.path)) if any(t.type_name != "BF16" for t in header.tensors) else {}
    for info in header.tensors:
        if info.type_name == "BF16":  # mx.load misreads BF16 GGUF tensors as float16: read the bits
            bits = np.fromfile(header.path, dtype="<u2", count=info.nbytes // 2, offset=info.offset)
            out[info.name] = mx.array(bits.reshape(info.shape)).view(mx.bfloat16)
        elif info.type_name in QUANTIZED:
            base = info.name[: -len(".weight")] if info.name.endswith(".weight") else info.name
            w, scales, biases = (loaded.get(f"{base}.{s}") for s in ("weight", "scales", "biases"))
            if w is None or scales is None or biases is None:
                raise OctoError(f"mx.load did not return the quantized triplet of '{info.name}'", header.path)
            bits = 32 * w.shape[-1] // (scales.shape[-1] * 32)  # 32 values per group
            f32 = mx.float32  # dequantize in float32 like llama.cpp, then round once
            deq = mx.dequantize(w, scales.astype(f32), biases.astype(f32), group_size=32, bits=bits)
            out[info.name] = deq.astype(quant_dtype)
        else:
            out[info.name] = loaded[info.name]
        if tuple(out[info.name].shape) != info.shape:
            raise OctoError(
                f"tensor '{info.name}' loaded as {out[info.name].shape}, header says {info.shape}"
            )
    return out
