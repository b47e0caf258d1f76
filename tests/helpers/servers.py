"""Real OpenAI-compatible servers for tests: `mlx_lm.server` subprocesses on 127.0.0.1.

- ``MLXServer(model_dir, log_path=...)``: the product's own starter of a real mlx_lm.server
  (octo_mlx.bench.mlx_lm_peers.MLXLMServer: `python -m mlx_lm.server` on 127.0.0.1, a free
  port, OpenBLAS preloaded, back once a chat completion answers, stopped at the end of a
  ``with``). Start-up is ~3-10 s, so fixtures start one per session.
- ``build_scripted_model(out, pairs)``: a tiny random model is a useless teacher (it emits
  garbage, so every pair would be rejected). This trains a tiny real MLX model for a few seconds
  until it reproduces fixed replies to fixed chat prompts exactly: real weights, real
  tokenizer, real server, real HTTP; the replies are the only scripted thing. Prompts it was
  not trained on get garbage, as from any weak model.
- Fixture ``mlx_server``: the random tiny llama behind a real server (for plumbing tests).

Other test modules reuse these (register fixtures in conftest.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from octo_mlx.bench.mlx_lm_peers import MLXLMServer as MLXServer
from octo_mlx.bench.mlx_lm_peers import free_port  # noqa: F401  (the tests import it from here)

# --- a tiny model that answers fixed prompts -----------------------------------------------------


def build_scripted_model(
    out: str | Path,
    pairs: Sequence[tuple[list[dict], str]],
    hidden: int = 64,
    layers: int = 2,
    max_steps: int = 400,
    seed: int = 0,
) -> dict:
    """Train a tiny llama until greedy decoding reproduces every (messages -> reply) pair.

    Full fine-tuning, AdamW 3e-3, the whole set as one batch, loss on the reply tokens only
    (logits computed only there: the 1024-token head on every prompt position was ~30% of the
    FLOPs). 15 pairs of ~330 tokens converge in ~60 steps. Greedy decoding (slow: every reply
    token by token) is checked only once teacher forcing puts every reply token first by a
    margin. Returns {"steps", "loss", "exact", "pairs"}; exact = replies reproduced token for
    token by greedy decoding.
    """
    from mlx_lm.utils import load_tokenizer, save_config, save_model

    from tests.helpers.tiny import build_tokenizer, random_model

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    corpus = [m["content"] for msgs, _ in pairs for m in msgs] + [r for _, r in pairs]
    build_tokenizer(out, 1024, corpus=corpus, max_length=4096)  # trained on the prompts: short sequences
    tok = load_tokenizer(out)
    vocab = json.loads((out / "tokenizer.json").read_text())["model"]["vocab"]
    model, config = random_model("llama", vocab, hidden, layers, seed, max_position_embeddings=4096)
    eos = config["eos_token_id"]
    prompts = [tok.apply_chat_template(msgs, add_generation_prompt=True) for msgs, _ in pairs]
    replies = [tok.encode(r, add_special_tokens=False) + [eos] for _, r in pairs]
    step, loss, exact = _teach_until_exact(model, tok, prompts, replies, max_steps)
    save_model(out, model)
    save_config(dict(config), out / "config.json")
    return {"steps": step, "loss": loss, "exact": exact, "pairs": len(pairs)}


def _teach_until_exact(model, tok, prompts: list[list[int]], replies: list[list[int]], max_steps: int):
    """Full fine-tuning on the replies until greedy decoding gives each back; (steps, loss, exact)."""
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim
    from mlx_lm.generate import generate
    from mlx_lm.sample_utils import make_sampler

    seqs = [p + r for p, r in zip(prompts, replies)]
    width = max(map(len, seqs))
    tokens = mx.array([s + [0] * (width - len(s)) for s in seqs])
    # (row, position) whose next token is a reply token, and that token
    where = [
        (b, len(p) - 1 + j, t) for b, (p, r) in enumerate(zip(prompts, replies)) for j, t in enumerate(r)
    ]
    rows, cols, targets = (mx.array(list(x)) for x in zip(*where))

    def loss_fn(m):
        hidden_states = m.model(tokens)[rows, cols]
        logits = m.model.embed_tokens.as_linear(hidden_states)
        return nn.losses.cross_entropy(logits, targets, reduction="mean"), logits

    opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
    value_and_grad = nn.value_and_grad(model, loss_fn)
    state = [model.state, opt.state]

    def train_step():
        (loss, logits), grads = value_and_grad(model)
        opt.update(model, grads)
        # teacher forcing: greedy decoding gives the reply back iff every reply token is the
        # argmax after its prefix; a margin keeps the server's incremental decode on the same side
        top2 = mx.topk(logits, 2, axis=-1)
        target_logit = mx.take_along_axis(logits, targets[:, None], axis=-1)[:, 0]
        runner_up = mx.where(top2.max(axis=-1) == target_logit, top2.min(axis=-1), top2.max(axis=-1))
        settled = mx.all(target_logit - runner_up > 1.0)
        return loss, settled

    train_step = mx.compile(train_step, inputs=state, outputs=state)
    greedy = make_sampler(temp=0.0)
    loss, step, exact, next_check = float("inf"), 0, 0, 0
    while step < max_steps:
        loss, settled = train_step()
        mx.eval(state, loss, settled)
        step += 1
        loss = loss.item()
        # the slow check (real greedy decoding of every reply) only once teacher forcing agrees
        if (settled.item() and step >= next_check) or step == max_steps:
            next_check = step + 10
            exact = sum(
                generate(model, tok, p, max_tokens=len(r) + 2, sampler=greedy) == tok.decode(r[:-1])
                for p, r in zip(prompts, replies)
            )
            if exact == len(prompts):
                break
    return step, loss, exact


@pytest.fixture(scope="session")
def mlx_server(tiny_llama, tmp_path_factory):
    """`mlx_lm.server` on the random tiny llama (garbage replies: for plumbing tests)."""
    with MLXServer(tiny_llama, log_path=tmp_path_factory.mktemp("mlx-server") / "server.log") as server:
        yield server


def cached_replies(cache_dir: str | Path) -> set[str]:
    """The reply texts an octo_mlx.llm.RequestCache holds (one file per request)."""
    replies = set()
    for f in Path(cache_dir).rglob("*.json"):
        body = json.loads(f.read_text())["response"]
        replies.add(body["choices"][0]["message"]["content"])
    return replies
