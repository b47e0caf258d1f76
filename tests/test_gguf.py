"""GGUF import/export: the Q/K permutation, name maps, file checks, dequantization, round trips.

Unit tier: the permutation against what it is for (RoPE layouts), names, header errors, a
hand-written quantized GGUF against a numpy dequantizer written from llama.cpp's block layouts.
Integration tier: tiny random llama/phi3/gemma models exported to GGUF and imported back must
give the same tensors, logits and tokenizer. The real SmolLM2 file is in test_models.py (slow).
"""

import json
import struct

import mlx.core as mx
import numpy as np
import pytest

from octo_mlx.errors import OctoError
from octo_mlx.models.gguf import convert as gguf
from octo_mlx.models.gguf import format as gguf_format
from octo_mlx.models.gguf import vocab as gguf_vocab
from tests.helpers.tiny import build_tiny_model

# --- the Q/K permutation ------------------------------------------------------------------------


def _rope_scores(x, wq, wk, n_heads, n_kv, traditional):
    """Attention logits (head 0 against its KV head) after RoPE in the given layout."""
    t = x.shape[0]
    q = (x @ wq.T).reshape(t, n_heads, -1).transpose(1, 0, 2)
    k = (x @ wk.T).reshape(t, n_kv, -1).transpose(1, 0, 2)
    d = q.shape[-1]
    q = mx.fast.rope(q[None], d, traditional=traditional, base=10000.0, scale=1.0, offset=0)[0]
    k = mx.fast.rope(k[None], d, traditional=traditional, base=10000.0, scale=1.0, offset=0)[0]
    return q[0] @ k[0].T


def test_permutation_turns_hf_rope_into_llama_cpp_rope():
    # HF rotates dims (i, i + d/2) together; llama.cpp's default RoPE rotates (2i, 2i + 1).
    # The permuted weights with interleaved RoPE must give the same attention as HF's.
    mx.random.seed(0)
    n_heads, n_kv, d, hidden, t = 4, 2, 16, 64, 7
    x = mx.random.normal((t, hidden))
    wq, wk = mx.random.normal((n_heads * d, hidden)), mx.random.normal((n_kv * d, hidden))
    hf = _rope_scores(x, wq, wk, n_heads, n_kv, traditional=False)
    cpp = _rope_scores(
        x, gguf.permute_qk(wq, n_heads), gguf.permute_qk(wk, n_kv), n_heads, n_kv, traditional=True
    )
    assert mx.allclose(hf, cpp, atol=1e-3).item()
    # and without the permutation the two layouts disagree: the test can fail
    wrong = _rope_scores(x, wq, wk, n_heads, n_kv, traditional=True)
    assert not mx.allclose(hf, wrong, atol=1e-1).item()


