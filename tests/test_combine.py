"""Combining adapters (adapters.combine, adapters.combined) and fusing one into its base
(adapters.fuse): invariants of the maths on random factors, then real adapter folders on the tiny
model's extended base, loaded by plain mlx-lm."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten, tree_map, tree_unflatten
from mlx_lm.utils import load

from octo_mlx.action.model import dates_for
from octo_mlx.adapters import rows as vocab_rows
from octo_mlx.adapters.combine import (
    METHODS,
    RANDOM,
    TRIMMING,
    LoraUpdate,
    check_options,
    combine_updates,
    split_factors,
    update_matrix,
)
from octo_mlx.adapters.combined import combine_adapters
from octo_mlx.adapters.folder import save_adapter
from octo_mlx.adapters.fuse import FUSED_MARKER, fuse_model
from octo_mlx.adapters.lora import LoraConfig, adapter_weights, apply_lora
from octo_mlx.errors import OctoError
from octo_mlx.files import sha256_file
from octo_mlx.models.folder import weights_sha256
from octo_mlx.models.tokens import END, NONE, SPLIT, TABLE, extend_base, slot_token
from octo_mlx.syntax import DATES, TASK_FILE

# --- the maths, on random factors ----------------------------------------------------------------


def _update(seed: int, rank: int, scale: float, pad: int = 0, dtype=mx.float32) -> LoraUpdate:
    """Two modules as mlx-lm stores them: a 24x40 linear and an embedding of 50 rows with two
    trained rows (the added tokens); ``pad`` zero columns as a file of a higher rank holds."""
    mx.random.seed(seed)
    a = mx.random.normal((24, rank))
    b = mx.random.normal((rank, 40)) * 0.1
    emb_a = mx.zeros((50, rank)).at[mx.array([7, 9]), mx.array([0, 1])].add(1.0)
    emb_b = mx.random.normal((rank, 16))
    if pad:
        a, emb_a = (mx.concatenate([x, mx.zeros((x.shape[0], pad))], axis=1) for x in (a, emb_a))
        b, emb_b = (mx.concatenate([x, mx.zeros((pad, x.shape[1]))]) for x in (b, emb_b))
    factors = {
        "layers.0.q": (a.astype(dtype), b.astype(dtype)),
        "embed": (emb_a.astype(dtype), emb_b.astype(dtype)),
    }
    return LoraUpdate(factors, scale, name=f"adapter-{seed}")


def _product(combined, key) -> np.ndarray:
    a, b = combined.factors[key]
    return np.array(a @ b)


def _weighted_sum(updates, weights, key) -> np.ndarray:
    return sum(w * np.array(update_matrix(*u.factors[key], u.scale)) for u, w in zip(updates, weights))


def _options(method, density=1.0, seed=3):
    return {"density": density if method in TRIMMING else None, "seed": seed if method in RANDOM else None}


@pytest.mark.parametrize("method", METHODS)
def test_weights_1_0_reproduce_the_first_adapter(method):
    a, b = _update(0, 4, 2.0), _update(1, 6, 0.5)
    combined = combine_updates([a, b], [1.0, 0.0], method, **_options(method))
    for key in a.factors:
        expected = _weighted_sum([a], [1.0], key)
        np.testing.assert_allclose(_product(combined, key), expected, atol=1e-5 * np.abs(expected).max())
    assert min(combined.energy.values()) > 1 - 1e-6


@pytest.mark.parametrize("dtype", [mx.float32, mx.float16])
def test_cat_and_full_rank_svd_equal_the_exact_weighted_sum(dtype):
    """Ranks 4 and 6 (one zero-padded to 9), scales 2 and 0.5, a negative weight: the sum, exactly."""
    updates = [_update(0, 4, 2.0, dtype=dtype), _update(1, 6, 0.5, pad=3, dtype=dtype)]
    weights = [0.7, -0.3]
    cat = combine_updates(updates, weights, "linear")
    svd = combine_updates(updates, weights, "linear", rank=10)
    assert cat.factors["layers.0.q"][0].shape[1] == 10  # the padding added nothing to the rank
    assert cat.factors["embed"][0].shape[1] == 4  # two trained rows per adapter
    for key in updates[0].factors:
        exact = _weighted_sum(updates, weights, key)  # float32 maths on the stored factors
        tol = 1e-5 * np.abs(exact).max()
        np.testing.assert_allclose(_product(cat, key), exact, atol=tol)
        np.testing.assert_allclose(_product(svd, key), exact, atol=tol)
    assert all(e > 1 - 1e-6 for e in svd.energy.values())


def test_peft_style_weighting_of_a_and_b_is_not_the_weighted_sum():
    """What PEFT's linear does (sqrt(w s) on A and on B, summed) misses by far: the invariant above
    can tell the two apart."""
    a, b = _update(0, 4, 1.0), _update(1, 4, 1.0)
    key, w = "layers.0.q", [0.7, 0.3]
    exact = _weighted_sum([a, b], w, key)
    fa = sum(math.sqrt(wi) * np.array(u.factors[key][0]) for u, wi in zip([a, b], w))
    fb = sum(math.sqrt(wi) * np.array(u.factors[key][1]) for u, wi in zip([a, b], w))
    peft_error = np.linalg.norm(fa @ fb - exact) / np.linalg.norm(exact)
    ours = np.linalg.norm(_product(combine_updates([a, b], w), key) - exact) / np.linalg.norm(exact)
    assert peft_error > 0.3 and ours < 1e-5


def test_a_truncated_svd_keeps_the_leading_energy_and_says_how_much():
    updates, weights = [_update(0, 4, 2.0), _update(1, 6, 0.5)], [0.5, 0.5]
    combined = combine_updates(updates, weights, "linear", rank=3)
    exact = _weighted_sum(updates, weights, "layers.0.q")
    s = np.linalg.svd(exact, compute_uv=False)
    assert combined.energy["layers.0.q"] == pytest.approx((s[:3] ** 2).sum() / (s**2).sum(), rel=1e-4)
    best = np.linalg.norm(exact - _product(combined, "layers.0.q")) ** 2
    assert best == pytest.approx((s[3:] ** 2).sum(), rel=1e-3)  # the Eckart-Young optimum
    assert combined.energy["embed"] > 1 - 1e-6  # the same two rows in both: rank 2, kept whole
    assert combined.factors["layers.0.q"][0].shape[1] == 3


@pytest.mark.parametrize("method", RANDOM)
def test_a_fixed_seed_gives_the_same_result_twice_and_another_seed_another(method):
    updates = [_update(0, 4, 2.0), _update(1, 6, 0.5)]
    first = combine_updates(updates, [0.6, 0.4], method, density=0.5, seed=7)
    again = combine_updates(updates, [0.6, 0.4], method, density=0.5, seed=7)
    other = combine_updates(updates, [0.6, 0.4], method, density=0.5, seed=8)
    for key in updates[0].factors:
        np.testing.assert_array_equal(_product(first, key), _product(again, key))
    assert not np.allclose(_product(first, "layers.0.q"), _product(other, "layers.0.q"))


@pytest.mark.parametrize("method", METHODS)
def test_order_does_not_matter_when_weights_follow_their_adapters(method):
    a, b, c = _update(0, 4, 2.0), _update(1, 6, 0.5), _update(2, 3, 1.0)
    opts = _options(method, density=0.5)
    one = combine_updates([a, b, c], [0.5, 0.3, 0.2], method, **opts)
    two = combine_updates([c, a, b], [0.2, 0.5, 0.3], method, **opts)
    for key in a.factors:
        ref = _product(one, key)
        np.testing.assert_allclose(_product(two, key), ref, atol=1e-5 * np.abs(ref).max())


@pytest.mark.parametrize("method", METHODS)
def test_a_source_of_weight_0_changes_nothing_whatever_it_is(method):
    """No vote in TIES, no share in the KnOTS basis: [A, B] and [A, C] at weights [1, 0] agree."""
    a, b, c = _update(0, 4, 2.0), _update(1, 6, 0.5), _update(2, 3, 1.0)
    opts = _options(method, density=0.5)
    with_b = combine_updates([a, b], [1.0, 0.0], method, **opts)
    with_c = combine_updates([a, c], [1.0, 0.0], method, **opts)
    for key in a.factors:
        ref = _product(with_b, key)
        np.testing.assert_allclose(_product(with_c, key), ref, atol=1e-5 * np.abs(ref).max())


def test_per_module_weights_give_each_module_its_own_weighted_sum():
    """Learned per-layer weights (LoRA Soups): each listed module is the sum with its own weights,
    the others keep ``weights``; other methods and a wrong count are refused."""
    updates = [_update(0, 4, 2.0), _update(1, 6, 0.5, pad=3)]
    weights, own = [0.5, 0.5], [1.3, -0.2]
    combined = combine_updates(updates, weights, "linear", module_weights={"layers.0.q": own})
    for key, ws in (("layers.0.q", own), ("embed", weights)):
        exact = _weighted_sum(updates, ws, key)
        np.testing.assert_allclose(_product(combined, key), exact, atol=1e-5 * np.abs(exact).max())
    with pytest.raises(OctoError, match="method linear"):
        combine_updates(updates, weights, "ties", density=0.5, module_weights={"layers.0.q": own})
    with pytest.raises(OctoError, match="2 finite weights"):
        combine_updates(updates, weights, "linear", module_weights={"layers.0.q": [1.0]})


def _rank_one(row: list[float]) -> LoraUpdate:
    return LoraUpdate({"m": (mx.array([[1.0]]), mx.array([row]))}, 1.0, name=str(row))


def test_ties_elects_a_sign_per_entry_and_averages_the_agreeing_entries():
    a, b = _rank_one([1.0, -2.0, 4.0]), _rank_one([3.0, 1.0, -1.0])
    merged = combine_updates([a, b], [1.0, 1.0], "ties", density=1.0)
    np.testing.assert_allclose(_product(merged, "m"), [[2.0, -2.0, 4.0]], atol=1e-5)
    trimmed = combine_updates([a, b], [1.0, 1.0], "ties", density=2 / 3)  # keeps [-2, 4] and [3, 1]
    np.testing.assert_allclose(_product(trimmed, "m"), [[3.0, -2.0, 4.0]], atol=1e-5)
    pruned = combine_updates([a, b], [0.5, 0.5], "magnitude_prune", density=1 / 3)  # [4] and [3]
    np.testing.assert_allclose(_product(pruned, "m"), [[1.5, 0.0, 2.0]], atol=1e-5)


def test_density_counts_the_rows_the_adapters_touch():
    """Two trained rows of a 50-row embedding: half of their 32 entries stay (not half of all
    800, which would keep them all), and the other rows stay 0."""
    a, b = _update(0, 4, 2.0), _update(1, 6, 0.5)
    merged = _product(combine_updates([a, b], [1.0, 0.0], "magnitude_prune", density=0.5), "embed")
    kept = np.abs(merged) > 1e-6
    assert kept.any(axis=1).nonzero()[0].tolist() == [7, 9]
    assert kept.sum() == 16


def test_knots_merges_in_the_shared_basis_and_stores_it_exactly():
    """At density 1, KnOTS is TIES on the coordinates of one shared basis: of equal adapters it
    returns that adapter (the disjoint mean of equal entries)."""
    a = _update(0, 4, 2.0)
    twin = LoraUpdate(a.factors, a.scale, name="twin")
    merged = combine_updates([a, twin], [1.0, 1.0], "knots", density=1.0)
    for key in a.factors:
        exact = _weighted_sum([a], [1.0], key)
        np.testing.assert_allclose(_product(merged, key), exact, atol=1e-5 * np.abs(exact).max())
    assert merged.factors["layers.0.q"][0].shape[1] == 4  # the shared basis of twins has their rank


@pytest.mark.parametrize(
    "method, weights, rank, density, seed, flag",
    [
        ("linear", [0.5], None, None, None, "--weights"),
        ("linear", [0.5, float("nan")], None, None, None, "--weights"),
        ("linear", [0.0, 0.0], None, None, None, "--weights"),
        ("ties", [0.5, -0.5], None, 0.5, None, "--weights"),
        ("knots", [-1.0, 1.0], None, 0.5, None, "--weights"),
        ("ties", [0.5, 0.5], None, None, None, "--density"),
        ("ties", [0.5, 0.5], None, 0.0, None, "--density"),
        ("dare_ties", [0.5, 0.5], None, 1.5, None, "--density"),
        ("linear", [0.5, 0.5], None, 0.5, None, "--density"),
        ("ties", [0.5, 0.5], None, 0.5, 3, "--seed"),
        ("linear", [0.5, 0.5], 0, None, None, "--rank"),
        ("svd", [0.5, 0.5], None, None, None, "--method"),
    ],
)
def test_options_that_do_not_fit_the_method_are_refused_naming_the_flag(
    method, weights, rank, density, seed, flag
):
    with pytest.raises(OctoError) as e:
        check_options(method, weights, 2, rank, density, seed)
    assert e.value.where == flag


def test_negative_weights_are_allowed_where_nothing_elects_a_sign():
    for method in ("linear", "dare_linear", "magnitude_prune"):
        check_options(method, [1.0, -0.5], 2, None, None if method == "linear" else 0.5)


def test_dora_magnitudes_are_refused_not_combined_wrongly():
    tensors = {"q.lora_a": mx.zeros((4, 2)), "q.lora_b": mx.zeros((2, 4)), "q.m": mx.ones((4,))}
    with pytest.raises(OctoError, match="DoRA"):
        split_factors(tensors, "x/adapters.safetensors")


# --- adapter folders on the tiny model's extended base ----------------------------------------------


def _randomize(model, seed: int) -> None:
    mx.random.seed(seed)
    model.update(tree_map(lambda p: mx.random.normal(p.shape) * 0.2, model.trainable_parameters()))
    mx.eval(model.parameters())


def make_adapter(
    source: Path, base: Path, out: Path, rank: int, seed: int, tokens=(SPLIT,), dora=False, **extra
):
    """An adapter as `octo-mlx train` writes it (rows of ``tokens`` as LoRA factors, the base's
    fingerprint, the table), its factors random instead of trained."""
    model, tok = load(str(base))
    new = vocab_rows.trained_rows(tok, tokens)
    lora = LoraConfig(rank=rank, alpha=2 * rank)
    cfg = apply_lora(model, lora, dora, seed, new)
    _randomize(model, seed)
    cfg.update(
        model=str(source),
        base_fingerprint=weights_sha256(source),
        table=TABLE.to_dict(),
        tokens=list(new.tokens),
        **extra,
    )
    return save_adapter(out, adapter_weights(model, lora, dora, new), cfg, "")


@pytest.fixture(scope="module")
def extended(tiny_llama, tmp_path_factory) -> Path:
    return extend_base(tiny_llama, out=tmp_path_factory.mktemp("combine") / "extended")


@pytest.fixture(scope="module")
def two_adapters(tiny_llama, extended, tmp_path_factory) -> tuple[Path, Path]:
    """Two planner adapters of ranks 2 and 4, both with their row of <nexa_split>."""
    tmp = tmp_path_factory.mktemp("adapters")
    return (
        make_adapter(tiny_llama, extended, tmp / "a", rank=2, seed=1),
        make_adapter(tiny_llama, extended, tmp / "b", rank=4, seed=2),
    )


def _ids(tokenizer) -> mx.array:
    text = "Find a route to the office<nexa_split>Send the route to Bob by text message"
    return mx.array([tokenizer.encode(text, add_special_tokens=False)])


def _logits(model, ids) -> np.ndarray:
    return np.array(model(ids).astype(mx.float32))


def _weighted_model(base: Path, adapters, weights):
    """The base with sum_i w_i (W_i - W) added, W_i the base fused with adapter i by mlx-lm itself:
    the definition of the weighted sum, computed apart from our maths."""
    model, tok = load(str(base))
    params = dict(tree_flatten(model.parameters()))
    total = {k: mx.array(v) for k, v in params.items()}
    for adapter, w in zip(adapters, weights):
        fused, _ = load(str(base), adapter_path=str(adapter))
        fused.update_modules(
            tree_unflatten([(n, m.fuse()) for n, m in fused.named_modules() if hasattr(m, "fuse")])
        )
        for k, v in tree_flatten(fused.parameters()):
            total[k] = total[k] + w * (v - params[k])
    model.load_weights(list(total.items()))
    return model, tok


def test_a_combined_adapter_loads_in_plain_mlx_lm_as_the_weighted_sum(two_adapters, extended, tmp_path):
    a, b = two_adapters
    weights = [0.7, 0.3]
    result = combine_adapters([a, b], tmp_path / "ab", weights, "linear")
    combined, tok = load(str(extended), adapter_path=str(result.out))
    expected_model, _ = _weighted_model(extended, [a, b], weights)
    ids = _ids(tok)
    assert vocab_rows.trained_rows(tok, [SPLIT]).ids[0] in ids.tolist()[0]  # the added token is read
    got, expected = _logits(combined, ids), _logits(expected_model, ids)
    base_logits = _logits(load(str(extended))[0], ids)
    assert np.abs(expected - base_logits).max() > 1e-2  # the adapters change the output...
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)  # ...and the sum is exact
    cfg = json.loads((result.out / "adapter_config.json").read_text())
    assert cfg["lora_parameters"]["rank"] == result.rank == 6 and cfg["lora_parameters"]["scale"] == 1.0
    assert cfg["tokens"] == [SPLIT] and cfg["table"] == TABLE.to_dict()
    assert cfg["base_fingerprint"] == json.loads((a / "adapter_config.json").read_text())["base_fingerprint"]
    record = cfg["combine"]
    assert record["method"] == "linear" and record["weights"] == weights
    assert [s["adapters_sha256"] for s in record["sources"]] == [
        sha256_file(p / "adapters.safetensors", cache=False) for p in (a, b)
    ]
    assert [s["path"] for s in record["sources"]] == [str(a.resolve()), str(b.resolve())]


def test_weights_1_0_give_adapter_a_logits_through_plain_mlx_lm(two_adapters, extended, tmp_path):
    a, b = two_adapters
    out = combine_adapters([a, b], tmp_path / "a-only", [1.0, 0.0], "ties", density=1.0).out
    ids = _ids(load(str(extended))[1])
    got = _logits(load(str(extended), adapter_path=str(out))[0], ids)
    np.testing.assert_allclose(got, _logits(load(str(extended), adapter_path=str(a))[0], ids), atol=1e-4)


def test_fused_logits_equal_the_unfused_ones(two_adapters, extended, tmp_path):
    """A combined adapter, folded into the base: the same logits from a model folder mlx-lm loads."""
    combined = combine_adapters(two_adapters, tmp_path / "ab", [0.5, 0.5], "knots", density=0.7).out
    result = fuse_model(combined, tmp_path / "fused", model=extended)
    unfused, tok = load(str(extended), adapter_path=str(combined))
    fused, fused_tok = load(str(result.out))
    ids = _ids(tok)
    assert fused_tok.encode(SPLIT, add_special_tokens=False) == tok.encode(SPLIT, add_special_tokens=False)
    np.testing.assert_allclose(_logits(fused, ids), _logits(unfused, ids), atol=1e-4, rtol=1e-4)
    assert result.layers == 2 * 7 + 1  # every linear of both blocks, and the embedding's rows
    marker = json.loads((result.out / FUSED_MARKER).read_text())
    assert marker["combine"]["method"] == "knots" and marker["adapters_sha256"]
    assert not (result.out / "octo-mlx-extended.json").exists()  # not the mean-row base any more


def test_a_dora_adapter_fuses_exactly_and_an_action_adapter_keeps_its_slots(tiny_llama, extended, tmp_path):
    tokens = (END, NONE, slot_token(0), slot_token(1))
    adapter = make_adapter(
        tiny_llama,
        extended,
        tmp_path / "dora",
        rank=2,
        seed=5,
        tokens=tokens,
        dora=True,
        task="action",
        slots={"0": "send_email", "1": "get_weather"},
        domains=["android"],
        dates=DATES,
    )
    out = fuse_model(adapter, tmp_path / "fused", model=extended).out
    unfused, tok = load(str(extended), adapter_path=str(adapter))
    ids = mx.array([[3, 17, *tok.encode("".join(tokens), add_special_tokens=False), 40]])
    np.testing.assert_allclose(_logits(load(str(out))[0], ids), _logits(unfused, ids), atol=1e-4, rtol=1e-4)
    assert json.loads((out / TASK_FILE).read_text())["slots"] == {"0": "send_email", "1": "get_weather"}
    assert dates_for(json.loads((out / TASK_FILE).read_text())) is not None  # still asked with ISO dates
    with pytest.raises(OctoError, match="DoRA"):
        combine_adapters([adapter, adapter], tmp_path / "no", method="linear")
    assert not (tmp_path / "no").exists()


def test_a_quantized_base_fuses_exactly_with_dequantize_and_stays_quantized_without(tiny_llama, tmp_path):
    from mlx_lm.utils import quantize_model, save_config, save_model

    q = tmp_path / "q4"
    shutil.copytree(tiny_llama, q)
    model, _ = load(str(q))
    model, config = quantize_model(model, json.loads((q / "config.json").read_text()), group_size=32, bits=4)
    for f in q.glob("model*"):
        f.unlink()
    save_model(q, model)
    save_config(config, q / "config.json")
    base = extend_base(q, out=tmp_path / "q4-extended")
    adapter = make_adapter(q, base, tmp_path / "qlora", rank=2, seed=4)
    unfused, tok = load(str(base), adapter_path=str(adapter))
    ids = _ids(tok)
    dense = fuse_model(adapter, tmp_path / "dense", model=base, dequantize=True)
    assert dense.quantized and dense.dequantized
    assert "quantization" not in json.loads((dense.out / "config.json").read_text())
    np.testing.assert_allclose(
        _logits(load(str(dense.out))[0], ids), _logits(unfused, ids), atol=1e-4, rtol=1e-4
    )
    requantized = fuse_model(adapter, tmp_path / "q", model=base)
    assert requantized.quantized and not requantized.dequantized
    assert json.loads((requantized.out / "config.json").read_text())["quantization"]["bits"] == 4
    assert load(str(requantized.out))[0](ids).shape == unfused(ids).shape


def test_fuse_refuses_a_foreign_base_and_an_output_holding_something_else(two_adapters, tmp_path):
    from tests.helpers.tiny import build_tiny_model

    a, _ = two_adapters
    other = build_tiny_model(tmp_path / "other", seed=7)  # the same shapes, other weights
    with pytest.raises(OctoError, match="trained on other weights"):
        fuse_model(a, tmp_path / "fused", model=other)
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OctoError, match="something other than a model"):
        fuse_model(a, out, overwrite=True)
    assert not (tmp_path / "fused").exists() and [p.name for p in out.iterdir()] == ["notes.txt"]


# --- what cannot be combined: one line naming the file, nothing written ---------------------------


def _edit(adapter: Path, dst: Path, **fields) -> Path:
    shutil.copytree(adapter, dst)
    cfg_path = dst / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    for k, v in fields.items():
        if v is None:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    cfg_path.write_text(json.dumps(cfg))
    return dst


@pytest.mark.parametrize(
    "change, message",
    [
        ({"base_fingerprint": "f" * 64}, "trained on another base"),
        ({"table": {"version": 2, "hash": "e" * 64, "size": 300}}, "different tables"),
        ({"task": "action", "slots": {"0": "send_email"}, "domains": ["android"]}, "cannot be combined with"),
        ({"num_layers": 1}, "num_layers"),
    ],
)
def test_adapters_that_do_not_fit_together_are_refused(two_adapters, tmp_path, change, message):
    a, b = two_adapters
    other = _edit(b, tmp_path / "other", **change)
    with pytest.raises(OctoError, match=message) as e:
        combine_adapters([a, other], tmp_path / "out")
    assert str(other) in str(e.value)
    assert not (tmp_path / "out").exists()


def test_action_adapters_with_conflicting_slot_maps_are_refused_and_agreeing_ones_unite(
    two_adapters, tmp_path
):
    a, b = two_adapters
    action = {"task": "action", "domains": ["android"]}
    x = _edit(a, tmp_path / "x", slots={"0": "send_email", "1": "get_weather"}, **action)
    y = _edit(
        b, tmp_path / "y", slots={"1": "get_weather", "2": "set_alarm"}, **dict(action, domains=["travel"])
    )
    clash = _edit(b, tmp_path / "clash", slots={"1": "set_alarm"}, **action)
    twice = _edit(b, tmp_path / "twice", slots={"5": "send_email"}, **action)
    with pytest.raises(OctoError, match=r"slot <nexa_1> stands for set_alarm"):
        combine_adapters([x, clash], tmp_path / "out")
    with pytest.raises(OctoError, match=r"send_email sits in slots <nexa_0> and <nexa_5>"):
        combine_adapters([x, twice], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    cfg = json.loads((combine_adapters([x, y], tmp_path / "xy").out / "adapter_config.json").read_text())
    assert cfg["slots"] == {"0": "send_email", "1": "get_weather", "2": "set_alarm"}
    assert cfg["domains"] == ["android", "travel"] and cfg["task"] == "action"


def test_other_layer_sets_are_refused_but_an_adapter_without_rows_adds_none(
    tiny_llama, extended, two_adapters, tmp_path
):
    a, _ = two_adapters
    no_rows = make_adapter(tiny_llama, extended, tmp_path / "plain", rank=2, seed=3, tokens=())
    out = combine_adapters([a, no_rows], tmp_path / "out", [1.0, 1.0]).out  # rows: a's alone
    ids = _ids(load(str(extended))[1])
    expected_model, _ = _weighted_model(extended, [a, no_rows], [1.0, 1.0])
    got = _logits(load(str(extended), adapter_path=str(out))[0], ids)
    np.testing.assert_allclose(got, _logits(expected_model, ids), atol=1e-4, rtol=1e-4)
    fewer = tmp_path / "fewer"
    shutil.copytree(no_rows, fewer)
    tensors = mx.load(str(fewer / "adapters.safetensors"))
    mx.save_safetensors(
        str(fewer / "adapters.safetensors"), {k: v for k, v in tensors.items() if "mlp.up_proj" not in k}
    )
    with pytest.raises(OctoError, match="other layer set: it lacks model.layers.0.mlp.up_proj"):
        combine_adapters([a, fewer], tmp_path / "out2")


def test_an_output_folder_holding_something_else_is_refused_and_kept(two_adapters, tmp_path):
    a, b = two_adapters
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OctoError, match="not empty"):
        combine_adapters([a, b], out)
    with pytest.raises(OctoError, match="something other than an adapter"):
        combine_adapters([a, b], out, overwrite=True)
    with pytest.raises(OctoError, match="one of the adapters"):
        combine_adapters([a, b], a, overwrite=True)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    first = combine_adapters([a, b], tmp_path / "ab").out
    again = combine_adapters([a, b], first, [0.2, 0.8], overwrite=True).out  # an adapter: replaced whole
    assert json.loads((again / "adapter_config.json").read_text())["combine"]["weights"] == [0.2, 0.8]


# --- the command line --------------------------------------------------------------------------------


def test_the_commands_combine_and_fuse(two_adapters, extended, tmp_path):
    from tests.helpers.cli import run_octo

    a, b = two_adapters
    res = run_octo(
        "adapters", "combine", a, b, "--weights", "0.6", "0.4", "--method", "linear", "--rank", "3", "--out",
        tmp_path / "ab",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "combined 2 adapters" in res.stdout and (tmp_path / "ab" / "adapters.safetensors").is_file()
    res = run_octo("adapters", "fuse", tmp_path / "ab", "--model", extended, "--out", tmp_path / "fused")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "fused" / "config.json").is_file() and "fused" in res.stdout


@pytest.mark.parametrize(
    "args, named",
    [
        (["--weights", "0.5", "0.3", "0.2"], "--weights"),
        (["--weights", "nan", "1"], "--weights"),
        (["--method", "ties", "--density", "1.5"], "--density"),
        (["--method", "ties", "--weights", "1", "-1", "--density", "0.5"], "--weights"),
    ],
)
def test_bad_flags_are_one_line_exit_2_and_nothing_written(two_adapters, tmp_path, args, named):
    from tests.helpers.cli import run_octo

    a, b = two_adapters
    res = run_octo("adapters", "combine", a, b, *args, "--out", tmp_path / "out")
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and named in lines[0], res.stderr
    assert not (tmp_path / "out").exists()


def test_a_damaged_source_is_one_line_naming_the_file(two_adapters, tmp_path):
    from tests.helpers.cli import run_octo

    a, b = two_adapters
    broken = tmp_path / "broken"
    shutil.copytree(b, broken)
    weights = broken / "adapters.safetensors"
    weights.write_bytes(weights.read_bytes()[:-64])
    res = run_octo("adapters", "combine", a, broken, "--out", tmp_path / "out")
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and str(weights) in lines[0], res.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("method, options", [("linear", {"rank": 3}), ("ties", {"density": 0.5})])
def test_a_source_holding_nan_is_refused_naming_the_file(two_adapters, tmp_path, method, options):
    """A diverged adapter: not a LAPACK traceback (the SVD of --rank) nor a result that silently
    drops the NaN (a trim), but one line naming the file; nothing written."""
    a, b = two_adapters
    broken = tmp_path / "nan"
    shutil.copytree(b, broken)
    tensors = mx.load(str(broken / "adapters.safetensors"))
    key = next(k for k in sorted(tensors) if k.endswith("lora_b") and "layers.1" in k)
    tensors[key] = tensors[key].at[0, 0].add(float("nan"))
    mx.save_safetensors(str(broken / "adapters.safetensors"), tensors, metadata={"format": "mlx"})
    with pytest.raises(OctoError, match="not finite") as e:
        combine_adapters([a, broken], tmp_path / "out", method=method, **options)
    assert str(broken / "adapters.safetensors") in str(e.value) and key in str(e.value)
    assert not (tmp_path / "out").exists()


# --- pack: an adapter in float16, to ship ---------------------------------------------------------


def test_pack_halves_the_weights_and_loads_as_the_float32_adapter_does(two_adapters, extended, tmp_path):
    from tests.helpers.cli import run_octo

    source = two_adapters[1]
    out = tmp_path / "packed"
    res = run_octo("adapters", "pack", str(source), "--out", str(out))
    assert res.returncode == 0, res.stderr
    packed = mx.load(str(out / "adapters.safetensors"))
    assert {str(v.dtype) for v in packed.values()} == {"mlx.core.float16"}
    size_in = (source / "adapters.safetensors").stat().st_size
    assert (out / "adapters.safetensors").stat().st_size < 0.55 * size_in
    cfg = json.loads((out / "adapter_config.json").read_text())
    assert cfg["packed"]["dtype"] == "float16" and cfg["packed"]["from_sha256"] == weights_sha256(source)
    assert 0 < cfg["packed"]["max_abs_change"] < 1e-2
    # plain mlx-lm on the extended base: the packed adapter gives the float32 adapter's logits,
    # to float16's precision
    full, tok = load(str(extended), adapter_path=str(source))
    half, _ = load(str(extended), adapter_path=str(out))
    ids = _ids(tok)
    a, b = _logits(full, ids), _logits(half, ids)
    assert np.abs(a - b).max() < 1e-2 * max(1.0, np.abs(a).max())
    assert not np.array_equal(a, b)  # it really is another set of weights


def test_pack_refuses_an_unknown_dtype_and_its_own_input_as_out(two_adapters):
    from tests.helpers.cli import run_octo

    res = run_octo("adapters", "pack", str(two_adapters[0]), "--dtype", "int8", "--out", "/tmp/x-never")
    assert res.returncode != 0 and "--dtype" in res.stderr and "Traceback" not in res.stderr
    res = run_octo("adapters", "pack", str(two_adapters[0]), "--out", str(two_adapters[0]), "--overwrite")
    assert res.returncode != 0 and "Traceback" not in res.stderr


def test_pack_refuses_a_weight_beyond_float16_instead_of_writing_inf(two_adapters, tmp_path):
    from octo_mlx.adapters.pack import pack_adapter

    big = tmp_path / "big"
    shutil.copytree(two_adapters[0], big)
    weights = mx.load(str(big / "adapters.safetensors"))
    name = sorted(weights)[0]
    weights[name] = weights[name] * 0 + 1e6  # > 65504, float16's largest
    mx.save_safetensors(str(big / "adapters.safetensors"), weights, metadata={"format": "mlx"})
    with pytest.raises(OctoError, match=f"{name} does not fit in float16"):
        pack_adapter(big, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_how_the_sources_are_asked_carries_over_only_when_they_all_agree(two_adapters, extended, tmp_path):
    """A combination of planners taught 24-hour times (or action models taught ISO dates) is
    asked the same way; one source taught otherwise and the result records neither."""
    from octo_mlx.planner import clock_of
    from octo_mlx.syntax import CLOCK

    a, b = two_adapters
    x, y = _edit(a, tmp_path / "x", queries=CLOCK), _edit(b, tmp_path / "y", queries=CLOCK)
    assert clock_of(combine_adapters([x, y], tmp_path / "xy").out)
    assert not clock_of(combine_adapters([x, b], tmp_path / "xb").out)
    assert clock_of(fuse_model(x, tmp_path / "fused", model=extended).out)  # a fused planner too
