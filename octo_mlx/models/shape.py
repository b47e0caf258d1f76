"""The dimensions of a model: read from a config.json, or from the table of known architectures.

The architectures of the paper (Phi-3 Mini, Gemma 2B/7B) and the default model are written here
as their published ``config.json`` values, so memory plans and shape checks need no download.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from octo_mlx.errors import OctoError
from octo_mlx.models.folder import read_config

# mlx-lm ties the LM head to the embedding by default for these (gemma always does).
_TIED_BY_DEFAULT = {"llama", "qwen2", "olmo2", "granite", "gemma", "gemma2", "gemma3_text"}
_ALWAYS_TIED = {"gemma", "gemma2", "gemma3_text"}

# Architectures of the paper and the default model, as their config.json gives them, so a plan
# needs no download. Phi-3 Mini fuses q/k/v and gate/up into one projection each.
KNOWN_CONFIGS: dict[str, dict] = {
    "phi-3-mini": {
        "model_type": "phi3",
        "hidden_size": 3072,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "intermediate_size": 8192,
        "vocab_size": 32064,
        "tie_word_embeddings": False,
    },
    "gemma-2b": {
        "model_type": "gemma",
        "hidden_size": 2048,
        "num_hidden_layers": 18,
        "num_attention_heads": 8,
        "num_key_value_heads": 1,
        "head_dim": 256,
        "intermediate_size": 16384,
        "vocab_size": 256000,
    },
    "gemma-7b": {
        "model_type": "gemma",
        "hidden_size": 3072,
        "num_hidden_layers": 28,
        "num_attention_heads": 16,
        "num_key_value_heads": 16,
        "head_dim": 256,
        "intermediate_size": 24576,
        "vocab_size": 256000,
    },
    "smollm2-135m": {
        "model_type": "llama",
        "hidden_size": 576,
        "num_hidden_layers": 30,
        "num_attention_heads": 9,
        "num_key_value_heads": 3,
        "intermediate_size": 1536,
        "vocab_size": 49152,
        "tie_word_embeddings": True,
    },
}
# Names people use for them (hub ids, recipe paths) -> the table's key.
_ALIASES = {
    "microsoft/phi-3-mini-4k-instruct": "phi-3-mini",
    "microsoft/phi-3-mini-128k-instruct": "phi-3-mini",
    "phi3-mini": "phi-3-mini",
    "google/gemma-2b": "gemma-2b",
    "google/gemma-2b-it": "gemma-2b",
    "google/gemma-7b": "gemma-7b",
    "google/gemma-7b-it": "gemma-7b",
    "huggingfacetb/smollm2-135m-instruct": "smollm2-135m",
    "smollm2-135m-instruct": "smollm2-135m",
}


def known_config(name: str) -> dict | None:
    """The config of a known architecture by table key, hub id or alias (case-insensitive), or None."""
    key = name.strip().lower().rstrip("/")
    key = _ALIASES.get(key, key)
    if key in KNOWN_CONFIGS:
        return dict(KNOWN_CONFIGS[key])
    tail = key.split("/")[-1]
    key = _ALIASES.get(tail, tail)
    return dict(KNOWN_CONFIGS[key]) if key in KNOWN_CONFIGS else None


def read_model_config(model: str | Path) -> dict:
    """``config.json`` of a model folder, else a known architecture by name; OctoError otherwise.

    Args:
        model: a local model folder, or a name in :data:`KNOWN_CONFIGS` / a hub id of one.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        return read_config(path)
    config = known_config(str(model))
    if config is None:
        raise OctoError(
            f"neither a model folder nor a known architecture ({', '.join(KNOWN_CONFIGS)})", model
        )
    return config


@dataclass(frozen=True)
class ModelShape:
    """The dimensions that decide memory, read from a config.json."""

    model_type: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied: bool
    quant_bits: int | None = None
    quant_group: int = 64

    @classmethod
    def from_config(cls, config: dict, where: str | Path | None = None) -> ModelShape:
        """Read the dimensions, with mlx-lm's defaults (kv heads = heads, head_dim = hidden / heads).

        Args:
            config: a parsed config.json.
            where: named in the error when a field is missing.
        """
        text = config.get("text_config")
        if isinstance(text, dict):  # multimodal wrappers keep the LM's fields there
            config = {**config, **text}
        need = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size")
        for key in need:
            if not isinstance(config.get(key), int) or config[key] <= 0:
                raise OctoError(f"config.json: '{key}' missing or not a positive integer", where)
        model_type = str(config.get("model_type", "llama"))
        heads = config["num_attention_heads"]
        tied = config.get("tie_word_embeddings", model_type in _TIED_BY_DEFAULT)
        quant = config.get("quantization") or config.get("quantization_config") or {}
        return cls(
            model_type=model_type,
            hidden=config["hidden_size"],
            layers=config["num_hidden_layers"],
            heads=heads,
            kv_heads=config.get("num_key_value_heads") or heads,
            head_dim=config.get("head_dim") or config["hidden_size"] // heads,
            intermediate=config["intermediate_size"],
            vocab=config["vocab_size"],
            tied=bool(tied) or model_type in _ALWAYS_TIED,
            quant_bits=quant.get("bits"),
            quant_group=quant.get("group_size", 64),
        )

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def block_linears(self) -> list[tuple[int, int]]:
        """(in, out) of each linear layer of one block, as the model class builds them."""
        h, q, kv, i = self.hidden, self.q_dim, self.kv_dim, self.intermediate
        if self.model_type == "phi3":  # qkv_proj and gate_up_proj are fused
            return [(h, q + 2 * kv), (q, h), (h, 2 * i), (i, h)]
        return [(h, q), (h, kv), (h, kv), (q, h), (h, i), (h, i), (i, h)]

    @property
    def block_params(self) -> int:
        return sum(a * b for a, b in self.block_linears()) + 2 * self.hidden  # + two norms

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden

    @property
    def head_params(self) -> int:
        return 0 if self.tied else self.vocab * self.hidden

    @property
    def total_params(self) -> int:
        return self.embedding_params + self.head_params + self.layers * self.block_params + self.hidden

    def lora_params(self, rank: int) -> int:
        """LoRA factors on every linear layer of every block ("all-linear")."""
        return self.layers * sum(rank * (a + b) for a, b in self.block_linears())
