"""Combining LoRA adapters: pure functions over their update matrices (as PEFT's ``merge_utils``).

Every method works on the update of each module, ``U = scale * A @ B`` in mlx-lm's layout (a
LoRA linear adds ``scale * (x @ A) @ B``, an embedding adds ``scale * A @ B`` to its table), never
on A and B apart: PEFT's ``linear``, ``ties`` and ``dare_*`` weight A and B by sqrt(w) each, so
the product carries cross terms A_i B_j and is not the weighted sum of updates (relative error
0.85 for two random rank-4 adapters, ../shared/brief/anchors.md).

Methods, for weights w_i and density d (float32 maths whatever the stored dtype):

- ``linear``: sum_i w_i U_i. Without ``rank`` it is stored exactly as one LoRA of the stacked
  rank sum_i r_i (PEFT's ``cat``: A = [A_1 ... A_n], B = [w_1 s_1 B_1; ...]); with ``rank`` as its
  truncated SVD, taken from the factors (QR of the stacked factors, SVD of a small core), never
  from a dense matrix; full rank equals the sum to float tolerance.
- ``magnitude_prune``: each U_i keeps its largest fraction d of entries; then sum_i w_i trim(U_i).
- ``ties``: trimmed as above, weighted, one sign elected per entry (the sign of the sum), the
  agreeing entries averaged (TIES).
- ``dare_linear``: each entry of U_i kept with probability d and rescaled by 1/d; then the sum.
- ``dare_ties``: DARE's drop and rescale, then TIES's election and mean.
- ``knots`` / ``knots_dare``: KnOTS. The updates, stacked along the input side, share one SVD
  basis of the output side, [U_1; ...; U_n] = [P_1; ...; P_n] S V^T; TIES (``knots``) or DARE-TIES
  (``knots_dare``) merge the coordinates C_i = P_i S, and C V^T is stored exactly (rank <= sum r_i).

The dense methods (``magnitude_prune``, ``ties``, ``dare_*``) give a full-rank matrix: it is
stored as its truncated SVD to ``rank`` (default sum_i r_i, the budget of ``cat``) and the
energy kept (share of the squared norm) is reported per module.

Conventions that keep the methods exact where they can be:

- A source with weight 0 takes no part (no vote in TIES, no share in the KnOTS basis), so
  weights [1, 0] reproduce adapter A exactly for every method at density 1.
- Density counts the entries the sources touch (rows and columns where any update is nonzero):
  the trained rows of added tokens are a few rows of a 49k-row embedding, and trimming them
  against the untouched zeros would keep them whatever the density. Entries outside stay 0.
- DARE's draws are seeded by (seed, the source's name, the module), so a source draws the same
  mask wherever it stands in the list: combining is independent of argument order.
- rsLoRA and any other scaling rule are exact: the update uses the ``scale`` the forward pass
  uses, never alpha/rank recomputed.
- DoRA is refused (a ``.m`` tensor): a DoRA layer computes m * (W + sAB) / ||W + sAB||, whose
  change depends on the base weights and is not low rank; fuse it instead (adapters.fuse).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import mlx.core as mx

from octo_mlx.errors import OctoError

METHODS = ("linear", "magnitude_prune", "ties", "dare_linear", "dare_ties", "knots", "knots_dare")
TRIMMING = METHODS[1:]  # take --density
RANDOM = ("dare_linear", "dare_ties", "knots_dare")  # draw at random: take --seed
SIGN_ELECTING = ("ties", "dare_ties", "knots", "knots_dare")  # a negative weight would vote reversed
EXACT_SVD_TOL = 1e-6  # singular values below this share of the largest are dropped from the KnOTS basis

Factors = tuple[mx.array, mx.array]


@dataclass(frozen=True)
class LoraUpdate:
    """One adapter: its LoRA factors by module; the update of module k is ``scale * A @ B``.

    Args:
        factors: module key (``model.layers.0.self_attn.q_proj``) -> (A, B).
        scale: the scale the forward pass uses (mlx-lm's ``lora_parameters.scale``).
        name: seeds DARE's draws (the file's sha256), so order does not matter.
    """

    factors: dict[str, Factors]
    scale: float
    name: str = ""


@dataclass(frozen=True)
class Combined:
    """A combined adapter: factors of scale 1 by module (ranks may differ), and per module the
    share of the method's result the stored factors keep (1.0: exact)."""

    factors: dict[str, Factors]
    energy: dict[str, float]

    @property
    def rank(self) -> int:
        """The largest rank of a module (the rank of the adapter file: mlx-lm has one)."""
        return max([1, *(int(a.shape[1]) for a, _ in self.factors.values())])


