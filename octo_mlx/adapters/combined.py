"""`octo-mlx adapters combine`: several adapter folders into ONE mlx-lm adapter folder.

Everything is checked before any maths (:func:`read_source`, :func:`check_sources`): each folder
is a LoRA adapter (DoRA and full fine-tunes are refused, see adapters.combine), all were trained
on the same base (``base_fingerprint``) with the same added-token table, their block layers are
the same modules of the same shapes, and their vocabularies agree:

- planner and action adapters are never combined (they answer different prompts);
- action adapters combine when every slot they share stands for the same function and no
  function sits in two slots: the result records the union of their slot maps and domains;
- the rows of added tokens travel as LoRA factors of ``model.embed_tokens`` (and ``lm_head``):
  they are combined by the same weights as every other module, exactly; an adapter that trained
  no rows adds nothing there (a zero update), so an entry trained by one source only keeps
  w_i times its change.

The maths are adapters.combine (pure); the result is written atomically (staged beside ``out``,
then swapped in) with a ``combine`` record: the method, weights, density, seed, the sources with
the sha256 of their weights, and the energy each module keeps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from octo_mlx.adapters.combine import (
    RANDOM,
    Combined,
    LoraUpdate,
    check_module_weights,
    check_options,
    combine_updates,
    split_factors,
)
from octo_mlx.adapters.folder import check_out, is_adapter_folder, read_adapter_config, save_adapter
from octo_mlx.adapters.rows import pad_rank
from octo_mlx.errors import OctoError
from octo_mlx.files import sha256_file

ROW_KEYS = ("model.embed_tokens", "lm_head")  # the trained rows of added tokens (adapters.rows)


@dataclass(frozen=True)
class Source:
    """One adapter folder, read and checked: its config, the sha256 of its weights, its factors."""

    path: Path
    config: dict
    sha256: str
    update: LoraUpdate
    dtype: object

    @property
    def where(self) -> Path:
        return self.path / "adapter_config.json"


@dataclass(frozen=True)
class CombineResult:
    """What `adapters combine` wrote."""

    out: Path
    method: str
    weights: list[float]
    rank: int  # the adapter file's rank
    energy: dict[str, float]  # per module: the share of the method's result the file keeps
    sources: list[Path]
    seconds: float


def read_source(path: str | Path) -> Source:
    """An adapter folder as a combine source.

    Raises:
        OctoError: not an adapter folder, a damaged one, a DoRA or full fine-tune, or tensors
            that are not LoRA factors (naming the file).
    """
    import mlx.core as mx

    path = Path(path)
    cfg = read_adapter_config(path)
    kind = cfg.get("fine_tune_type", "lora")
    if kind == "dora":
        raise OctoError(
            "a DoRA adapter cannot be combined exactly (its change m*(W+sAB)/||W+sAB|| - W depends "
            "on the base and is not low rank); fuse it with `octo-mlx adapters fuse` instead",
            path / "adapter_config.json",
        )
    if kind != "lora":
        raise OctoError(
            f"fine_tune_type {kind!r}: only LoRA adapters can be combined", path / "adapter_config.json"
        )
    weights_file = path / "adapters.safetensors"
    tensors = mx.load(str(weights_file))
    factors = split_factors(tensors, str(weights_file))
    if not factors:
        raise OctoError("holds no LoRA factors", weights_file)
    sha = sha256_file(weights_file)
    scale = float(cfg["lora_parameters"].get("scale", 20.0))  # mlx-lm's default when absent
    return Source(
        path, cfg, sha, LoraUpdate(factors, scale, sha), _widest({v.dtype for v in tensors.values()})
    )


def check_sources(sources: list[Source]) -> None:
    """Refuse sources that cannot be combined into one meaningful adapter (one line, naming the
    file): other bases, other tables, other layers or shapes, planner with action, slot maps that
    disagree."""
    first = sources[0]
    for s in sources[1:]:
        _same_field(first, s, "base_fingerprint", "trained on another base")
        _same_table(first, s)
        if s.config.get("num_layers", 16) != first.config.get("num_layers", 16):
            raise OctoError(
                f"num_layers {s.config.get('num_layers')} but {first.path} has "
                f"{first.config.get('num_layers')}: other layer sets cannot be combined",
                s.where,
            )
        _same_modules(first, s)
        task, theirs = s.config.get("task") or "planner", first.config.get("task") or "planner"
        if task != theirs:
            raise OctoError(
                f"task {task!r} cannot be combined with {first.path} (task {theirs!r}): planner and "
                "action adapters answer different prompts",
                s.where,
            )
    if first.config.get("task") == "action":
        union_slots(sources)


def _same_field(first: Source, s: Source, field: str, meaning: str) -> None:
    a, b = first.config.get(field), s.config.get(field)
    if a != b:
        shown = lambda v: f"{str(v)[:12]}..." if v else "none"  # noqa: E731
        raise OctoError(f"{meaning}: {field} {shown(b)}, but {first.path} has {shown(a)}", s.where)


def _same_table(first: Source, s: Source) -> None:
    a, b = first.config.get("table") or {}, s.config.get("table") or {}
    if a.get("hash") != b.get("hash"):
        raise OctoError(
            f"added-token table v{b.get('version', '-')} ({str(b.get('hash', 'none'))[:12]}), "
            f"but {first.path} has v{a.get('version', '-')} ({str(a.get('hash', 'none'))[:12]}): "
            "adapters of different tables cannot be combined",
            s.where,
        )


def _same_modules(first: Source, s: Source) -> None:
    """The same block modules (rows of added tokens may be absent: no rows trained), same shapes."""
    mine, theirs = first.update.factors, s.update.factors
    blocks = lambda f: {k for k in f if k not in ROW_KEYS}  # noqa: E731
    missing = sorted(blocks(mine) - blocks(theirs))
    extra = sorted(blocks(theirs) - blocks(mine))
    if missing or extra:
        key, has = (missing[0], "lacks") if missing else (extra[0], "has")
        raise OctoError(
            f"other layer set: it {has} {key} ({len(missing)} missing, {len(extra)} extra vs {first.path})",
            s.path / "adapters.safetensors",
        )
    for key in set(mine) & set(theirs):
        (a1, b1), (a2, b2) = mine[key], theirs[key]
        if (a1.shape[0], b1.shape[1]) != (a2.shape[0], b2.shape[1]):
            raise OctoError(
                f"{key} updates a {a2.shape[0]}x{b2.shape[1]} matrix, {first.path} a "
                f"{a1.shape[0]}x{b1.shape[1]}: not the same base",
                s.path / "adapters.safetensors",
            )


def union_slots(sources: list[Source]) -> dict[str, str]:
    """The slot map of combined action adapters: slot -> function over all sources.

    Raises:
        OctoError: a slot that stands for two functions, or a function in two slots.
    """
    slots: dict[str, str] = {}
    owner: dict[str, Path] = {}
    for s in sources:
        for slot, name in (s.config.get("slots") or {}).items():
            if slot in slots and slots[slot] != name:
                raise OctoError(
                    f"slot <nexa_{slot}> stands for {name}, but for {slots[slot]} in {owner[slot]}: "
                    "action adapters with conflicting slot maps cannot be combined",
                    s.where,
                )
            slots[slot], owner[slot] = name, s.path
    by_name: dict[str, str] = {}
    for slot, name in slots.items():
        if name in by_name:
            raise OctoError(
                f"function {name} sits in slots <nexa_{by_name[name]}> and <nexa_{slot}> across the "
                "adapters: their slot maps cannot be combined",
                sources[-1].where,
            )
        by_name[name] = slot
    return dict(sorted(slots.items(), key=lambda kv: int(kv[0])))


def combine_adapters(
    adapters: list[str | Path],
    out: str | Path,
    weights: list[float] | None = None,
    method: str = "linear",
    rank: int | None = None,
    density: float | None = None,
    seed: int | None = None,
    overwrite: bool = False,
    module_weights: dict[str, list[float]] | None = None,
) -> CombineResult:
    """Combine adapter folders into one adapter folder that ``mlx_lm.load(base, adapter_path=out)`` uses.

    Args:
        adapters: two or more adapter folders (mlx-lm format, LoRA).
        out: the folder to write (new or empty; ``overwrite`` replaces an adapter folder).
        weights: one per adapter (default: 1/n each).
        method: one of adapters.combine.METHODS.
        rank: the stored rank (None: exact for linear and KnOTS, sum of ranks for the dense methods).
        density: the share of entries kept (methods that trim).
        seed: DARE's seed (methods that draw).
        overwrite: replace an existing adapter folder at ``out``.
        module_weights: ``linear`` only: per module key, one weight per adapter instead of
            ``weights`` there (learned per-layer weights; recorded in the ``combine`` record).
    """
    start = time.perf_counter()
    paths = [Path(a) for a in adapters]
    weights = [1.0 / len(paths)] * len(paths) if weights is None else [float(w) for w in weights]
    check_options(method, weights, len(paths), rank, density, seed)
    check_module_weights(module_weights, method, len(paths))
    out = check_out(
        out, overwrite, "an adapter folder", is_adapter_folder, paths, "one of the adapters being combined"
    )
    sources = [read_source(p) for p in paths]
    check_sources(sources)
    combined = combine_updates(
        [s.update for s in sources], weights, method, rank, density, seed, module_weights
    )
    tensors = _adapter_tensors(combined, _widest({s.dtype for s in sources}))
    config = combined_config(sources, weights, method, rank, density, seed, combined)
    if module_weights:
        config["combine"]["module_weights"] = {
            k: [round(float(w), 6) for w in ws] for k, ws in sorted(module_weights.items())
        }
    save_adapter(out, tensors, config)
    return CombineResult(
        out, method, weights, combined.rank, combined.energy, paths, time.perf_counter() - start
    )


def _adapter_tensors(combined: Combined, dtype) -> dict:
    """The combined factors as an adapter file's tensors, every module zero-padded to the file's
    rank (mlx-lm has one rank per adapter; zero columns of A and rows of B add nothing)."""
    tensors = {}
    for key, (a, b) in combined.factors.items():
        tensors[f"{key}.lora_a"], tensors[f"{key}.lora_b"] = a.astype(dtype), b.astype(dtype)
    return pad_rank(tensors, combined.rank)


def _widest(dtypes: set):
    """The one dtype of a set, else float32 (the maths' own)."""
    import mlx.core as mx

    return next(iter(dtypes)) if len(dtypes) == 1 else mx.float32


def combined_config(sources: list[Source], weights, method, rank, density, seed, combined) -> dict:
    """The adapter_config.json of the result: what mlx-lm reads (scale 1: the weights and the
    sources' scales are folded into the factors), what octo-mlx reads (base, table, tokens, slot
    map), and the ``combine`` record."""
    first = sources[0].config
    file_rank = combined.rank
    keys: list[str] = []
    for s in sources:
        keys += [k for k in s.config["lora_parameters"].get("keys") or [] if k not in keys]
    params = {
        "rank": file_rank,
        "scale": 1.0,
        "dropout": 0.0,
        "alpha": float(file_rank),
        "trained_rank": file_rank,
    }
    if keys:
        params["keys"] = keys
    cfg: dict = {
        "fine_tune_type": "lora",
        "num_layers": first.get("num_layers", 16),
        "lora_parameters": params,
    }
    for field in ("model", "base_fingerprint", "table"):
        if first.get(field):
            cfg[field] = first[field]
    if first.get("base_model") and not first.get("model"):
        base = sources[0].path / first["base_model"]
        cfg["base_model"] = str(base.resolve()) if base.is_dir() else first["base_model"]
    tokens = [t for s in sources for t in s.config.get("tokens") or []]
    if tokens or "tokens" in first:
        cfg["tokens"] = _table_order(tokens)
    if first.get("task") == "action":
        domains = [d for s in sources for d in s.config.get("domains") or []]
        cfg.update(task="action", slots=union_slots(sources), domains=list(dict.fromkeys(domains)))
    for field in ("queries", "dates", "languages"):  # how the sources are asked (24-hour times, ISO dates,
        # language codes): if all agree
        if first.get(field) is not None and all(s.config.get(field) == first[field] for s in sources):
            cfg[field] = first[field]
    energy = combined.energy
    cfg["combine"] = {
        "method": method,
        "weights": weights,
        "rank": rank,
        "density": density,
        "seed": (0 if seed is None else seed) if method in RANDOM else None,
        "sources": [
            {
                "path": str(s.path.resolve()),
                "adapters_sha256": s.sha256,
                "weight": w,
                "rank": s.config["lora_parameters"]["rank"],
                "scale": s.update.scale,
                "tokens": s.config.get("tokens") or [],
            }
            for s, w in zip(sources, weights)
        ],
        "energy": {
            "min": min(energy.values(), default=1.0),
            "mean": sum(energy.values()) / len(energy) if energy else 1.0,
            "modules": {k: round(v, 6) for k, v in energy.items()},
        },
    }
    return cfg


def _table_order(tokens: list[str]) -> list[str]:
    from octo_mlx.models.tokens import TABLE

    unique = list(dict.fromkeys(tokens))
    return sorted(
        unique, key=lambda t: (TABLE.tokens.index(t) if t in TABLE else len(TABLE.tokens), unique.index(t))
    )