@pytest.mark.parametrize("n_heads,rows,cols", [(4, 64, 64), (3, 192, 576), (9, 576, 1)])
def test_unpermute_inverts_permute_and_moves_rows(n_heads, rows, cols):
    w = mx.arange(rows * cols, dtype=mx.float32).reshape(rows, cols)
    p = gguf.permute_qk(w, n_heads)
    assert mx.array_equal(gguf.unpermute_qk(p, n_heads), w).item()
    assert mx.array_equal(gguf.permute_qk(gguf.unpermute_qk(w, n_heads), n_heads), w).item()
    assert not mx.array_equal(p, w).item()
    # within each head, row 2i of the llama.cpp layout is HF row i and row 2i+1 is HF row i + d/2
    d = rows // n_heads
    rows_p = np.array(p[:, 0]) // cols
    expected = [h * d + (r // 2 if r % 2 == 0 else r // 2 + d // 2) for h in range(n_heads) for r in range(d)]
    assert rows_p.tolist() == expected


def test_permutation_applies_to_llama_only(tmp_path):
    w = {
        "blk.0.attn_q.weight": mx.arange(64.0).reshape(8, 8),
        "blk.0.attn_k.weight": mx.arange(32.0).reshape(4, 8),
    }
    llama = gguf.to_hf_weights(w, "llama", n_heads=2, n_kv_heads=1)
    gemma = gguf.to_hf_weights(w, "gemma", n_heads=2, n_kv_heads=1)
    q = "model.layers.0.self_attn.q_proj.weight"
    assert mx.array_equal(gemma[q], w["blk.0.attn_q.weight"]).item()
    assert mx.array_equal(llama[q], gguf.unpermute_qk(w["blk.0.attn_q.weight"], 2)).item()
    assert not mx.array_equal(llama[q], gemma[q]).item()


# --- names --------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", gguf.ARCHITECTURES)
def test_names_map_both_ways(arch):
    short = [
        "attn_norm",
        "ffn_norm",
        "attn_q",
        "attn_k",
        "attn_v",
        "attn_output",
        "ffn_gate",
        "ffn_up",
        "ffn_down",
    ]
    names = [f"blk.{i}.{s}.weight" for i in (0, 11) for s in short] + [
        "token_embd.weight",
        "output_norm.weight",
    ]
    names += ["output.weight", "blk.3.attn_q.bias", "blk.2.attn_qkv.weight"]
    hf = [gguf.hf_name(n, arch) for n in names]
    assert len(set(hf)) == len(hf)
    assert [gguf.gguf_name(h, arch) for h in hf] == names
    assert gguf.hf_name("blk.11.attn_output.weight", arch) == "model.layers.11.self_attn.o_proj.weight"
    assert gguf.hf_name("output.weight", arch) == "lm_head.weight"


def test_phi3_ffn_up_holds_gate_and_up():
    assert gguf.hf_name("blk.0.ffn_up.weight", "phi3") == "model.layers.0.mlp.gate_up_proj.weight"
    assert gguf.hf_name("blk.0.ffn_up.weight", "llama") == "model.layers.0.mlp.up_proj.weight"


def test_unknown_tensor_name_is_an_error():
    with pytest.raises(OctoError, match="blk.0.ssm_conv1d.weight"):
        gguf.hf_name("blk.0.ssm_conv1d.weight", "llama")


# --- config.json --------------------------------------------------------------------------------


def _meta(arch, **extra):
    base = {
        "embedding_length": 64,
        "block_count": 2,
        "feed_forward_length": 128,
        "attention.head_count": 4,
        "attention.head_count_kv": 2,
        "attention.layer_norm_rms_epsilon": 1e-5,
        "context_length": 4096,
    }
    return {"general.architecture": arch, **{f"{arch}.{k}": v for k, v in {**base, **extra}.items()}}


def _builds_in_mlx_lm(config):
    from mlx_lm.utils import _get_classes

    model_class, args_class = _get_classes(config)
    return model_class(args_class.from_dict(config))


def test_config_carries_rope_scaling_that_mlx_lm_accepts():
    tensors = {"token_embd.weight": mx.zeros((100, 64))}
    linear = gguf.build_config(
        _meta("llama", **{"rope.scaling.type": "linear", "rope.scaling.factor": 4.0}), "llama", tensors
    )
    assert linear["rope_scaling"]["factor"] == 4.0 and linear["tie_word_embeddings"]
    assert linear["rms_norm_eps"] == 1e-5 and linear["vocab_size"] == 100
    _builds_in_mlx_lm(linear)

    phi = {**tensors, "output.weight": mx.zeros((100, 64))}
    phi["rope_factors_long.weight"] = mx.linspace(1, 4, 8)  # head_dim 16 -> 8 frequencies
    phi["rope_factors_short.weight"] = mx.ones(8)
    config = gguf.build_config(_meta("phi3", **{"rope.scaling.original_context_length": 1024}), "phi3", phi)
    assert config["rope_scaling"]["type"] == "longrope" and len(config["rope_scaling"]["long_factor"]) == 8
    assert config["original_max_position_embeddings"] == 1024 and not config["tie_word_embeddings"]
    _builds_in_mlx_lm(config)


def test_config_errors_name_the_key():
    tensors = {"token_embd.weight": mx.zeros((100, 64))}
    meta = _meta("llama")
    del meta["llama.block_count"]
    with pytest.raises(OctoError, match="lacks 'llama.block_count'"):
        gguf.build_config(meta, "llama", tensors, "m.gguf")
    with pytest.raises(OctoError, match="RoPE scaling 'yarn' is not supported"):
        gguf.build_config(_meta("llama", **{"rope.scaling.type": "yarn"}), "llama", tensors)
    with pytest.raises(OctoError, match="varies per layer"):
        gguf.build_config(_meta("llama", **{"attention.head_count_kv": [2, 4]}), "llama", tensors)


# --- file checks --------------------------------------------------------------------------------


def _small_gguf(path, arch="llama"):
    mx.save_gguf(str(path), {"token_embd.weight": mx.ones((8, 32))}, {"general.architecture": arch})
    return path


def test_not_a_gguf(tmp_path):
    f = tmp_path / "model.gguf"
    f.write_text("this is a text file, long enough to hold a header")
    with pytest.raises(OctoError, match="not a GGUF file") as e:
        gguf_format.read_gguf_header(f)
    assert str(f) in str(e.value)
    (tmp_path / "tiny.gguf").write_bytes(b"GGUF")
    with pytest.raises(OctoError, match="too short"):
        gguf_format.read_gguf_header(tmp_path / "tiny.gguf")
    with pytest.raises(OctoError, match="no such file"):
        gguf_format.read_gguf_header(tmp_path / "missing.gguf")


def test_truncated_files_are_named_with_the_missing_bytes(tmp_path):
    full = _small_gguf(tmp_path / "full.gguf").read_bytes()
    gguf_format.read_gguf_header(tmp_path / "full.gguf")  # the untruncated file is fine
    for cut, what in (
        (30, "the header needs byte"),
        (len(full) - 10, "tensor 'token_embd.weight' needs bytes"),
    ):
        f = tmp_path / f"cut{cut}.gguf"
        f.write_bytes(full[:cut])
        with pytest.raises(OctoError, match="truncated GGUF") as e:
            gguf_format.read_gguf_header(f)
        assert what in str(e.value) and str(f) in str(e.value)


def test_bad_version_and_unsupported_tensor_type(tmp_path):
    raw = bytearray(_small_gguf(tmp_path / "a.gguf").read_bytes())
    bad = bytearray(raw)
    bad[4:8] = struct.pack("<I", 1)
    (tmp_path / "v1.gguf").write_bytes(bad)
    with pytest.raises(OctoError, match="version 1"):
        gguf_format.read_gguf_header(tmp_path / "v1.gguf")
    header = gguf_format.read_gguf_header(tmp_path / "a.gguf")
    # the tensor's type field sits just before its uint64 offset, at the end of the tensor table
    pos = raw.index(b"token_embd.weight") + len("token_embd.weight") + 4 + 2 * 8
    assert struct.unpack_from("<I", raw, pos)[0] == 0 and header.tensors[0].type_name == "F32"
    raw[pos : pos + 4] = struct.pack("<I", 12)  # Q4_K
    (tmp_path / "k.gguf").write_bytes(raw)
    with pytest.raises(OctoError, match="unsupported tensor type.*Q4_K.*token_embd.weight"):
        gguf_format.read_gguf_header(tmp_path / "k.gguf")


def test_unsupported_architecture(tmp_path):
    f = _small_gguf(tmp_path / "gpt2.gguf", arch="gpt2")
    with pytest.raises(OctoError, match="architecture 'gpt2' is not supported") as e:
        gguf.import_gguf(f, tmp_path / "out")
    assert str(f) in str(e.value)
    assert not (tmp_path / "out").exists()


# --- quantized tensors: a GGUF written byte by byte --------------------------------------------


def _write_raw_gguf(path, tensors):
    """A GGUF v3 with the given (name, ggml type id, shape, raw bytes) tensors."""

    def string(s):
        b = s.encode()
        return struct.pack("<Q", len(b)) + b

    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), 1)
    head += string("general.architecture") + struct.pack("<I", 8) + string("llama")
    data, offset = b"", 0
    for name, type_id, shape, raw in tensors:
        dims = list(reversed(shape))
        head += string(name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims)
        head += struct.pack("<IQ", type_id, offset)
        pad = b"\0" * (-len(raw) % 32)
        data += raw + pad
        offset += len(raw) + len(pad)
    head += b"\0" * (-len(head) % 32)
    path.write_bytes(head + data)


