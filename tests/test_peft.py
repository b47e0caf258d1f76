"""PEFT interop (octo_mlx.adapters.peft): ours -> PEFT -> ours is bit-identical and gives the same
logits; the PEFT folder follows PEFT's own naming rules and its update is ours; a PEFT adapter made
elsewhere imports with PEFT's scaling rules; bad input is one clear line.

PEFT's rules, as its source states them (huggingface/peft, written here, not imported: no torch):
- ``PeftModelForCausalLM.base_model`` is the ``LoraModel``, whose ``.model`` is the transformers
  model: every key starts ``base_model.model.`` then the transformers module path.
- ``get_peft_model_state_dict`` (utils/save_and_load.py) drops the adapter name:
  ``...q_proj.lora_A.default.weight`` is saved as ``...q_proj.lora_A.weight``.
- LoRA ``Linear`` (tuners/lora/layer.py): ``lora_A`` = nn.Linear(in, r), weight (r, in);
  ``lora_B`` = nn.Linear(r, out), weight (out, r); delta W = scaling * B @ A.
- LoRA ``Embedding``: parameters ``lora_embedding_A`` (r, num_embeddings) and
  ``lora_embedding_B`` (embedding_dim, r), saved without ``.weight``; delta W = scaling * (B @ A)^T.
- DoRA: ``lora_magnitude_vector`` saved without its ``.weight`` (tuners/lora/model.py).
- scaling = lora_alpha / r (rsLoRA: lora_alpha / sqrt(r)); rank_pattern / alpha_pattern keys
  match the end of a module path, ``(.*\\.)?KEY$``.
- ``target_modules``: a list matches a module whose path is an entry or ends in ``.entry``; a
  string is a regex that must match the whole path (tuners/tuners_utils.py).
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten
from mlx_lm.utils import load

from octo_mlx.adapters.folder import load_with_adapter, save_adapter
from octo_mlx.adapters.lora import LoraConfig, adapter_weights, apply_lora
from octo_mlx.adapters.peft import SIDECAR, export_peft, import_peft
from octo_mlx.adapters.peft_map import peft_alpha
from octo_mlx.adapters.rows import trained_rows
from octo_mlx.errors import OctoError
from octo_mlx.models.folder import weights_sha256
from octo_mlx.models.tokens import SPLIT, TABLE, extend_base
from tests.helpers.tiny import build_tiny_model

PREFIX = "base_model.model."


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OCTO_MLX_HOME", str(tmp_path / "home"))  # extended bases built here


def make_adapter(tmp: Path, arch: str, dora=False, tokens=(SPLIT,), rank=4, alpha=8.0, num_layers=-1):
    """An adapter as `octo-mlx train` writes it (random factors, trained rows of ``tokens``) on
    the extended base of a tiny ``arch`` model; (adapter folder, extended base)."""
    src = build_tiny_model(tmp / f"{arch}-src", arch, seed={"llama": 0, "phi3": 1, "gemma": 2}[arch])
    base = extend_base(src)
    model, tok = load(str(base))
    new = trained_rows(tok, list(tokens))
    lora = LoraConfig(rank=rank, alpha=alpha, num_layers=num_layers)
    cfg = apply_lora(model, lora, dora, 0, new)
    mx.random.seed(1)
    params = {}
    for k, v in tree_flatten(model.trainable_parameters()):
        noise = mx.random.normal(v.shape)
        params[k] = v * (1 + 0.1 * noise) if k.endswith(".m") else 0.05 * noise  # DoRA: m near |W|
    model.load_weights(list(params.items()), strict=False)
    cfg = dict(
        cfg,
        model=str(src.absolute()),
        base_fingerprint=weights_sha256(src),
        table=TABLE.to_dict(),
        tokens=list(new.tokens),
    )
    save_adapter(tmp / "adapter", adapter_weights(model, lora, dora, new), cfg, "")
    return tmp / "adapter", base


def tensors(folder: Path, name: str) -> dict[str, mx.array]:
    return mx.load(str(folder / name))


def ids_with_rows(base: Path) -> mx.array:
    _, tok = load(str(base))
    split = tok.encode(SPLIT, add_special_tokens=False)
    return mx.array([[3, 17, *split, 40, 5, *split]])


# --- the round trip ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arch, dora, tokens",
    [
        ("llama", False, (SPLIT,)),  # tied head: the rows' update reaches the logits through it
        ("phi3", False, (SPLIT,)),  # fused qkv_proj / gate_up_proj, untied lm_head
        ("gemma", False, (SPLIT,)),
        ("llama", True, ()),
        ("phi3", True, ()),
    ],
)
def test_ours_to_peft_to_ours_is_bit_identical_with_the_same_logits(tmp_path, arch, dora, tokens):
    adapter, base = make_adapter(tmp_path, arch, dora, tokens)
    exported = export_peft(adapter, tmp_path / "peft")
    assert exported.base == str(base.resolve())  # the extended base: where the rows live
    back = import_peft(tmp_path / "peft", tmp_path / "back")

    before, after = tensors(adapter, "adapters.safetensors"), tensors(back.out, "adapters.safetensors")
    assert sorted(before) == sorted(after)
    for k in before:
        assert before[k].dtype == after[k].dtype and mx.array_equal(before[k], after[k]).item(), k
    cfg_before = json.loads((adapter / "adapter_config.json").read_text())
    cfg_after = json.loads((back.out / "adapter_config.json").read_text())
    assert cfg_after.pop("imported_from")["format"] == "peft"
    assert cfg_after == cfg_before

    ids = ids_with_rows(base)
    original, _ = load(str(base), adapter_path=str(adapter))
    returned, _ = load(str(base), adapter_path=str(back.out))
    np.testing.assert_array_equal(np.array(returned(ids)), np.array(original(ids)))
    octo_original, _, _ = load_with_adapter(None, adapter)  # octo-mlx finds the base from the record
    octo_returned, _, folder = load_with_adapter(None, back.out)
    assert folder == base
    np.testing.assert_array_equal(np.array(octo_returned(ids)), np.array(octo_original(ids)))


@pytest.mark.parametrize("arch", ["llama", "phi3"])
def test_without_our_config_beside_it_the_peft_folder_still_comes_back_whole(tmp_path, arch):
    """A PEFT folder that lost octo_mlx_adapter_config.json (copied alone, or rewritten by PEFT):
    the same tensors, and a record rebuilt from the extended base it names."""
    adapter, base = make_adapter(tmp_path, arch)
    export_peft(adapter, tmp_path / "peft")
    (tmp_path / "peft" / SIDECAR).unlink()
    import_peft(tmp_path / "peft", tmp_path / "back")
    before, after = (
        tensors(adapter, "adapters.safetensors"),
        tensors(tmp_path / "back", "adapters.safetensors"),
    )
    assert sorted(before) == sorted(after)
    assert all(mx.array_equal(before[k], after[k]).item() for k in before)
    old = json.loads((adapter / "adapter_config.json").read_text())
    new = json.loads((tmp_path / "back" / "adapter_config.json").read_text())
    for key in ("model", "base_fingerprint", "table", "tokens", "fine_tune_type", "num_layers"):
        assert new[key] == old[key], key
    for key in ("rank", "scale", "alpha", "trained_rank"):
        assert new["lora_parameters"][key] == old["lora_parameters"][key], key
    assert sorted(new["lora_parameters"]["keys"]) == sorted(old["lora_parameters"]["keys"])
    ids = ids_with_rows(base)
    original, _, _ = load_with_adapter(None, adapter)
    returned, _, _ = load_with_adapter(None, tmp_path / "back")
    np.testing.assert_array_equal(np.array(returned(ids)), np.array(original(ids)))


# --- the PEFT folder follows PEFT's rules, and its update is ours ----------------------------------


def peft_key(module: str, param: str, embedding: bool) -> str:
    """PEFT's saved key of a LoRA parameter of a transformers module (rules in the docstring)."""
    if param == "m":
        return f"{PREFIX}{module}.lora_magnitude_vector"
    if embedding:
        return f"{PREFIX}{module}.lora_embedding_{param}"
    return f"{PREFIX}{module}.lora_{param}.weight"


