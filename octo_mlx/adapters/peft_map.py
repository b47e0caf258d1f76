"""PEFT's side of the mapping, as pure functions: its tensor names and layouts, its scaling, its
``target_modules`` and the LoraConfig fields an mlx-lm adapter can hold (octo_mlx.adapters.peft
reads and writes the folders; the rules are quoted from PEFT's source in tests/test_peft.py)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import mlx.core as mx

from octo_mlx.errors import OctoError

PEFT_CONFIG = "adapter_config.json"
PEFT_WEIGHTS = "adapter_model.safetensors"
PREFIX = "base_model.model."
EMBED, HEAD = "model.embed_tokens", "lm_head"
BLOCK = re.compile(r"^model\.layers\.(\d+)\.(.+)$")
_PEFT_LEAVES = {  # PEFT's saved tensor name -> (our factor, on an embedding)
    "lora_A.weight": ("lora_a", False),
    "lora_B.weight": ("lora_b", False),
    "lora_embedding_A": ("lora_a", True),
    "lora_embedding_B": ("lora_b", True),
    "lora_magnitude_vector": ("m", False),
    "lora_magnitude_vector.weight": ("m", False),  # PEFT 0.11-0.12 kept the ".weight"
}
# LoraConfig fields whose adapters have no mlx-lm LoRA form (any true value is refused).
_REFUSED = {
    "modules_to_save": "full copies of modules, not LoRA factors",
    "trainable_token_indices": "trainable-token rows stored as values, not LoRA factors",
    "lora_bias": "a trained bias on lora_B (mlx-lm's LoRA has none)",
    "fan_in_fan_out": "Conv1D-style (in, out) weights, as GPT-2; not llama/phi3/gemma",
    "layer_replication": "blocks replicated by PEFT",
    "alora_invocation_tokens": "an activated LoRA (on only after its invocation tokens)",
    "target_parameters": "LoRA on raw parameters (MoE experts)",
    "use_qalora": "QALoRA's pooled input",
    "kasa_config": "KaSA's singular-value diagonal",
    "use_bdlora": "block-diagonal factors",
    "arrow_config": "Arrow routing between adapters",
    "monteclora_config": "MonteCLoRA's sampled factors",
    "velora_config": "VeLoRA's compressed activations",
}
_BASE_CHANGING_INITS = ("pissa", "olora", "corda", "loftq")  # PEFT rewrites the base weights at init


def peft_alpha(scale: float, rank: int) -> float:
    """The ``lora_alpha`` whose ``lora_alpha / rank`` (PEFT's scaling) is nearest ``scale``: equal
    to the last bit where one exists (a power-of-two rank always has one), else one float64 ulp
    off (alpha / 7 skips some floats), far below float32's resolution where the maths runs."""
    alpha = scale * rank
    if round(alpha) / rank == scale:  # the usual case: alpha and rank integers, as trained
        return round(alpha)
    best = alpha
    for _ in range(8):  # the nearest is within an ulp or two of scale * rank
        got = alpha / rank
        if got == scale:
            return int(alpha) if alpha.is_integer() else alpha
        if abs(got - scale) < abs(best / rank - scale):
            best = alpha
        alpha = math.nextafter(alpha, math.inf if got < scale else -math.inf)
    return best


def module_kind(module: str) -> tuple[int | None, str]:
    """(block index or None, the path inside the block or the top-level path) of a module path.

    Raises:
        OctoError: a module PEFT has no name for here (outside the blocks, the embedding and head).
    """
    m = BLOCK.match(module)
    if m:
        return int(m.group(1)), m.group(2)
    if module in (EMBED, HEAD):
        return None, module
    raise OctoError(f"no PEFT name for module {module!r} (known: model.layers.N.*, {EMBED}, {HEAD})")


def to_peft_tensors(factors: dict[str, dict[str, mx.array]], tie_head: bool) -> dict[str, mx.array]:
    """Our factors (module -> {lora_a, lora_b[, m]}) under PEFT's names and layouts.

    Args:
        factors: from :func:`group_factors`.
        tie_head: add ``lm_head`` factors carrying the embedding update to a tied output head.
    """
    out: dict[str, mx.array] = {}
    for module, f in factors.items():
        p = PREFIX + module
        if module == EMBED:
            out[f"{p}.lora_embedding_A"], out[f"{p}.lora_embedding_B"] = f["lora_a"].T, f["lora_b"].T
        else:
            out[f"{p}.lora_A.weight"], out[f"{p}.lora_B.weight"] = f["lora_a"].T, f["lora_b"].T
        if "m" in f:
            out[f"{p}.lora_magnitude_vector"] = f["m"]
    if tie_head:  # logits += s * h @ B_e^T @ A_e^T: a head LoRA with A = B_e and B = A_e
        e = factors[EMBED]
        out[f"{PREFIX}{HEAD}.lora_A.weight"], out[f"{PREFIX}{HEAD}.lora_B.weight"] = e["lora_b"], e["lora_a"]
    return {k: mx.contiguous(v) for k, v in sorted(out.items())}


def from_peft_tensors(tensors: dict[str, mx.array], where: Path) -> dict[str, dict[str, mx.array]]:
    """PEFT's saved tensors as our factors: module -> {lora_a, lora_b[, m], embedding}.

    Raises:
        OctoError: a tensor that is no LoRA factor (a full module, trainable-token values, a
            LoRA bias), a factor without its pair, or factors whose shapes disagree.
    """
    out: dict[str, dict] = {}
    for name, value in tensors.items():
        key = name.removeprefix(PREFIX)
        for leaf, (ours, embedding) in _PEFT_LEAVES.items():
            if key.endswith("." + leaf):
                module = key[: -len(leaf) - 1]
                f = out.setdefault(module, {"embedding": False})
                f[ours] = value if ours == "m" else value.T
                f["embedding"] |= embedding
                break
        else:
            raise OctoError(f"{name}: {_not_a_factor(key)}", where)
    for module, f in out.items():
        if "lora_a" not in f or "lora_b" not in f:
            raise OctoError(f"{module} has {'lora_A' if 'lora_a' in f else 'lora_B'} without its pair", where)
        a, b = f["lora_a"], f["lora_b"]
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
            raise OctoError(f"{module}: lora_A {a.T.shape} and lora_B {b.T.shape} disagree", where)
    return out


def split_base_copies(tensors: dict[str, mx.array]) -> tuple[dict[str, mx.array], dict[str, mx.array]]:
    """(LoRA tensors, module -> embedding weights PEFT saved beside them): PEFT copies a targeted
    embedding's (and head's) whole base matrix into the file (``save_embedding_layers``)."""
    rest, copies = {}, {}
    for name, value in tensors.items():
        module = name.removeprefix(PREFIX).removesuffix(".base_layer.weight")
        if name.endswith(".base_layer.weight") and module in (EMBED, HEAD):
            copies[module] = value
        else:
            rest[name] = value
    return rest, copies


def _not_a_factor(key: str) -> str:
    if key.endswith("lora_B.bias"):
        return "a LoRA bias (lora_bias=True): mlx-lm's LoRA has none"
    if "trainable_tokens" in key:
        return "trainable-token values (trainable_token_indices): not LoRA factors"
    return "not a LoRA factor (a full module, from modules_to_save or a resized embedding, has no LoRA form)"


def target_modules(modules: list[str], layers: int | None) -> list[str] | str:
    """PEFT's ``target_modules``: module leaf names when every block holds the same set (and the
    blocks are all of them), else a regex that full-matches exactly the adapted module paths."""
    blocks: dict[int, set[str]] = {}
    tops = []
    for module in modules:
        i, inner = module_kind(module)
        if i is None:
            tops.append(inner)
        else:
            blocks.setdefault(i, set()).add(inner)
    inners = set().union(*blocks.values()) if blocks else set()
    n = layers if layers is not None else (max(blocks) + 1 if blocks else 0)
    if set(blocks) == set(range(n)) and all(v == inners for v in blocks.values()):
        leaves = sorted({k.rsplit(".", 1)[-1] for k in inners}) + [t.rsplit(".", 1)[-1] for t in sorted(tops)]
        if len(leaves) == len(inners) + len(tops):  # no two modules share a leaf name
            return leaves
    return "(?:" + "|".join(re.escape(m) for m in sorted(modules)) + ")"


def group_factors(tensors: dict[str, mx.array], rank: int, dora: bool, where: Path) -> dict[str, dict]:
    """An adapter file's tensors as module -> {lora_a, lora_b[, m]}, each module one PEFT knows."""
    out: dict[str, dict] = {}
    for name, value in tensors.items():
        module, _, leaf = name.rpartition(".")
        if leaf not in ("lora_a", "lora_b", "m") or (leaf == "m" and not dora):
            raise OctoError(f"{name}: not a LoRA factor", where)
        try:
            module_kind(module)
        except OctoError as e:
            raise OctoError(e.message, where) from None
        out.setdefault(module, {})[leaf] = value
    for module, f in out.items():
        if "lora_a" not in f or "lora_b" not in f:
            raise OctoError(f"{module} has {'lora_a' if 'lora_a' in f else 'lora_b'} without its pair", where)
        if f["lora_a"].ndim != 2 or f["lora_a"].shape[1] != rank or f["lora_b"].shape[0] != rank:
            raise OctoError(
                f"{module}: lora_a {tuple(f['lora_a'].shape)}, lora_b {tuple(f['lora_b'].shape)} are not "
                f"of the config's rank {rank}",
                where,
            )
    return dict(sorted(out.items()))


# --- PEFT's config ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeftLora:
    """The fields of a PEFT LoraConfig that decide the update."""

    r: int
    alpha: float
    rslora: bool
    dora: bool
    dropout: float
    rank_pattern: dict
    alpha_pattern: dict
    tied_by_peft: bool  # ensure_weight_tying: PEFT gives a tied head the embedding's update

    def scaling(self, r: int, alpha: float) -> float:
        return alpha / math.sqrt(r) if self.rslora else alpha / r

    def pattern(self, patterns: dict, module: str, default):
        """PEFT's rule: the first key that matches the end of the module path (``(.*\\.)?KEY$``)."""
        for key, value in patterns.items():
            if re.match(rf"(.*\.)?({key})$", module):
                return value
        return default


def check_peft_config(cfg: dict, path: Path) -> PeftLora:
    """A PEFT adapter_config.json, checked: a LoRA whose update mlx-lm can hold exactly.

    Raises:
        OctoError: naming the file and field (another peft_type, a field with no mlx-lm form).
    """

    def bad(field: str, message: str):
        raise OctoError(f"{field}: {message}", path)

    kind = cfg.get("peft_type")
    if kind is None:
        bad("peft_type", "missing: not a PEFT adapter config")
    if kind != "LORA":
        bad("peft_type", f"only LORA adapters are imported, got {kind!r}")
    for field, what in _REFUSED.items():
        if cfg.get(field):
            bad(field, f"{what}: no mlx-lm LoRA form")
    if cfg.get("bias", "none") != "none":
        bad("bias", f"{cfg['bias']!r} trains the base biases: no mlx-lm LoRA form (only 'none')")
    init = cfg.get("init_lora_weights", True)
    if isinstance(init, str) and init.lower().startswith(_BASE_CHANGING_INITS):
        bad(
            "init_lora_weights",
            f"{init!r} rewrote the base weights at init; convert the adapter in PEFT first "
            "(save_pretrained(..., path_initial_model_for_weight_conversion=...))",
        )
    r, alpha = cfg.get("r"), cfg.get("lora_alpha")
    if not isinstance(r, int) or isinstance(r, bool) or r <= 0:
        bad("r", f"must be a positive integer, got {r!r}")
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not alpha > 0:
        bad("lora_alpha", f"must be a positive number, got {alpha!r}")
    patterns = {}
    for field in ("rank_pattern", "alpha_pattern"):
        value = cfg.get(field) or {}
        if not isinstance(value, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in value.values()
        ):
            bad(field, f"must map module patterns to positive numbers, got {value!r}")
        patterns[field] = value
    for field in ("use_rslora", "use_dora", "ensure_weight_tying"):
        if not isinstance(cfg.get(field, False), bool):
            bad(field, f"must be true or false, got {cfg[field]!r}")
    return PeftLora(
        r,
        alpha,
        cfg.get("use_rslora", False),
        cfg.get("use_dora", False),
        float(cfg.get("lora_dropout") or 0.0),
        patterns["rank_pattern"],
        patterns["alpha_pattern"],
        cfg.get("ensure_weight_tying", False),
    )