def _quantized(kind, rows, cols, rng):
    """Random blocks of a ggml quantized type and their values, dequantized as llama.cpp does."""
    n_blocks = rows * cols // 32
    d = rng.uniform(0.001, 0.1, n_blocks).astype(np.float16)
    if kind == "Q8_0":
        q = rng.integers(-128, 128, (n_blocks, 32)).astype(np.int8)
        raw = b"".join(d[i].tobytes() + q[i].tobytes() for i in range(n_blocks))
        values = d.astype(np.float32)[:, None] * q
    else:
        nib = rng.integers(0, 256, (n_blocks, 16)).astype(np.uint8)
        q = np.concatenate([nib & 0x0F, nib >> 4], axis=1).astype(np.float32)  # values 0-15 then 16-31
        if kind == "Q4_0":
            raw = b"".join(d[i].tobytes() + nib[i].tobytes() for i in range(n_blocks))
            values = d.astype(np.float32)[:, None] * (q - 8)
        else:  # Q4_1: scale, minimum, nibbles
            m = rng.uniform(-0.5, 0.5, n_blocks).astype(np.float16)
            raw = b"".join(d[i].tobytes() + m[i].tobytes() + nib[i].tobytes() for i in range(n_blocks))
            values = d.astype(np.float32)[:, None] * q + m.astype(np.float32)[:, None]
    return raw, values.reshape(rows, cols)