def peft_selects(target, module: str) -> bool:
    if isinstance(target, str):
        return re.fullmatch(target, module) is not None
    return any(module == t or module.endswith("." + t) for t in target)


def peft_delta(t: dict, cfg: dict, module: str) -> np.ndarray:
    """PEFT's delta W (out, in) of a module; an embedding's as (vocab, dim), from its saved tensors."""
    p = PREFIX + module
    if f"{p}.lora_embedding_A" in t:
        a, b = np.array(t[f"{p}.lora_embedding_A"]), np.array(t[f"{p}.lora_embedding_B"])
        return (b @ a).T * cfg["lora_alpha"] / a.shape[0]
    a, b = np.array(t[f"{p}.lora_A.weight"]), np.array(t[f"{p}.lora_B.weight"])
    return (b @ a) * cfg["lora_alpha"] / a.shape[0]


@pytest.mark.parametrize("arch, num_layers", [("llama", -1), ("phi3", 1), ("gemma", -1)])
def test_the_peft_folder_has_peft_names_targets_and_our_update(tmp_path, arch, num_layers):
    adapter, base = make_adapter(tmp_path, arch, num_layers=num_layers)
    export_peft(adapter, tmp_path / "peft")
    cfg = json.loads((tmp_path / "peft" / "adapter_config.json").read_text())
    t = tensors(tmp_path / "peft", "adapter_model.safetensors")
    ours = tensors(adapter, "adapters.safetensors")
    ours_cfg = json.loads((adapter / "adapter_config.json").read_text())
    scale = ours_cfg["lora_parameters"]["scale"]
    assert cfg["peft_type"] == "LORA" and cfg["r"] == ours_cfg["lora_parameters"]["rank"]
    assert cfg["lora_alpha"] / cfg["r"] == scale  # PEFT's scaling is ours, to the last bit
    assert json.loads((tmp_path / "peft" / SIDECAR).read_text()) == ours_cfg

    model, _ = load(str(base))
    tied = "lm_head" not in model
    modules = sorted({k.rpartition(".")[0] for k in ours} | ({"lm_head"} if tied else set()))
    expected = set()
    for module in modules:
        embedding = module == "model.embed_tokens"
        expected |= {peft_key(module, "A", embedding), peft_key(module, "B", embedding)}
    assert set(t) == expected
    # transformers has an lm_head module even when it is tied; PEFT's matching picks exactly ours
    candidates = {k for k, m in model.named_modules() if hasattr(m, "weight")} | {"lm_head"}
    assert {k for k in candidates if peft_selects(cfg["target_modules"], k)} == set(modules)
    assert isinstance(cfg["target_modules"], str if num_layers != -1 else list)

    for module in modules:
        if module == "lm_head" and tied:  # mlx-lm's tied head takes the embedding's update
            a, b = ours["model.embed_tokens.lora_a"], ours["model.embed_tokens.lora_b"]
            want = scale * np.array(a @ b)  # (vocab, dim): the head's weight change
        elif module == "model.embed_tokens":
            want = scale * np.array(ours[f"{module}.lora_a"] @ ours[f"{module}.lora_b"])
        else:
            want = scale * np.array(ours[f"{module}.lora_a"] @ ours[f"{module}.lora_b"]).T
        np.testing.assert_allclose(peft_delta(t, cfg, module), want, rtol=1e-5, atol=1e-7)


