"""Tiny random models and a locally trained tokenizer, built with mlx-lm's own model classes.

Used by the integration tier: no hub, no download, a few MB, seconds to build.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
from mlx_lm.utils import save_config, save_model

CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

_CORPUS = """
Find articles about Jensen Huang in English and email the first one to myself.
Check the weather in Paris tomorrow, then set an alarm for 07:30 called wake up.
Send a text message to Alice saying I will be late. Create a contact named Bob with phone +14155550123.
Search YouTube for jazz piano lessons. Find a route from home to the office by bicycle.
Create a calendar event called standup from 09:00 to 09:15. Set the media volume to 5.
Search for ergonomic office chairs and add the cheapest one to my cart, then check out.
Play the next episode of my show, add a movie to my watchlist, and book a flight to Tokyo.
Reserve a hotel in Rome for two nights and rent a car at the airport. Track my order.
The quick brown fox jumps over the lazy dog. A planner breaks a request into steps.
""".strip()


def build_tokenizer(out: Path, vocab_size: int = 512, corpus=None, max_length: int = 2048) -> Path:
    """Train a byte-level BPE on ``corpus`` (default: a few planning sentences) and save it as a
    Hugging Face tokenizer folder with a ChatML template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([_CORPUS] * 4 if corpus is None else corpus, trainer=trainer)
    tok.save(str(out / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "chat_template": CHATML_TEMPLATE,
        "model_max_length": max_length,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    return out


ARCH_CONFIGS = {
    "llama": dict(model_type="llama", rms_norm_eps=1e-5, tie_word_embeddings=True, rope_theta=10000.0),
    "phi3": dict(
        model_type="phi3",
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        max_position_embeddings=2048,
        original_max_position_embeddings=2048,
        tie_word_embeddings=False,
    ),
    "gemma": dict(model_type="gemma", rms_norm_eps=1e-6, head_dim=16, rope_theta=10000.0),
}


def random_model(arch: str, vocab: dict[str, int], hidden: int = 64, layers: int = 2, seed: int = 0, **extra):
    """(model, config): a random ``arch`` model of mlx-lm's own class for the tokenizer ``vocab``
    (its end marker <|im_end|> and pad <|endoftext|> ids come from it); ``extra`` config fields win."""
    from mlx_lm.utils import _get_classes

    config = dict(
        ARCH_CONFIGS[arch],
        hidden_size=hidden,
        num_hidden_layers=layers,
        intermediate_size=2 * hidden,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=len(vocab),  # the special tokens are part of it
        eos_token_id=vocab["<|im_end|>"],
        pad_token_id=vocab["<|endoftext|>"],
        **extra,
    )
    model_class, args_class = _get_classes(config)
    mx.random.seed(seed)
    model = model_class(args_class.from_dict(config))
    mx.eval(model.parameters())
    return model, config


def build_tiny_model(
    out: Path, arch: str = "llama", seed: int = 0, hidden: int = 64, layers: int = 2
) -> Path:
    """A random `arch` model (2 layers, hidden 64) plus the local tokenizer, loadable by mlx_lm.load."""
    out = Path(out)
    build_tokenizer(out)
    vocab = json.loads((out / "tokenizer.json").read_text())["model"]["vocab"]
    model, config = random_model(arch, vocab, hidden, layers, seed)
    save_model(out, model)
    save_config(dict(config), out / "config.json")
    return out