def test_quantized_and_bf16_tensors_dequantize_like_llama_cpp(tmp_path):
    rng = np.random.default_rng(0)
    tensors, expected = [], {}
    for name, kind, type_id in (("a.weight", "Q8_0", 8), ("b.weight", "Q4_0", 2), ("c.weight", "Q4_1", 3)):
        raw, values = _quantized(kind, 6, 64, rng)
        tensors.append((name, type_id, (6, 64), raw))
        expected[name] = values
    f32 = rng.standard_normal((3, 32)).astype(np.float32)
    bf16_bits = (f32.view(np.uint32) >> 16).astype(np.uint16)  # truncation: exact in bfloat16
    tensors.append(("d.weight", 30, (3, 32), bf16_bits.tobytes()))
    expected["d.weight"] = (bf16_bits.astype(np.uint32) << 16).view(np.float32)
    _write_raw_gguf(tmp_path / "q.gguf", tensors)

    header = gguf_format.read_gguf_header(tmp_path / "q.gguf")
    assert [t.type_name for t in header.tensors] == ["Q8_0", "Q4_0", "Q4_1", "BF16"]
    loaded = gguf_format.load_gguf_tensors(header, quant_dtype=mx.float32)
    for name, values in expected.items():
        got = np.array(loaded[name].astype(mx.float32))
        # Q4_1 adds the minimum in float32: allow one float32 rounding, nothing more
        np.testing.assert_allclose(got, values, rtol=2e-7, atol=1e-8, err_msg=name)
    assert loaded["d.weight"].dtype == mx.bfloat16
    f16 = gguf_format.load_gguf_tensors(header)["a.weight"]  # default: dequantized tensors are float16
    assert f16.dtype == mx.float16