# --- options -----------------------------------------------------------------------------------


def check_options(
    method: str,
    weights: list[float],
    n_adapters: int,
    rank: int | None = None,
    density: float | None = None,
    seed: int | None = None,
) -> None:
    """Refuse options that do not fit the method, before any maths: one OctoError naming the flag.

    Args:
        method: one of METHODS.
        weights: one per adapter.
        n_adapters: how many adapters are combined.
        rank: the stored rank (None: exact where the method allows it).
        density: the share of entries kept (methods in TRIMMING need it, in (0, 1]).
        seed: DARE's seed (methods in RANDOM; default 0).
    """
    if method not in METHODS:
        raise OctoError(f"unknown method {method!r}; one of {', '.join(METHODS)}", "--method")
    if n_adapters < 2:
        raise OctoError(f"combine needs at least 2 adapters, got {n_adapters}", "ADAPTERS")
    if len(weights) != n_adapters:
        raise OctoError(
            f"{len(weights)} weight(s) for {n_adapters} adapters: give one per adapter", "--weights"
        )
    for w in weights:
        if not math.isfinite(w):
            raise OctoError(f"every weight must be a finite number, got {w}", "--weights")
        if w < 0 and method in SIGN_ELECTING:
            raise OctoError(
                f"{method} elects one sign per entry and refuses a negative weight ({w}); "
                "use linear, dare_linear or magnitude_prune to subtract an adapter",
                "--weights",
            )
    if all(w == 0 for w in weights):
        raise OctoError("every weight is 0: the result would change nothing", "--weights")
    if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 1):
        raise OctoError(f"must be a positive integer, got {rank}", "--rank")
    if method in TRIMMING:
        if density is None:
            raise OctoError(f"{method} needs the share of entries to keep, e.g. --density 0.5", "--density")
        if not (math.isfinite(density) and 0 < density <= 1):
            raise OctoError(f"must be in (0, 1], got {density}", "--density")
    elif density is not None:
        raise OctoError(f"{method} keeps every entry; only {', '.join(TRIMMING)} take a density", "--density")
    if seed is not None:
        if method not in RANDOM:
            raise OctoError(
                f"{method} draws nothing at random; only {', '.join(RANDOM)} take a seed", "--seed"
            )
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise OctoError(f"must be an integer >= 0, got {seed}", "--seed")


def check_module_weights(
    module_weights: dict[str, list[float]] | None, method: str, n_adapters: int
) -> dict[str, list[float]]:
    """Per-module weights (see :func:`combine_updates`), checked: ``linear`` only, one finite
    weight per adapter for every module."""
    if not module_weights:
        return {}
    if method != "linear":
        raise OctoError(f"per-module weights are a weighted sum: method linear, not {method}", "--method")
    for key, ws in module_weights.items():
        if len(ws) != n_adapters or not all(math.isfinite(float(w)) for w in ws):
            raise OctoError(f"{key}: give {n_adapters} finite weights, got {list(ws)}", "module_weights")
    return {k: [float(w) for w in ws] for k, ws in module_weights.items()}


# --- adapters as factors -----------------------------------------------------------------------


def split_factors(tensors: dict[str, mx.array], where: str = "adapters.safetensors") -> dict[str, Factors]:
    """An adapter file's tensors (``KEY.lora_a``, ``KEY.lora_b``) as module key -> (A, B).

    Raises:
        OctoError: a DoRA magnitude (``KEY.m``), a tensor that is no LoRA factor, a factor
            holding NaN or inf, a factor without its pair, or factors whose ranks disagree.
    """
    a_of: dict[str, mx.array] = {}
    b_of: dict[str, mx.array] = {}
    for name, value in tensors.items():
        key, _, leaf = name.rpartition(".")
        if leaf == "m":
            raise OctoError(
                f"{name} is a DoRA magnitude: DoRA adapters cannot be combined exactly (their change "
                "m*(W+sAB)/||W+sAB|| - W depends on the base and is not low rank); fuse them instead",
                where,
            )
        if leaf not in ("lora_a", "lora_b") or value.ndim != 2:
            raise OctoError(f"{name} is not a LoRA factor of a linear layer or embedding", where)
        if not mx.isfinite(value).all().item():  # a NaN would fail the SVD, or vanish in a trim
            raise OctoError(
                f"{name} holds values that are not finite (NaN or inf): a diverged adapter", where
            )
        (a_of if leaf == "lora_a" else b_of)[key] = value
    for key in sorted(set(a_of) ^ set(b_of)):
        raise OctoError(f"{key} has {'lora_a' if key in a_of else 'lora_b'} without its pair", where)
    for key in a_of:
        if a_of[key].shape[1] != b_of[key].shape[0]:
            raise OctoError(
                f"{key}: lora_a {tuple(a_of[key].shape)} and lora_b {tuple(b_of[key].shape)} disagree", where
            )
    return {k: (a_of[k], b_of[k]) for k in sorted(a_of)}


