"""One resident base model, many adapters: switching is a few hundred attribute writes, never a reload.

The agent changes adapters at every step (the planner, then the action model, per-domain
planners per request). ``mlx_lm.server`` reloads the whole model whenever the requested adapter
changes. Here the base is loaded once (for adapters trained on the added-token table: its one
extended base, models.tokens), and each adapter's LoRA/DoRA layers are built once, with mlx-lm's
own layer classes, *around the base's own linear layers* (their weights shared, never copied).
Switching sets, for every layer any resident adapter touches, either that adapter's wrapper or
the bare base layer: ``use(name)`` costs microseconds and ``use(None)`` is the plain base.

What an adapter costs in memory is its factors only. Factors zero-padded to the file rank (an
action adapter's file rank is the number of its trained rows: models.tokens) are cut back to the
trained rank when the padding is all zeros, which is exact and keeps the unfused layers as cheap
as the LoRA that was trained.

A full fine-tune is a model of its own and is refused here. The pool is not thread-safe: a server
holds one lock around ``use`` and the generation that follows it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from octo_mlx.errors import OctoError

_FACTORS = ("lora_a", "lora_b", "m")  # LoRA factors; DoRA's magnitude


@dataclass(frozen=True)
class ResidentAdapter:
    """One adapter held by a pool.

    name: what requests call it; path: its folder; kind: "lora" or "dora"; task: the task its
    config records ("action", or "plan" when it records none); rank: the trained rank its linear
    layers run at; layers: how many layers it wraps; nbytes: its factors in memory; config: its
    adapter_config.json.
    """

    name: str
    path: Path
    kind: str
    task: str
    rank: int
    layers: int
    nbytes: int
    config: dict


class AdapterPool:
    """A base model loaded once and the adapters resident on it.

    Args:
        model, tokenizer: the loaded base (as :func:`octo_mlx.models.loading.load_model` returns).
        folder: the folder the base was loaded from (an extended base, or any model folder).
    """

    def __init__(self, model, tokenizer, folder: Path):
        from octo_mlx.models.folder import weights_sha256
        from octo_mlx.models.tokens import read_extension

        self.model = model
        self.tokenizer = tokenizer
        self.folder = Path(folder)
        marker = read_extension(self.folder)
        # what adapters record of their base: the original's weights (an extended base's source)
        self.fingerprint = marker["source_sha256"] if marker else weights_sha256(self.folder)
        self.adapters: dict[str, ResidentAdapter] = {}
        self.active: str | None = None
        self._wrapped: dict[str, dict[str, object]] = {}  # adapter -> layer key -> its wrapper
        self._base: dict[str, object] = {}  # layer key -> the base's own module
        self._slots: dict[str, tuple[object, str]] = {}  # layer key -> (parent module, attribute)

    @classmethod
    def with_adapters(
        cls, base: str | Path | None, adapters: Mapping[str, str | Path], force: bool = False
    ) -> AdapterPool:
        """The base loaded once (``base``, default: the base the first adapter names, else the
        default model) with every adapter resident under its name (`octo-mlx serve`, the agent).

        Raises:
            OctoError: an adapter that is not one of this base (:meth:`add`).
        """
        from octo_mlx.adapters.folder import adapter_base_folder, read_adapter_config

        if base is None and adapters:
            first = Path(next(iter(adapters.values())))
            base = adapter_base_folder(first, read_adapter_config(first), None, force)
        pool = cls.open(base)
        for name, folder in adapters.items():
            pool.add(name, folder, force)
        return pool

    @classmethod
    def open(cls, base: str | Path | None = None) -> AdapterPool:
        """Load a base once: the extended base (added-token table) of ``base`` or of the default model.

        ``base`` may also be an extended base written by `octo-mlx model extend`.
        """
        from octo_mlx.models.loading import load_model, resolve_model
        from octo_mlx.models.tokens import TABLE, extend_base

        model, tokenizer, loaded = load_model(extend_base(resolve_model(base), TABLE))
        return cls(model, tokenizer, loaded)

    # --- adding -------------------------------------------------------------------------------

    def add(self, name: str, adapter: str | Path, force: bool = False) -> ResidentAdapter:
        """Make an adapter folder resident under ``name`` (built once; the base is untouched).

        Raises:
            OctoError: a name already used, not an adapter folder, a full fine-tune, an adapter
                of another base (fingerprint or added-token table) or whose weights do not fit.
        """
        from octo_mlx.adapters.folder import (
            check_adapter,
            check_base_fingerprint,
            extended_base_for,
            read_adapter_config,
        )
        from octo_mlx.models.folder import read_config

        if not name or name in self.adapters:
            raise OctoError(
                f"an adapter named {name!r} is already resident" if name else "empty adapter name"
            )
        adapter = Path(adapter)
        if (adapter / "config.json").is_file() and not (adapter / "adapter_config.json").is_file():
            raise OctoError("a whole model (a full fine-tune), not an adapter a base can hold", adapter)
        cfg = read_adapter_config(adapter)
        kind = cfg.get("fine_tune_type", "lora")
        if kind == "full":
            raise OctoError("a full fine-tune is a whole model, not an adapter a base can hold", adapter)
        check_adapter(adapter, cfg, read_config(self.folder))
        if "table" in cfg:  # trained on the extended base of the original it names
            built = extended_base_for(self.folder, cfg, adapter, force)
            if built.resolve() != self.folder.resolve():
                raise OctoError(
                    f"trained on the extended base {built}; the resident base is {self.folder}", adapter
                )
        else:
            check_base_fingerprint(cfg, self.folder, adapter, force, got=self.fingerprint)
        previous = self.active
        self.use(None)
        try:
            wrapped = self._build(cfg, adapter, kind)
        finally:
            self.use(previous)
        self._wrapped[name] = wrapped
        params = cfg.get("lora_parameters") or {}
        ranks = [int(m.lora_a.shape[-1]) for k, m in wrapped.items() if k not in _ROW_KEYS]
        info = ResidentAdapter(
            name=name,
            path=adapter,
            kind=kind,
            task=str(cfg.get("task") or "plan"),
            rank=max(ranks) if ranks else int(params.get("rank", 0)),
            layers=len(wrapped),
            nbytes=sum(getattr(m, f).nbytes for m in wrapped.values() for f in _FACTORS if f in m),
            config=cfg,
        )
        self.adapters[name] = info
        return info

    def _build(self, cfg: dict, adapter: Path, kind: str) -> dict[str, object]:
        """The adapter's layers around the base's own modules, its weights in them; the base restored."""
        import mlx.core as mx
        from mlx_lm.tuner.utils import linear_to_lora_layers

        from octo_mlx.runtime.device import compute_dtype

        model = self.model
        before = dict(model.named_modules())
        params = dict(cfg["lora_parameters"])
        params.setdefault("dropout", 0.0)
        try:
            linear_to_lora_layers(model, cfg.get("num_layers", -1), params, use_dora=kind == "dora")
        except (ValueError, KeyError) as e:
            # mlx-lm wraps the blocks' layers before it converts the top-level keys: a key it
            # cannot convert fails after those; they go back, or every later add would fail too
            for key, module in list(model.named_modules()):
                if key in before and before[key] is not module:
                    self._put(key, before[key])
            raise OctoError(f"cannot build its layers: {e}", adapter) from None
        built = {k: m for k, m in model.named_modules() if "lora_a" in m and before.get(k) is not m}
        for key in built:  # the base layers back in place at once, whatever happens next
            self._remember(key, before[key])
            self._put(key, before[key])
        weights = mx.load(str(adapter / "adapters.safetensors"))
        dtype = compute_dtype()
        trained = params.get("trained_rank")
        for full, value in weights.items():
            key, _, factor = full.rpartition(".")
            layer = built.get(key)
            if layer is None or factor not in _FACTORS or factor not in layer:
                raise OctoError(f"{full}: no such layer in the model the adapter names", adapter)
            if tuple(layer[factor].shape) != tuple(value.shape):
                shapes = f"{tuple(value.shape)} vs {tuple(layer[factor].shape)}"
                raise OctoError(f"{full}: shape {shapes} in the model", adapter)
            layer[factor] = value.astype(dtype) if mx.issubdtype(value.dtype, mx.floating) else value
        for key, layer in built.items():
            layer.eval()
            if trained and key not in _ROW_KEYS:
                _cut_padding(layer, int(trained))
        mx.eval([layer.parameters() for layer in built.values()])
        return built

    # --- switching ----------------------------------------------------------------------------

    def use(self, name: str | None) -> None:
        """Put adapter ``name`` on the base (None: the bare base); the previous one comes off."""
        if name == self.active:
            return
        wrapped = self._wrappers(name)
        for key, base in self._base.items():
            self._put(key, wrapped.get(key, base))
        self.active = name

    @contextmanager
    def using(self, name: str | None) -> Iterator[None]:
        """``use(name)`` for the block, then the adapter that was on before."""
        previous = self.active
        self.use(name)
        try:
            yield
        finally:
            self.use(previous)

    def view(self, name: str | None) -> PoolView:
        """A model-like handle that puts ``name`` on before every forward pass: hand it to any
        code that takes an mlx-lm model (generation, the planner, the action model) and the
        switch happens when it runs (a no-op while ``name`` is already on)."""
        self._wrappers(name)
        return PoolView(self, name)

    def remove(self, name: str) -> None:
        """Drop a resident adapter (the base comes back first when it was on)."""
        self._wrappers(name)
        if self.active == name:
            self.use(None)
        del self._wrapped[name], self.adapters[name]

    def _wrappers(self, name: str | None) -> dict[str, object]:
        """Adapter ``name``'s layer wrappers (none for the bare base); OctoError for an unknown name."""
        if name is None:
            return {}
        if name not in self._wrapped:
            resident = ", ".join(self.adapters) or "none"
            raise OctoError(f"no resident adapter named {name!r} (resident: {resident})")
        return self._wrapped[name]

    # --- memory -------------------------------------------------------------------------------

    def base_nbytes(self) -> int:
        """The base model's parameters in memory."""
        from mlx.utils import tree_flatten

        self_active = self.active
        self.use(None)
        try:
            return sum(v.nbytes for _, v in tree_flatten(self.model.parameters()))
        finally:
            self.use(self_active)

    def nbytes(self) -> int:
        """Everything resident: the base and every adapter's factors."""
        return self.base_nbytes() + sum(a.nbytes for a in self.adapters.values())

    # --- module slots -------------------------------------------------------------------------

    def _remember(self, key: str, base) -> None:
        if key not in self._base:
            self._base[key] = base
            self._slots[key] = _parent(self.model, key)

    def _put(self, key: str, module) -> None:
        parent, attr = self._slots.get(key) or _parent(self.model, key)
        if isinstance(parent, list):
            parent[int(attr)] = module
        else:
            setattr(parent, attr, module)