# --- round trips on tiny models -----------------------------------------------------------------


def _perturb_norms(folder):
    """Random norm weights (tiny models start at 1.0, which would hide the gemma +1/-1)."""
    path = folder / "model.safetensors"
    w = mx.load(str(path))
    mx.random.seed(1)
    for k in w:
        if k.endswith("norm.weight"):
            w[k] = mx.random.uniform(-1, 1, w[k].shape)
    mx.save_safetensors(str(path), w, metadata={"format": "mlx"})


PROMPTS = ["Book a flight to Tokyo and rent a car.", "12345 + 678 = ?  Two  spaces\nnew line", "héllo wörld"]


@pytest.mark.parametrize("arch", ["llama", "phi3", "gemma"])
def test_export_then_import_gives_back_every_tensor(tmp_path, arch):
    from mlx_lm import load

    src = build_tiny_model(tmp_path / "src", arch)
    _perturb_norms(src)
    f = gguf.export_gguf(src, tmp_path / "m.gguf")
    header = gguf_format.read_gguf_header(f)
    assert header.arch == arch
    report = gguf.import_gguf(f, tmp_path / "out")
    assert report.arch == arch and report.tensor_types == {"F32": report.n_tensors}

    a, b = mx.load(str(src / "model.safetensors")), mx.load(str(tmp_path / "out" / "model.safetensors"))
    assert set(a) == set(b)
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        if arch == "gemma" and k.endswith("norm.weight"):  # (w + 1) - 1 in float32: within 1 ulp of 2
            assert mx.allclose(a[k], b[k], rtol=0, atol=2.4e-7).item(), k
        else:
            assert mx.array_equal(a[k], b[k]).item(), k
    if arch == "llama":  # the GGUF holds the llama.cpp layout, not the HF one
        raw = mx.load(str(f))
        q = a["model.layers.0.self_attn.q_proj.weight"]
        assert not mx.array_equal(raw["blk.0.attn_q.weight"], q).item()

    c1, c2 = (json.loads((d / "config.json").read_text()) for d in (src, tmp_path / "out"))
    for key in (
        "model_type",
        "hidden_size",
        "num_hidden_layers",
        "intermediate_size",
        "num_attention_heads",
        "num_key_value_heads",
        "vocab_size",
        "rms_norm_eps",
        "rope_theta",
        "eos_token_id",
    ):
        assert c1[key] == c2[key], key

    (m1, t1), (m2, t2) = load(str(src)), load(str(tmp_path / "out"))
    for p in PROMPTS:
        assert t1.encode(p) == t2.encode(p), p
    chat = [{"role": "user", "content": "Find a hotel in Rome"}]
    assert t1.chat_template == t2.chat_template
    ids = t1.apply_chat_template(chat, add_generation_prompt=True)
    assert ids == t2.apply_chat_template(chat, add_generation_prompt=True)
    assert t1.eos_token_id == t2.eos_token_id
    x = mx.array(ids)[None]
    assert mx.allclose(m1(x), m2(x), atol=1e-4).item()


def test_float16_round_trip_is_bit_exact(tmp_path, tiny_llama):
    f = gguf.export_gguf(tiny_llama, tmp_path / "m16.gguf", dtype="float16")
    report = gguf.import_gguf(f, tmp_path / "out")
    assert report.tensor_types == {"F16": report.n_tensors}
    a, b = (
        mx.load(str(tiny_llama / "model.safetensors")),
        mx.load(str(tmp_path / "out" / "model.safetensors")),
    )
    for k in a:
        assert b[k].dtype == mx.float16 and mx.array_equal(a[k].astype(mx.float16), b[k]).item(), k


def test_import_refuses_a_non_empty_output_folder(tmp_path, tiny_llama):
    f = gguf.export_gguf(tiny_llama, tmp_path / "m.gguf")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(OctoError, match="not empty"):
        gguf.import_gguf(f, tmp_path / "out")
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