def update_matrix(a: mx.array, b: mx.array, scale: float) -> mx.array:
    """``scale * A @ B`` in float32: the update a module adds (x @ U for a linear layer)."""
    return scale * (a.astype(mx.float32) @ b.astype(mx.float32))


# --- the combination -----------------------------------------------------------------------------


def combine_updates(
    updates: list[LoraUpdate],
    weights: list[float],
    method: str = "linear",
    rank: int | None = None,
    density: float | None = None,
    seed: int | None = None,
    module_weights: dict[str, list[float]] | None = None,
) -> Combined:
    """Combine LoRA updates module by module (see the module docstring for the methods).

    A module one source lacks is a zero update there (an adapter that trained no added-token rows
    has no ``model.embed_tokens`` factors); callers check that the block layers agree.

    Args:
        updates: the adapters.
        weights: one per adapter.
        method: one of METHODS.
        rank: the stored rank; None = exact for linear (``cat``) and the KnOTS methods, the
            stacked rank sum_i r_i for the dense ones.
        density: the share of entries kept (TRIMMING methods).
        seed: DARE's seed (RANDOM methods; default 0).
        module_weights: ``linear`` only: module key -> one weight per adapter, for that module
            instead of ``weights`` (learned per-layer weights, LoRA Soups); a source whose
            ``weights`` entry is 0 stays out everywhere.

    Returns:
        the combined factors (scale 1) and the energy kept per module.
    """
    check_options(method, weights, len(updates), rank, density, seed)
    module_weights = check_module_weights(module_weights, method, len(updates))
    live = [(i, u) for i, (u, w) in enumerate(zip(updates, weights)) if w != 0]
    keys = sorted({k for _, u in live for k in u.factors})
    factors: dict[str, Factors] = {}
    energy: dict[str, float] = {}
    for key in keys:
        ws = module_weights.get(key, weights)
        pairs = [(scaled_factors(u, key), float(ws[i]), u.name) for i, u in live if key in u.factors]
        a, b, kept = _combine_module(key, pairs, method, rank, density, 0 if seed is None else seed)
        mx.eval(a, b)
        factors[key], energy[key] = (a, b), kept
    return Combined(factors, energy)


def scaled_factors(u: LoraUpdate, key: str) -> Factors:
    """(A, s*B) in float32 with the zero padding of the rank dropped (columns of A or rows of B
    that are all zero add nothing: adapters with trained rows pad their factors to one rank)."""
    a, b = u.factors[key]
    a, b = a.astype(mx.float32), b.astype(mx.float32) * u.scale
    used = mx.logical_and(mx.any(a != 0, axis=0), mx.any(b != 0, axis=1))
    n_used = int(used.sum().item())
    if n_used == a.shape[1]:
        return a, b
    idx = mx.array([i for i, u_ in enumerate(used.tolist()) if u_], dtype=mx.int32)
    if n_used == 0:
        return mx.zeros((a.shape[0], 0)), mx.zeros((0, b.shape[1]))
    return a[:, idx], b[idx]


