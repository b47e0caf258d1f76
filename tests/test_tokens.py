"""The added-token table and the one extended base per (original model, table)."""

from __future__ import annotations

import json
import shutil

import mlx.core as mx
import numpy as np
import pytest
from mlx_lm.utils import load

from octo_mlx.errors import OctoError
from octo_mlx.files import sha256_file
from octo_mlx.models.tokens import (
    END,
    N_SLOTS,
    NONE,
    SPLIT,
    TABLE,
    TokenTable,
    extend_base,
    read_extension,
    slot_token,
)
from tests.helpers.tiny import build_tiny_model


@pytest.fixture(scope="module")
def tiny_phi3(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-phi3"), "phi3")


def test_the_table_is_fixed_ordered_and_named_by_its_hash():
    assert TABLE.tokens[:3] == (SPLIT, END, NONE) and TABLE.tokens[3] == slot_token(0)
    assert len(TABLE.tokens) == 3 + N_SLOTS and len(set(TABLE.tokens)) == len(TABLE.tokens)
    assert TokenTable(1, TABLE.tokens).hash == TABLE.hash
    assert (
        TokenTable(1, TABLE.tokens[:-1]).hash != TABLE.hash and TokenTable(2, TABLE.tokens).hash != TABLE.hash
    )


def test_the_extended_base_holds_every_entry_as_one_token_with_mean_rows(tiny_llama, tmp_path):
    original, otok = load(str(tiny_llama))
    w0 = np.array(original.model.embed_tokens.weight)
    base = extend_base(tiny_llama, out=tmp_path / "ext")
    model, tok = load(str(base))
    w = np.array(model.model.embed_tokens.weight)
    assert w.shape[0] == w0.shape[0] + len(TABLE.tokens)
    np.testing.assert_array_equal(w[: w0.shape[0]], w0)  # every old row untouched
    np.testing.assert_allclose(
        w[w0.shape[0] :], np.broadcast_to(w0.mean(axis=0), (len(TABLE.tokens), w.shape[1])), atol=1e-6
    )
    text = f"step one{SPLIT}step two{slot_token(7)}{{}}{END}"
    ids = tok.encode(text, add_special_tokens=False)
    for t in (SPLIT, slot_token(7), END):
        assert ids.count(tok.convert_tokens_to_ids(t)) == 1  # one token, not "<", "n", "exa"...
    assert tok.decode(ids) == text  # non-special: decoding keeps them
    marker = read_extension(base)
    assert marker["table"]["hash"] == TABLE.hash and marker["ids"][SPLIT] == w0.shape[0]


def test_an_untied_head_grows_too(tiny_phi3, tmp_path):
    original, _ = load(str(tiny_phi3))
    head0 = np.array(original.lm_head.weight)
    model, _ = load(str(extend_base(tiny_phi3, out=tmp_path / "ext")))
    head = np.array(model.lm_head.weight)
    assert head.shape[0] == head0.shape[0] + len(TABLE.tokens)
    np.testing.assert_allclose(head[-1], head0.mean(axis=0), atol=1e-6)


def test_built_once_cached_by_fingerprint_and_table_and_the_same_anywhere(tiny_llama, tmp_path, monkeypatch):
    monkeypatch.setenv("OCTO_MLX_HOME", str(tmp_path / "home"))
    first = extend_base(tiny_llama)
    assert first.parent == tmp_path / "home" / "extended"
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert extend_base(tiny_llama) == first and (first / "model.safetensors").stat().st_mtime_ns == stamp
    assert extend_base(first) == first  # an extended base is its own extended base
    copy = tmp_path / "moved"  # another folder with the same weights: the same cache entry
    shutil.copytree(tiny_llama, copy)
    assert extend_base(copy) == first
    again = extend_base(tiny_llama, out=tmp_path / "rebuilt")  # a rebuild gives the same bytes
    assert sha256_file(again / "model.safetensors", cache=False) == sha256_file(
        first / "model.safetensors", cache=False
    )
    assert sorted(
        p.name for p in (tmp_path / "home" / "extended").iterdir() if not p.name.startswith(".")
    ) == [first.name]


def test_same_weights_under_another_config_get_their_own_extended_base(tiny_llama, tmp_path, monkeypatch):
    """Two folders with equal weights but different configs (found: a tiny llama and a tiny
    gemma of one seed) must not share a cache entry: the second would load with the first's config."""
    monkeypatch.setenv("OCTO_MLX_HOME", str(tmp_path / "home"))
    first = extend_base(tiny_llama)
    other = tmp_path / "other-config"
    shutil.copytree(tiny_llama, other)
    cfg = json.loads((other / "config.json").read_text())
    cfg["rope_theta"] = float(cfg.get("rope_theta", 10000.0)) * 2
    (other / "config.json").write_text(json.dumps(cfg))
    second = extend_base(other)
    assert second != first
    assert json.loads((second / "config.json").read_text())["rope_theta"] == cfg["rope_theta"]
    assert extend_base(tiny_llama) == first  # the first entry is still found


def test_spare_rows_past_the_tokenizer_are_reused_and_kept_out_of_the_mean(tiny_llama, tmp_path):
    from tests.test_adapters import _with_spare_rows

    spare = _with_spare_rows(tiny_llama, tmp_path / "spare", spare=8)
    cfg = json.loads((spare / "config.json").read_text())
    model, tok = load(str(extend_base(spare, out=tmp_path / "ext")))
    w = np.array(model.model.embed_tokens.weight)
    n_tok = cfg["vocab_size"] - 8
    assert tok.convert_tokens_to_ids(SPLIT) == n_tok  # the first spare row
    assert w.shape[0] == n_tok + len(TABLE.tokens)
    np.testing.assert_allclose(w[n_tok], w[:n_tok].mean(axis=0), atol=1e-6)


def test_a_float16_base_stays_float16_and_out_refuses_a_foreign_folder(tiny_llama, tmp_path):
    from mlx.utils import tree_map
    from mlx_lm.utils import save_model

    half = tmp_path / "f16"
    shutil.copytree(tiny_llama, half)
    model, _ = load(str(half))
    model.update(tree_map(lambda p: p.astype(mx.float16), model.parameters()))
    for f in half.glob("model*"):
        f.unlink()
    save_model(half, model)
    ext, _ = load(str(extend_base(half, out=tmp_path / "ext")))
    assert ext.model.embed_tokens.weight.dtype == mx.float16
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("x")
    with pytest.raises(OctoError, match="holds something else"):
        extend_base(half, out=foreign)


def test_the_default_models_import_marker_is_not_copied(tiny_llama, tmp_path):
    from octo_mlx.models.default import MARKER, is_finished_import

    src = tmp_path / "cache-import"
    shutil.copytree(tiny_llama, src)
    (src / MARKER).write_text("{}")
    (src / "generation_config.json").write_text("{}")
    base = extend_base(src, out=tmp_path / "ext")
    assert (base / "generation_config.json").is_file()  # the other small files still come along
    assert not (base / MARKER).exists() and not is_finished_import(base)


def test_plain_mlx_lm_on_the_written_extended_base_plans_as_octo_mlx_does(tiny_llama, tmp_path):
    """vocabulary.md's promise: `octo-mlx model extend --out DIR`, then
    `mlx_lm.load(DIR, adapter_path=ADAPTER)` gives octo-mlx's greedy output."""
    from mlx_lm import generate as mlx_generate

    from octo_mlx.planner import plan_prompt, plan_queries
    from octo_mlx.train.loop import train
    from octo_mlx.train.recipe import load_recipe
    from tests.helpers.cli import run_octo
    from tests.helpers.datasets import tiny_overrides, write_planner_data

    data = write_planner_data(tmp_path / "data")
    args = tiny_overrides(tiny_llama, data, tmp_path / "run", "train.epochs=3", "train.learning_rate=5e-2")
    adapter = train(load_recipe(None, args)).last_dir
    res = run_octo("model", "extend", tiny_llama, "--out", tmp_path / "ext")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(tmp_path / "ext")
    queries = ["Email Bob the report", "Find news about NVIDIA and text it to Ana"]
    ours = [p.text for p in plan_queries(queries, None, adapter, max_tokens=24)]
    model, tok = load(str(tmp_path / "ext"), adapter_path=str(adapter))
    theirs = [mlx_generate(model, tok, plan_prompt(tok, q), max_tokens=24) for q in queries]
    assert [t.strip() for t in ours] == [t.strip() for t in theirs]


def test_the_planner_never_generates_an_untrained_table_entry(tiny_llama, tmp_path):
    from octo_mlx.models.tokens import TableMask

    _, tok = load(str(extend_base(tiny_llama, out=tmp_path / "ext")))
    mask = TableMask(tok, (SPLIT,))
    logits = mx.zeros((1, len(tok._tokenizer)))
    masked = np.array(mask(None, logits))[0]
    vocab = tok._tokenizer.get_vocab()
    assert masked[vocab[SPLIT]] == 0
    assert all(masked[vocab[t]] == -np.inf for t in TABLE.tokens if t != SPLIT)
    assert np.isfinite(masked[: vocab[SPLIT]]).all()  # the model's own tokens untouched