def test_dora_magnitudes_keep_peft_names(tmp_path):
    adapter, _ = make_adapter(tmp_path, "llama", dora=True, tokens=())
    export_peft(adapter, tmp_path / "peft")
    cfg = json.loads((tmp_path / "peft" / "adapter_config.json").read_text())
    t = tensors(tmp_path / "peft", "adapter_model.safetensors")
    ours = tensors(adapter, "adapters.safetensors")
    assert cfg["use_dora"] is True
    for key in (k for k in ours if k.endswith(".m")):
        module = key[: -len(".m")]
        assert mx.array_equal(t[peft_key(module, "m", False)], ours[key]).item()


def test_lora_alpha_gives_the_scale_exactly_where_a_float_can():
    for alpha, rank in [(32, 16), (32, 12), (8, 3), (256, 64), (20, 7)]:  # as trained: alpha / rank
        assert peft_alpha(alpha / rank, rank) == alpha
    for scale, rank in [(2.0, 16), (32 / 12, 50), (1 / 3, 3), (1e-3, 259), (0.1 * 3, 7)]:
        got = peft_alpha(scale, rank) / rank
        assert got == scale or abs(got - scale) <= 2 * scale * 2**-52  # 0.3 / 7: no float gives it


# --- a PEFT adapter made elsewhere ------------------------------------------------------------------