def _combine_module(key, pairs, method, rank, density, seed) -> tuple[mx.array, mx.array, float]:
    """One module: ``pairs`` of ((A, s*B), weight, source name) -> (A, B, energy kept)."""
    p, q = int(pairs[0][0][0].shape[0]), int(pairs[0][0][1].shape[1])
    pairs = [pair for pair in pairs if pair[0][0].shape[1]]  # rank 0: an all-zero update
    if not pairs:
        return mx.zeros((p, 0)), mx.zeros((0, q)), 1.0
    if method == "linear" and rank is None:  # cat: nothing to slice
        a = mx.concatenate([ab[0] for ab, _, _ in pairs], axis=1)
        return a, mx.concatenate([w * ab[1] for ab, w, _ in pairs], axis=0), 1.0
    # The maths run on the rows and columns the sources touch: the few trained rows of a
    # 49k-row embedding, not a 49k x 256 QR (outside, every method leaves zeros).
    rows, cols = _support(pairs, p, q)
    if not rows or not cols:
        return mx.zeros((p, 0)), mx.zeros((0, q)), 1.0
    sub = [((_take(ab[0], rows, 0), _take(ab[1], cols, 1)), w, name) for ab, w, name in pairs]
    keys = [_draw_key(seed, name, key) for _, _, name in sub]
    ws = [w for _, w, _ in sub]
    if method == "linear":
        a = mx.concatenate([ab[0] for ab, _, _ in sub], axis=1)
        b = mx.concatenate([w * ab[1] for ab, w, _ in sub], axis=0)
        a, b, kept = _truncate(a, b, rank)
    elif method in ("knots", "knots_dare"):
        coords, vt = _shared_basis([ab for ab, _, _ in sub])
        merge = ties if method == "knots" else dare_ties
        a, b = merge(coords, ws, density, keys), vt
        a, b, kept = _truncate(a, b, rank) if rank is not None else (a, b, 1.0)
    else:
        dense = [ab[0] @ ab[1] for ab, _, _ in sub]
        merged = MERGES[method](dense, ws, density, keys)
        budget = rank if rank is not None else sum(int(ab[0].shape[1]) for ab, _, _ in sub)
        a, b, kept = _truncate_dense(merged, budget)
    return _scatter(a, rows, p, 0), _scatter(b, cols, q, 1), kept


def _support(pairs, p: int, q: int) -> tuple[list[int], list[int]]:
    """Rows of the update any source touches (a nonzero row of A) and columns (of B)."""
    row_hit = mx.zeros((p,), dtype=mx.bool_)
    col_hit = mx.zeros((q,), dtype=mx.bool_)
    for (a, b), _, _ in pairs:
        row_hit = mx.logical_or(row_hit, mx.any(a != 0, axis=1))
        col_hit = mx.logical_or(col_hit, mx.any(b != 0, axis=0))
    rows = [i for i, hit in enumerate(row_hit.tolist()) if hit]
    cols = [j for j, hit in enumerate(col_hit.tolist()) if hit]
    return rows, cols


def _take(x: mx.array, index: list[int], axis: int) -> mx.array:
    if len(index) == x.shape[axis]:
        return x
    return mx.take(x, mx.array(index, dtype=mx.int32), axis=axis)


def _scatter(x: mx.array, index: list[int], size: int, axis: int) -> mx.array:
    """``x`` placed at ``index`` along ``axis`` of a zero array of length ``size`` there."""
    if len(index) == size:
        return x
    if axis == 0:
        out = mx.zeros((size, x.shape[1]), x.dtype)
        out[mx.array(index, dtype=mx.int32)] = x
        return out
    out = mx.zeros((x.shape[0], size), x.dtype)
    out[:, mx.array(index, dtype=mx.int32)] = x
    return out


def _draw_key(seed: int, name: str, module: str) -> mx.array:
    """A PRNG key of its own for (seed, source, module): the same draws in any argument order."""
    digest = hashlib.sha256(f"{seed}\0{name}\0{module}".encode()).digest()
    return mx.random.key(int.from_bytes(digest[:8], "little") >> 1)


# --- SVD from factors ----------------------------------------------------------------------------


def _qr(x: mx.array) -> Factors:
    return mx.linalg.qr(x, stream=mx.cpu)  # LAPACK runs on the CPU stream only


def _thin_svd(m: mx.array) -> tuple[mx.array, mx.array, mx.array]:
    """U (p x k), S (k), V^T (k x q) with k = min(p, q): a QR first, so that MLX's full SVD
    only ever sees a k x k matrix (a 49k-row embedding would give a 49k x 49k U)."""
    p, q = m.shape
    if p >= q:
        qm, r = _qr(m)
        u, s, vt = mx.linalg.svd(r, stream=mx.cpu)
        return qm @ u, s, vt
    qm, r = _qr(m.T)  # m = r^T qm^T
    u, s, vt = mx.linalg.svd(r.T, stream=mx.cpu)
    return u, s, vt @ qm.T