KILL_DURING_IMPORT = """
import os, signal, sys
from octo_mlx import files
from octo_mlx.models.gguf import convert

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

if sys.argv[3] == "after-weights":  # the issue's instant: weights on disk, no tokenizer yet
    save = convert._save_weights
    def save_then_die(out_dir, weights):
        save(out_dir, weights)
        die()
    convert._save_weights = save_then_die
else:  # the whole folder built, killed before it is swapped in
    files.fsync_tree = die
convert.import_gguf(sys.argv[1], sys.argv[2])
"""


@pytest.mark.parametrize("when", ["after-weights", "before-swap"])
def test_a_killed_import_leaves_nothing_and_the_rerun_completes(tmp_path, tiny_llama, when):
    """`model import-gguf --out DIR` killed mid-way left weights without a tokenizer that `model
    info` took for a model and the import refused to redo; now DIR appears whole or not at all."""
    import subprocess
    import sys

    from tests.helpers.cli import run_octo

    f = gguf.export_gguf(tiny_llama, tmp_path / "m.gguf")
    out = tmp_path / "models" / "mine"
    proc = subprocess.run(
        [sys.executable, "-c", KILL_DURING_IMPORT, str(f), str(out), when], capture_output=True, text=True
    )
    assert proc.returncode == -9, proc.stderr
    assert not out.exists()
    rerun = run_octo("model", "import-gguf", str(f), "--out", str(out))  # the stale temporary is no obstacle
    assert rerun.returncode == 0, rerun.stderr
    assert {"config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"} <= {
        p.name for p in out.iterdir()
    }
    assert [p.name for p in out.parent.iterdir()] == ["mine"]  # nothing left beside it
    import mlx_lm

    model, tok = mlx_lm.load(str(out))
    assert tok.encode("hello") and model(mx.array([tok.encode("hello")])).shape[-1] > 0


