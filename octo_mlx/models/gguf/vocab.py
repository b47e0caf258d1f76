"""Tokenizers rebuilt from GGUF metadata (`tokenizer.ggml.*`) with the `tokenizers` library, and back.

Two GGUF tokenizer models are read:
- ``gpt2``: byte-level BPE (tokens, merges). The pre-tokenizer is named by ``tokenizer.ggml.pre``
  (llama.cpp's names); we know ``gpt-2``, ``smollm`` (digits split one by one, then GPT-2's
  regex) and ``llama-bpe`` (Llama 3). SmolLM2-135M's vocabulary rebuilt this way (49,152 tokens,
  48,900 merges) encodes exactly like its original tokenizer.json.
- ``llama``: SentencePiece BPE (tokens, scores, byte-fallback tokens ``<0x0A>``). Merges are
  derived from the scores the way transformers' SentencePieceExtractor does: every split of a
  token into two known tokens, ranked by the merged token's score.
Token types (llama.cpp's enum): 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
Control tokens become special added tokens; user-defined ones non-special added tokens.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from octo_mlx.errors import OctoError
from octo_mlx.files import read_json_object, read_text

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

# Llama 3's split regex (its tokenizer.json, Split pre-tokenizer before a regex-less ByteLevel).
LLAMA3_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _byte_level(use_regex: bool) -> dict:
    return {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": use_regex}


PRE_TOKENIZERS = {
    "gpt-2": _byte_level(True),
    "smollm": {
        "type": "Sequence",
        "pretokenizers": [{"type": "Digits", "individual_digits": True}, _byte_level(True)],
    },
    "llama-bpe": {
        "type": "Sequence",
        "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_REGEX}, "behavior": "Isolated", "invert": False},
            _byte_level(False),
        ],
    },
}
_IGNORE_MERGES = {"llama-bpe"}  # Llama 3 looks whole words up before merging (ignore_merges: true)


@dataclass(frozen=True)
class Vocab:
    """A tokenizer rebuilt from GGUF: the contents of tokenizer.json and tokenizer_config.json."""

    tokens: tuple[str, ...]
    tokenizer: dict
    config: dict
    kind: str
    warnings: tuple[str, ...] = ()


def _added_tokens(tokens, types, special_types) -> list[dict]:
    return [
        {
            "id": i,
            "content": t,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": ty != USER_DEFINED,
        }
        for i, (t, ty) in enumerate(zip(tokens, types))
        if ty in special_types
    ]


def _vocab_dict(tokens) -> tuple[dict, list[str]]:
    vocab: dict[str, int] = {}
    dupes = []
    for i, t in enumerate(tokens):
        if t in vocab:
            dupes.append(t)
        else:
            vocab[t] = i
    warnings = (
        [f"{len(dupes)} duplicate token strings (e.g. {dupes[0]!r}): the first id wins"] if dupes else []
    )
    return vocab, warnings


def _post_processor(tokens, add_bos: bool, bos_id: int | None, fallback: dict | None) -> dict | None:
    if not add_bos or bos_id is None:
        return fallback
    bos = tokens[bos_id]
    return {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [
            {"SpecialToken": {"id": bos, "type_id": 0}},
            {"Sequence": {"id": "A", "type_id": 0}},
            {"SpecialToken": {"id": bos, "type_id": 1}},
            {"Sequence": {"id": "B", "type_id": 1}},
        ],
        "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}},
    }


def _bpe_tokenizer(metadata: dict, tokens, types, where) -> tuple[dict, str, list[str]]:
    pre = metadata.get("tokenizer.ggml.pre")
    warnings = []
    if pre is None:  # files from before llama.cpp recorded it (2024) used GPT-2's split
        pre = "gpt-2"
        warnings.append("no tokenizer.ggml.pre in the file: assumed GPT-2's pre-tokenizer")
    if pre not in PRE_TOKENIZERS:
        raise OctoError(
            f"byte-level BPE pre-tokenizer '{pre}' is not supported (supported: {', '.join(PRE_TOKENIZERS)})",
            where,
        )
    merges = metadata.get("tokenizer.ggml.merges") or []
    vocab, dupes = _vocab_dict(tokens)
    add_bos = bool(metadata.get("tokenizer.ggml.add_bos_token", False))
    byte_level_post = {
        "type": "ByteLevel",
        "add_prefix_space": True,
        "trim_offsets": False,
        "use_regex": True,
    }
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": _added_tokens(tokens, types, (CONTROL, USER_DEFINED)),
        "normalizer": None,
        "pre_tokenizer": PRE_TOKENIZERS[pre],
        "post_processor": _post_processor(
            tokens, add_bos, metadata.get("tokenizer.ggml.bos_token_id"), byte_level_post
        ),
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": pre in _IGNORE_MERGES,
            "vocab": vocab,
            "merges": [m.split(" ", 1) for m in merges],
        },
    }
    return tok, f"gpt2 byte-level BPE (pre: {pre}, {len(merges)} merges)", warnings + dupes


def spm_merges(tokens, scores, types) -> list[list[str]]:
    """BPE merges from a SentencePiece vocabulary (as transformers' SentencePieceExtractor).

    Every split of a token into two tokens of the vocabulary is a merge, ranked by the merged
    token's score (higher first), ties in vocabulary order.
    """
    vocab = {}
    for i, t in enumerate(tokens):
        vocab.setdefault(t, i)
    ranked = []
    for i, (t, score, ty) in enumerate(zip(tokens, scores, types)):
        if ty not in (NORMAL, USER_DEFINED):  # control, byte and unused pieces are never merged into
            continue
        for cut in range(1, len(t)):
            left, right = t[:cut], t[cut:]
            if left in vocab and right in vocab:
                ranked.append((-score, i, vocab[left], vocab[right], left, right))
    ranked.sort(key=lambda r: r[:4])
    return [[r[4], r[5]] for r in ranked]


def _spm_tokenizer(metadata: dict, tokens, types, where) -> tuple[dict, str, list[str]]:
    scores = metadata.get("tokenizer.ggml.scores")
    if scores is None or len(scores) != len(tokens):
        raise OctoError("SentencePiece GGUF vocabulary without tokenizer.ggml.scores", where)
    vocab, dupes = _vocab_dict(tokens)
    unk_id = metadata.get("tokenizer.ggml.unknown_token_id", 0)
    prefix = bool(metadata.get("tokenizer.ggml.add_space_prefix", True))
    replace = {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}
    normalizer = (
        {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"}, replace]}
        if prefix
        else replace
    )
    decoders = [
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
        {"type": "ByteFallback"},
        {"type": "Fuse"},
    ]
    if prefix:
        decoders.append({"type": "Strip", "content": " ", "start": 1, "stop": 0})
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": _added_tokens(tokens, types, (UNKNOWN, CONTROL, USER_DEFINED)),
        "normalizer": normalizer,
        "pre_tokenizer": None,
        "post_processor": _post_processor(
            tokens,
            bool(metadata.get("tokenizer.ggml.add_bos_token", True)),
            metadata.get("tokenizer.ggml.bos_token_id"),
            None,
        ),
        "decoder": {"type": "Sequence", "decoders": decoders},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": tokens[unk_id] if 0 <= unk_id < len(tokens) else None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": True,
            "byte_fallback": True,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": spm_merges(tokens, scores, types),
        },
    }
    return tok, "llama SentencePiece BPE (byte fallback)", dupes


def tokenizer_from_gguf(metadata: dict, where: str | Path | None = None) -> Vocab:
    """Rebuild tokenizer.json and tokenizer_config.json (with the chat template) from GGUF metadata.

    Args:
        metadata: the GGUF metadata (read_gguf_header(...).metadata).
        where: the file, for error messages.

    Raises:
        OctoError: no tokenizer in the file, or an unsupported tokenizer model or pre-tokenizer.
    """
    from tokenizers import Tokenizer

    model, tokens = metadata.get("tokenizer.ggml.model"), metadata.get("tokenizer.ggml.tokens")
    if model is None or not tokens:
        raise OctoError("the GGUF has no tokenizer (tokenizer.ggml.model / tokenizer.ggml.tokens)", where)
    types = metadata.get("tokenizer.ggml.token_type") or [NORMAL] * len(tokens)
    if model == "gpt2":
        tok, kind, warnings = _bpe_tokenizer(metadata, tokens, types, where)
    elif model == "llama":
        tok, kind, warnings = _spm_tokenizer(metadata, tokens, types, where)
    else:
        raise OctoError(f"tokenizer model '{model}' is not supported (supported: gpt2, llama)", where)
    try:
        Tokenizer.from_str(json.dumps(tok))
    except Exception as e:  # the tokenizers error says which field; keep it on one line
        raise OctoError(f"could not build a tokenizer from the GGUF vocabulary: {e}", where) from None

    def token(key: str) -> str | None:
        i = metadata.get(f"tokenizer.ggml.{key}_token_id")
        return tokens[i] if isinstance(i, int) and 0 <= i < len(tokens) else None

    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": token("bos"),
        "eos_token": token("eos"),
        "pad_token": token("padding"),
        "unk_token": token("unknown"),
        "add_bos_token": bool(metadata.get("tokenizer.ggml.add_bos_token", model == "llama")),
        "add_eos_token": bool(metadata.get("tokenizer.ggml.add_eos_token", False)),
        "clean_up_tokenization_spaces": False,
    }
    if metadata.get("tokenizer.chat_template"):
        config["chat_template"] = metadata["tokenizer.chat_template"]
    return Vocab(tuple(tokens), tok, config, kind, tuple(warnings))


# --- back to GGUF (for export_gguf) --------------------------------------------------------------


def _pre_name(pre: dict | None, where) -> str:
    """llama.cpp's name for a tokenizer.json pre-tokenizer we know, else an OctoError."""

    def same(a: dict, b: dict) -> bool:
        return all(a.get(k) == v for k, v in b.items() if k not in ("pretokenizers", "trim_offsets"))

    for name, known in PRE_TOKENIZERS.items():
        if pre is None or pre.get("type") != known["type"]:
            continue
        if known["type"] != "Sequence":
            if same(pre, known):
                return name
        elif len(pre.get("pretokenizers", [])) == len(known["pretokenizers"]) and all(
            same(a, b) for a, b in zip(pre["pretokenizers"], known["pretokenizers"])
        ):
            return name
    kind = (pre or {}).get("type")
    raise OctoError(
        f"pre-tokenizer {kind} has no llama.cpp name we know ({', '.join(PRE_TOKENIZERS)})", where
    )


def _content(value) -> str | None:
    return value.get("content") if isinstance(value, dict) else value


def tokenizer_to_gguf(model_dir: Path, config: dict, n_vocab: int) -> dict:
    """GGUF tokenizer metadata (mx.save_gguf values) from a folder's byte-level BPE tokenizer.json.

    Args:
        model_dir: the model folder (tokenizer.json, tokenizer_config.json, chat_template.jinja).
        config: its config.json (eos_token_id fallback).
        n_vocab: embedding rows; the token list is padded to it with unused [PADi] tokens.
    """
    import mlx.core as mx

    path = model_dir / "tokenizer.json"
    if not path.is_file():
        raise OctoError("no tokenizer.json", model_dir)
    tj = read_json_object(path)
    tc_path = model_dir / "tokenizer_config.json"
    tc = read_json_object(tc_path) if tc_path.is_file() else {}
    model = tj.get("model", {})
    if model.get("type") != "BPE" or (tj.get("decoder") or {}).get("type") != "ByteLevel":
        raise OctoError("only byte-level BPE tokenizers can be written to GGUF", path)
    pre = _pre_name(tj.get("pre_tokenizer"), path)
    id_to_token = {i: t for t, i in model["vocab"].items()}
    added = {a["id"]: a for a in tj.get("added_tokens", [])}
    size = max(n_vocab, max([*id_to_token, *added]) + 1)
    tokens, types = [], []
    for i in range(size):
        if i in added:
            tokens.append(added[i]["content"])
            types.append(CONTROL if added[i].get("special") else USER_DEFINED)
        elif i in id_to_token:
            tokens.append(id_to_token[i])
            types.append(NORMAL)
        else:
            tokens.append(f"[PAD{i}]")
            types.append(UNUSED)
    ids = {t: i for i, t in reversed(list(enumerate(tokens)))}
    meta = {
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.pre": pre,
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": mx.array(types, dtype=mx.int32),
    }
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    if merges:
        meta["tokenizer.ggml.merges"] = merges
    for key, field_name in (
        ("bos", "bos_token"),
        ("eos", "eos_token"),
        ("padding", "pad_token"),
        ("unknown", "unk_token"),
    ):
        content = _content(tc.get(field_name))
        if content in ids:
            meta[f"tokenizer.ggml.{key}_token_id"] = mx.array(ids[content], dtype=mx.uint32)
    eos = config.get("eos_token_id")
    if "tokenizer.ggml.eos_token_id" not in meta and eos is not None:
        meta["tokenizer.ggml.eos_token_id"] = mx.array(
            eos[0] if isinstance(eos, list) else eos, dtype=mx.uint32
        )
    post = tj.get("post_processor") or {}
    add_bos = tc.get("add_bos_token", post.get("type") == "TemplateProcessing")
    meta["tokenizer.ggml.add_bos_token"] = mx.array(bool(add_bos))
    template = tc.get("chat_template")
    if template is None and (model_dir / "chat_template.jinja").is_file():
        template = read_text(model_dir / "chat_template.jinja")
    if isinstance(template, list):  # [{"name": "default", "template": ...}, ...]
        template = next((t["template"] for t in template if t.get("name") == "default"), None)
    if template:
        meta["tokenizer.chat_template"] = template
    return meta