def svd_of_product(a: mx.array, b: mx.array) -> tuple[mx.array, mx.array, mx.array]:
    """The thin SVD of ``a @ b`` (p x r times r x q) without forming it: QR of both factors and
    an SVD of their r x r core, O((p + q) r^2)."""
    qa, ra = _qr(a)
    qb, rb = _qr(b.T)
    u, s, vt = _thin_svd(ra @ rb.T)
    return qa @ u, s, vt @ qb.T


def _split_sv(u, s, vt, rank: int) -> tuple[mx.array, mx.array, float]:
    """Balanced factors of the leading ``rank`` singular triplets and the energy they keep."""
    k = min(rank, int(s.shape[0]))
    total = float((s * s).sum().item())
    kept = float((s[:k] * s[:k]).sum().item()) / total if total > 0 else 1.0
    root = mx.sqrt(s[:k])
    return u[:, :k] * root, root[:, None] * vt[:k], kept


def _truncate(a: mx.array, b: mx.array, rank: int) -> tuple[mx.array, mx.array, float]:
    if a.shape[1] == 0:
        return a, b, 1.0
    return _split_sv(*svd_of_product(a, b), rank)


def _truncate_dense(m: mx.array, rank: int) -> tuple[mx.array, mx.array, float]:
    return _split_sv(*_thin_svd(m), rank)


def _shared_basis(factors: list[Factors]) -> tuple[list[mx.array], mx.array]:
    """KnOTS' alignment: [U_1; ...; U_n] = [P_1; ...; P_n] S V^T (U_i = A_i B_i, stacked along the
    input side); returns the coordinates C_i = P_i S (p x k) and V^T (k x q), from the factors:
    a QR of each A_i and one SVD of the stacked (R_i B_i)."""
    qs, cores = [], []
    for a, b in factors:
        qa, ra = _qr(a)
        qs.append(qa)
        cores.append(ra @ b)
    u, s, vt = _thin_svd(mx.concatenate(cores, axis=0))
    smax = float(s.max().item()) if s.size else 0.0
    k = sum(1 for v in s.tolist() if v > smax * EXACT_SVD_TOL)
    coords, start = [], 0
    for qa in qs:
        width = int(qa.shape[1])
        coords.append(qa @ (u[start : start + width, :k] * s[:k]))
        start += width
    return coords, vt[:k]


# --- the merges (PEFT merge_utils, on whole update matrices) -------------------------------------


def trim_magnitude(t: mx.array, density: float) -> mx.array:
    """``t`` with all but its ceil(density * size) largest-magnitude entries set to 0."""
    if density >= 1:
        return t
    flat = mx.abs(t).reshape(-1)
    k = max(1, math.ceil(density * flat.size))
    threshold = mx.partition(flat, flat.size - k)[flat.size - k]
    return mx.where(mx.abs(t) >= threshold, t, 0.0)


def drop_and_rescale(t: mx.array, density: float, key: mx.array) -> mx.array:
    """DARE: each entry kept with probability ``density`` and divided by it (the mean is kept)."""
    if density >= 1:
        return t
    keep = mx.random.bernoulli(density, t.shape, key=key)
    return mx.where(keep, t / density, 0.0)


def disjoint_mean(weighted: list[mx.array]) -> mx.array:
    """TIES's election: the sign of the sum per entry, then the mean of the entries of that sign
    (zeros, and so sources of weight 0, neither vote nor count)."""
    stack = mx.stack(weighted)
    majority = mx.where(stack.sum(axis=0) >= 0, 1.0, -1.0)
    agree = mx.sign(stack) == majority
    total = mx.where(agree, stack, 0.0).sum(axis=0)
    return total / mx.maximum(agree.sum(axis=0), 1).astype(mx.float32)


def magnitude_prune(tensors, weights, density, keys=None) -> mx.array:
    return sum(w * trim_magnitude(t, density) for t, w in zip(tensors, weights))


def ties(tensors, weights, density, keys=None) -> mx.array:
    return disjoint_mean([w * trim_magnitude(t, density) for t, w in zip(tensors, weights)])


def dare_linear(tensors, weights, density, keys) -> mx.array:
    return sum(w * drop_and_rescale(t, density, k) for t, w, k in zip(tensors, weights, keys))


def dare_ties(tensors, weights, density, keys) -> mx.array:
    return disjoint_mean([w * drop_and_rescale(t, density, k) for t, w, k in zip(tensors, weights, keys)])


MERGES = {
    "magnitude_prune": magnitude_prune,
    "ties": ties,
    "dare_linear": dare_linear,
    "dare_ties": dare_ties,
}