def test_import_out_that_is_a_file_is_one_line(tmp_path, tiny_llama):
    from tests.helpers.cli import run_octo

    f = gguf.export_gguf(tiny_llama, tmp_path / "m.gguf")
    (tmp_path / "a_file").write_text("mine")
    proc = run_octo("model", "import-gguf", str(f), "--out", str(tmp_path / "a_file"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "a_file" in proc.stderr, proc
    assert (tmp_path / "a_file").read_text() == "mine"


def test_export_adds_the_suffix_before_writing_and_reports_the_file_written(tmp_path, tiny_llama):
    """`export-gguf --out x.yaml` printed `wrote x.yaml (0 kB)` while it wrote x.yaml.gguf."""
    from octo_mlx import ui
    from tests.helpers.cli import run_octo

    f = gguf.export_gguf(tiny_llama, tmp_path / "x.yaml")
    assert f == tmp_path / "x.yaml.gguf" and f.is_file() and not (tmp_path / "x.yaml").exists()
    assert gguf_format.read_gguf_header(f).arch == "llama"
    proc = run_octo("model", "export-gguf", str(tiny_llama), "--out", "y.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    written = tmp_path / "y.yaml.gguf"
    assert f"wrote y.yaml.gguf ({ui._size(written.stat().st_size)})" in proc.stdout, proc.stdout
    assert written.stat().st_size > 1000 and not (tmp_path / "y.yaml").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.yaml.gguf", "y.yaml.gguf"]  # no temporaries
    proc = run_octo("model", "export-gguf", str(tiny_llama), "--out", str(tmp_path))  # a folder
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--out" in proc.stderr, proc


# --- tokenizers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("pre", sorted(gguf_vocab.PRE_TOKENIZERS))
def test_every_known_pre_tokenizer_survives_export_and_import(tmp_path, tiny_llama, pre):
    from tokenizers import Tokenizer

    tj = json.loads((tiny_llama / "tokenizer.json").read_text())
    tj["pre_tokenizer"] = gguf_vocab.PRE_TOKENIZERS[pre]
    (tmp_path / "tokenizer.json").write_text(json.dumps(tj))
    (tmp_path / "tokenizer_config.json").write_text((tiny_llama / "tokenizer_config.json").read_text())
    meta = gguf_vocab.tokenizer_to_gguf(tmp_path, {}, 600)
    assert meta["tokenizer.ggml.pre"] == pre
    assert len(meta["tokenizer.ggml.tokens"]) == 600  # padded to the embedding rows
    plain = {k: v.tolist() if isinstance(v, mx.array) else v for k, v in meta.items()}
    vocab = gguf_vocab.tokenizer_from_gguf(plain)
    original, rebuilt = Tokenizer.from_str(json.dumps(tj)), Tokenizer.from_str(json.dumps(vocab.tokenizer))
    for text in [*PROMPTS, "<|im_start|>user\nCall 0123456789<|im_end|>"]:
        assert original.encode(text).ids == rebuilt.encode(text).ids, text
        assert rebuilt.decode(rebuilt.encode(text).ids, skip_special_tokens=False) == text


def test_unknown_pre_tokenizer_and_tokenizer_model_are_errors():
    meta = {
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.tokens": ["a", "b"],
        "tokenizer.ggml.pre": "qwen2",
    }
    with pytest.raises(OctoError, match="pre-tokenizer 'qwen2' is not supported"):
        gguf_vocab.tokenizer_from_gguf(meta, "x.gguf")
    with pytest.raises(OctoError, match="tokenizer model 'bert' is not supported"):
        gguf_vocab.tokenizer_from_gguf({**meta, "tokenizer.ggml.model": "bert"}, "x.gguf")
    with pytest.raises(OctoError, match="has no tokenizer"):
        gguf_vocab.tokenizer_from_gguf({}, "x.gguf")


def test_sentencepiece_vocab_encodes_like_sentencepiece(tmp_path):
    spm = pytest.importorskip("sentencepiece")
    from tokenizers import Tokenizer

    from tests.helpers.tiny import _CORPUS

    (tmp_path / "corpus.txt").write_text(_CORPUS)
    spm.SentencePieceTrainer.train(
        input=str(tmp_path / "corpus.txt"),
        model_prefix=str(tmp_path / "sp"),
        vocab_size=400,
        model_type="bpe",
        byte_fallback=True,
        character_coverage=1.0,
        minloglevel=2,
    )
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "sp.model"))
    n = sp.get_piece_size()

    def kind(i):
        if sp.is_unknown(i):
            return gguf_vocab.UNKNOWN
        if sp.is_control(i):
            return gguf_vocab.CONTROL
        return gguf_vocab.BYTE if sp.is_byte(i) else gguf_vocab.NORMAL

    meta = {
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.tokens": [sp.id_to_piece(i) for i in range(n)],
        "tokenizer.ggml.scores": [sp.get_score(i) for i in range(n)],
        "tokenizer.ggml.token_type": [kind(i) for i in range(n)],
        "tokenizer.ggml.bos_token_id": sp.bos_id(),
        "tokenizer.ggml.eos_token_id": sp.eos_id(),
        "tokenizer.ggml.unknown_token_id": sp.unk_id(),
        "tokenizer.ggml.add_bos_token": False,
    }
    vocab = gguf_vocab.tokenizer_from_gguf(meta)
    tok = Tokenizer.from_str(json.dumps(vocab.tokenizer))
    texts = [
        "Find articles about Jensen Huang in English.",
        "Reserve a hotel in Rome for two nights",
        "Zebra quizzes: ünïcödé & 42!",  # unseen letters go through the byte-fallback tokens
    ]
    for text in texts:
        assert tok.encode(text).ids == sp.encode(text), text
        assert tok.decode(tok.encode(text).ids) == sp.decode(sp.encode(text)), text