class PoolView:
    """The pool's model with one adapter on (see :meth:`AdapterPool.view`); every attribute but
    the call is the model's own (its args, layers, cache makers)."""

    def __init__(self, pool: AdapterPool, name: str | None):
        self._pool = pool
        self.adapter = name

    def __call__(self, *args, **kwargs):
        self._pool.use(self.adapter)
        return self._pool.model(*args, **kwargs)

    def __getattr__(self, attr: str):
        return getattr(self._pool.model, attr)


_ROW_KEYS = frozenset({"model.embed_tokens", "lm_head"})  # the added-token rows (models.tokens)


def _parent(model, key: str) -> tuple[object, str]:
    """The module (or list) holding the layer at ``key``, and the attribute (or index) naming it."""
    *path, last = key.split(".")
    node = model
    for part in path:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node, last


def _cut_padding(layer, rank: int) -> None:
    """Drop a LoRA layer's factor columns/rows past ``rank`` when they are all zero (exact)."""
    import mlx.core as mx

    a, b = layer.lora_a, layer.lora_b
    if a.shape[-1] <= rank:
        return
    if mx.any(a[..., rank:] != 0).item() and mx.any(b[..., rank:, :] != 0).item():
        return  # trained past the recorded rank: keep everything
    layer.lora_a = a[..., :rank]
    layer.lora_b = b[..., :rank, :]