def write_peft(folder: Path, cfg: dict, weights: dict[str, np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    full = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": 4,
        "lora_alpha": 8,
        "target_modules": ["q_proj", "v_proj"],
        "rank_pattern": {"v_proj": 2},
        "bias": "none",
        **cfg,
    }
    (folder / "adapter_config.json").write_text(json.dumps(full))
    mx.save_safetensors(
        str(folder / "adapter_model.safetensors"),
        {k: mx.array(v) for k, v in weights.items()},
        metadata={"format": "pt"},
    )
    return folder


def foreign_factors(seed=0) -> dict[str, np.ndarray]:
    """q_proj (rank 4) and v_proj (rank 2, by rank_pattern) of block 1 of the tiny llama (hidden 64,
    4 heads, 2 kv heads of 16): as PEFT saves them."""
    rng = np.random.default_rng(seed)
    p = PREFIX + "model.layers.1.self_attn."
    return {
        f"{p}q_proj.lora_A.weight": rng.normal(0, 0.1, (4, 64)).astype(np.float32),
        f"{p}q_proj.lora_B.weight": rng.normal(0, 0.1, (64, 4)).astype(np.float32),
        f"{p}v_proj.lora_A.weight": rng.normal(0, 0.1, (2, 64)).astype(np.float32),
        f"{p}v_proj.lora_B.weight": rng.normal(0, 0.1, (32, 2)).astype(np.float32),
    }


def test_a_foreign_peft_adapter_imports_with_peft_scaling(tiny_llama, tmp_path):
    """rsLoRA, rank_pattern and alpha_pattern, one block of two: the imported adapter, loaded by
    mlx-lm, gives the logits of the base with PEFT's delta W folded in by hand."""
    weights = foreign_factors()
    cfg = {
        "base_model_name_or_path": str(tiny_llama),
        "use_rslora": True,
        "rank_pattern": {"v_proj": 2},
        "alpha_pattern": {"v_proj": 3},
    }
    peft_dir = write_peft(tmp_path / "peft", cfg, weights)
    result = import_peft(peft_dir, tmp_path / "mine")
    assert result.rank == 4 and result.scale == 8 / math.sqrt(4)
    mine = json.loads((tmp_path / "mine" / "adapter_config.json").read_text())
    assert mine["num_layers"] == 1 and mine["base_fingerprint"] == weights_sha256(tiny_llama)
    assert mine["lora_parameters"]["keys"] == ["self_attn.q_proj", "self_attn.v_proj"]

    fused, _ = load(str(tiny_llama))
    attn = fused.layers[1].self_attn
    p = PREFIX + "model.layers.1.self_attn."
    for name, layer, alpha, r in [("q_proj", attn.q_proj, 8, 4), ("v_proj", attn.v_proj, 3, 2)]:
        delta = weights[f"{p}{name}.lora_B.weight"] @ weights[f"{p}{name}.lora_A.weight"]
        layer.weight = layer.weight + mx.array(delta * alpha / math.sqrt(r))
    adapted, _ = load(str(tiny_llama), adapter_path=str(tmp_path / "mine"))
    ids = mx.array([[3, 17, 40, 5, 9]])
    np.testing.assert_allclose(np.array(adapted(ids)), np.array(fused(ids)), rtol=1e-4, atol=1e-5)
    octo, _, folder = load_with_adapter(None, tmp_path / "mine")  # octo-mlx: the recorded base
    assert folder.resolve() == tiny_llama.resolve()


def test_import_then_export_gives_the_peft_update_back(tiny_llama, tmp_path):
    weights = foreign_factors()
    peft_dir = write_peft(tmp_path / "peft", {"base_model_name_or_path": str(tiny_llama)}, weights)
    import_peft(peft_dir, tmp_path / "mine")
    export_peft(tmp_path / "mine", tmp_path / "again")
    again = tensors(tmp_path / "again", "adapter_model.safetensors")
    cfg = json.loads((tmp_path / "again" / "adapter_config.json").read_text())
    assert cfg["r"] == 4 and cfg["lora_alpha"] == 8
    assert re.fullmatch(cfg["target_modules"], "model.layers.1.self_attn.v_proj")
    assert not re.fullmatch(cfg["target_modules"], "model.layers.0.self_attn.v_proj")
    p = PREFIX + "model.layers.1.self_attn."
    for name, r in [("q_proj", 4), ("v_proj", 2)]:  # v_proj: rank 2 padded to 4, scaling 8/2 folded in
        a, b = weights[f"{p}{name}.lora_A.weight"], weights[f"{p}{name}.lora_B.weight"]
        want = (b @ a) * 8 / r
        np.testing.assert_allclose(
            peft_delta(again, cfg, f"model.layers.1.self_attn.{name}"), want, rtol=1e-6
        )


def test_overwrite_replaces_only_a_folder_of_what_the_command_writes(tiny_llama, tmp_path):
    """As combine and fuse: --overwrite replaces a PEFT folder (export) or an adapter folder
    (import), never a folder of other files, nor the folder being converted."""
    peft_dir = write_peft(tmp_path / "peft", {"base_model_name_or_path": str(tiny_llama)}, foreign_factors())
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(OctoError, match="something other than an adapter"):
        import_peft(peft_dir, busy, overwrite=True)
    with pytest.raises(OctoError, match="being converted"):
        import_peft(peft_dir, peft_dir, overwrite=True)
    mine = import_peft(peft_dir, tmp_path / "mine").out
    with pytest.raises(OctoError, match="something other than a PEFT"):
        export_peft(mine, busy, overwrite=True)
    with pytest.raises(OctoError, match="being converted"):
        export_peft(mine, mine, overwrite=True)
    assert [p.name for p in busy.iterdir()] == ["notes.txt"]
    assert (peft_dir / "adapter_model.safetensors").is_file() and (mine / "adapters.safetensors").is_file()
    import_peft(peft_dir, mine, overwrite=True)  # what each command writes is replaced whole
    export_peft(mine, tmp_path / "again")
    assert export_peft(mine, tmp_path / "again", overwrite=True).out == tmp_path / "again"


# --- bad input: one clear line naming the file and field -------------------------------------------


def _damage(peft_dir: Path, how: str, tiny_llama: Path) -> str:
    """Damage a valid PEFT folder ``how``; the text the error must name."""
    cfg_path, w_path = peft_dir / "adapter_config.json", peft_dir / "adapter_model.safetensors"
    cfg = json.loads(cfg_path.read_text())
    p = PREFIX + "model.layers.1.self_attn."
    extra: dict[str, np.ndarray] = {}
    if how == "no config":
        cfg_path.unlink()
        return "adapter_config.json"
    if how == "bad json":
        cfg_path.write_text("{not json")
        return "adapter_config.json"
    if how == "no weights":
        w_path.unlink()
        return "adapter_model.safetensors"
    if how == "pickle only":
        w_path.rename(peft_dir / "adapter_model.bin")
        return "adapter_model.bin"
    if how == "truncated":
        w_path.write_bytes(w_path.read_bytes()[:-50])
        return "adapter_model.safetensors"
    if how == "ia3":
        cfg["peft_type"] = "IA3"
        field = "peft_type"
    elif how == "modules_to_save":
        cfg["modules_to_save"] = ["lm_head"]
        field = "modules_to_save"
    elif how == "lora_bias":
        cfg["lora_bias"] = True
        field = "lora_bias"
    elif how == "pissa":
        cfg["init_lora_weights"] = "pissa"
        field = "init_lora_weights"
    elif how == "rank":
        cfg["r"] = 8
        field = "rank 4"
    elif how == "unknown target":
        cfg["target_modules"] = ["q_proj", "v_proj", "c_attn"]
        field = "target_modules: 'c_attn'"
    elif how == "unknown module":
        extra = {
            f"{p}c_attn.lora_A.weight": np.zeros((4, 64), np.float32),
            f"{p}c_attn.lora_B.weight": np.zeros((64, 4), np.float32),
        }
        field = "c_attn"
    elif how == "full weight":
        extra = {PREFIX + "lm_head.weight": np.zeros((8, 64), np.float32)}
        field = "lm_head.weight"
    elif how == "dora embedding":
        cfg["use_dora"] = True
        extra = {  # the linear layers' magnitudes are fine; the embedding's has no mlx-lm form
            f"{p}q_proj.lora_magnitude_vector": np.ones((64,), np.float32),
            f"{p}v_proj.lora_magnitude_vector": np.ones((32,), np.float32),
            PREFIX + "model.embed_tokens.lora_embedding_A": np.zeros((4, 8), np.float32),
            PREFIX + "model.embed_tokens.lora_embedding_B": np.zeros((64, 4), np.float32),
            PREFIX + "model.embed_tokens.lora_magnitude_vector": np.ones((64,), np.float32),
        }
        field = "DoRA on an embedding"
    elif how == "embedding on a tied base":
        vocab = json.loads((tiny_llama / "config.json").read_text())["vocab_size"]
        extra = {
            PREFIX + "model.embed_tokens.lora_embedding_A": np.zeros((4, vocab), np.float32),
            PREFIX + "model.embed_tokens.lora_embedding_B": np.zeros((64, 4), np.float32),
        }
        field = "ensure_weight_tying"
    elif how == "no base":
        del cfg["base_model_name_or_path"]
        field = "base_model_name_or_path"
    else:
        raise AssertionError(how)
    cfg_path.write_text(json.dumps(cfg))
    if extra:
        weights = {k: np.array(v) for k, v in tensors(peft_dir, "adapter_model.safetensors").items()}
        write_peft(peft_dir, cfg, {**weights, **extra})
    return field


BAD_PEFT = [
    "no config",
    "bad json",
    "no weights",
    "pickle only",
    "truncated",
    "ia3",
    "modules_to_save",
    "lora_bias",
    "pissa",
    "rank",
    "unknown target",
    "unknown module",
    "full weight",
    "dora embedding",
    "embedding on a tied base",
    "no base",
]


@pytest.mark.parametrize("how", BAD_PEFT)
def test_a_bad_peft_folder_is_one_clear_error_and_writes_nothing(tiny_llama, tmp_path, how):
    peft_dir = write_peft(tmp_path / "peft", {"base_model_name_or_path": str(tiny_llama)}, foreign_factors())
    named = _damage(peft_dir, how, tiny_llama)
    with pytest.raises(OctoError) as e:
        import_peft(peft_dir, tmp_path / "mine")
    assert named in str(e.value) and "\n" not in str(e.value), str(e.value)
    assert not (tmp_path / "mine").exists()


@pytest.mark.parametrize("how", ["full", "dora with rows", "unknown module", "no base"])
def test_an_adapter_peft_cannot_hold_is_refused_on_export(tmp_path, how):
    adapter, _ = make_adapter(tmp_path, "llama", dora=how == "dora with rows")
    cfg_path = adapter / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    named = {"full": "fine_tune_type", "dora with rows": "DoRA", "unknown module": "model.norm"}.get(how)
    if how == "full":
        cfg["fine_tune_type"] = "full"
    elif how == "unknown module":
        weights = dict(tensors(adapter, "adapters.safetensors"))
        weights["model.norm.lora_a"], weights["model.norm.lora_b"] = mx.zeros((64, 4)), mx.zeros((4, 64))
        mx.save_safetensors(str(adapter / "adapters.safetensors"), weights)
    elif how == "no base":  # a plain mlx-lm adapter naming a hub model: the tie is unknown
        for key in ("table", "base_fingerprint", "tokens"):
            cfg.pop(key)
        cfg["model"] = "someone/elsewhere"
        named = "--model"
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(OctoError) as e:
        export_peft(adapter, tmp_path / "peft")
    assert named in str(e.value) and "\n" not in str(e.value), str(e.value)
    assert not (tmp_path / "peft").exists()


# --- the command line -------------------------------------------------------------------------------


def test_export_and_import_on_the_command_line(tmp_path):
    from tests.helpers.cli import run_octo

    adapter, base = make_adapter(tmp_path, "llama")
    env = {"OCTO_MLX_HOME": str(tmp_path / "home")}
    res = run_octo("adapters", "export", adapter, "--format", "peft", "--out", tmp_path / "peft", env=env)
    assert res.returncode == 0, res.stderr
    res = run_octo("adapters", "import", tmp_path / "peft", "--out", tmp_path / "back", env=env)
    assert res.returncode == 0, res.stderr
    before, after = (
        tensors(adapter, "adapters.safetensors"),
        tensors(tmp_path / "back", "adapters.safetensors"),
    )
    assert all(mx.array_equal(before[k], after[k]).item() for k in before) and sorted(before) == sorted(after)
    res = run_octo("adapters", "import", tmp_path / "peft", "--out", tmp_path / "back", env=env)
    assert res.returncode == 2 and "--out" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    bad = shutil.copytree(tmp_path / "peft", tmp_path / "ia3")
    cfg = json.loads((bad / "adapter_config.json").read_text())
    (bad / "adapter_config.json").write_text(json.dumps(dict(cfg, peft_type="IA3")))
    res = run_octo("adapters", "import", bad, "--out", tmp_path / "x", env=env)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and "peft_type" in lines[0], res.stderr
