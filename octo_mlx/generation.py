"""Batched generation over mlx-lm's ``BatchGenerator``: prompts in, texts and their timings out.

Shared by everything that generates (the planner and its benchmark; the coming action model).
Generation
stops at the model's end marker: its eos ids plus the chat end markers of :data:`END_MARKERS`
that its tokenizer holds as single tokens, and the text comes back without it.

Batching is continuous: at most ``batch_size`` sequences are live, a finished one frees its slot
for the next prompt at once. Each output carries its own timings measured from the moment its
prompt entered the generator, so with ``batch_size=1`` they are single-request latencies.

Every prompt is checked before the first one is generated (:func:`prompt_limit`): it must fit
the model's context minus ``max_tokens`` and :data:`MAX_PROMPT_TOKENS`; a caller holding text
checks it first against a character bound (:func:`check_texts`), so absurd input is refused
without being tokenized. A prompt that does not fit is one OctoError naming it.

A grammar plugs in two ways: as per-prompt mlx-lm logits processors of :func:`generate`
(batched), or as a :class:`Guide` of :func:`generate_guided` (batch 1), which also appends the
tokens the grammar forces without a decoding step each (jump-forward decoding).

:func:`generate_stream` is batch 1 token by token (mlx-lm's ``generate_step``), for a server
that streams: the same end markers and prompt checks, text handed out as soon as it can no
longer change, stop strings, nucleus sampling.
"""

from __future__ import annotations

import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from octo_mlx.errors import OctoError

# Chat end markers of the families we meet (ChatML / SmolLM2, Phi-3, Gemma, Llama 3, Llama 2 /
# Mistral) plus the paper's <nexa_end>: the one list every reader of model output uses.
END_MARKERS = (
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|eot_id|>",
    "<nexa_end>",
    "<|endoftext|>",
    "</s>",
)


# The most prompt tokens any generation takes, whatever a model's config claims (a plan prompt is
# ~50 tokens; an in-context prompt with every tool ~5,000), and the most characters of prompt text
# looked at before tokenizing (5 MB of text killed `eval` with SIGSEGV at 4.7 GB).
MAX_PROMPT_TOKENS = 32_768
MAX_PROMPT_CHARS = 1_000_000
_NO_LENGTH = 10_000_000  # a tokenizer's model_max_length above this means "not set" (HF: 1e30)
_PREFILL_STEP = 2048  # prompt tokens per forward pass in generate_guided (mlx-lm's default)
LOOKUP_NGRAM = 3  # the longest context tail prompt lookup matches (lookup_draft)
# Draft tokens per forward pass for the agent's planner and action model (greedy): BENCHMARKS.md,
# "Prompt lookup". A pass over 5 tokens costs little more than over 1 on this CPU (decoding is
# bound by reading the weights), so every accepted draft token is nearly free.
DEFAULT_LOOKUP = 4

# mlx-lm's logits processor: fn(tokens, logits) -> logits, on MLX arrays (tokens: the prompt and
# the tokens generated so far; logits: (1, vocab) for the next token).
LogitsProcessor = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class PromptLimit:
    """What a prompt may be for one model and ``max_tokens``.

    tokens: the most prompt tokens; why: where that figure comes from, for messages;
    chars: the most characters of prompt text (a longer text surely has more than ``tokens``
    tokens: no token of this vocabulary is longer than ``chars / tokens`` characters; or it is
    longer than :data:`MAX_PROMPT_CHARS`).
    """

    tokens: int
    why: str
    chars: int


def context_length(model, tokenizer) -> int | None:
    """The model's context in tokens: its config's ``max_position_embeddings``, else the
    tokenizer's ``model_max_length`` when that is a real figure; None when neither says."""
    n = getattr(getattr(model, "args", None), "max_position_embeddings", None)
    if isinstance(n, int) and n > 0:
        return n
    n = getattr(getattr(tokenizer, "_tokenizer", tokenizer), "model_max_length", None)
    if isinstance(n, int) and 0 < n < _NO_LENGTH:
        return n
    return None


def prompt_limit(model, tokenizer, max_tokens: int) -> PromptLimit:
    """How long a prompt may be to leave room for ``max_tokens`` in the model's context.

    Raises:
        OctoError: ``max_tokens`` alone fills the context.
    """
    context = context_length(model, tokenizer)
    if context is not None and context - max_tokens <= MAX_PROMPT_TOKENS:
        tokens = context - max_tokens
        why = f"the model's context of {context} tokens minus max_tokens {max_tokens}"
        if tokens < 1:
            raise OctoError(f"max_tokens {max_tokens} leaves no room for a prompt ({why})")
    else:
        tokens, why = MAX_PROMPT_TOKENS, f"octo-mlx's limit of {MAX_PROMPT_TOKENS} tokens for any prompt"
    longest = _vocab_facts(tokenizer)[0]
    return PromptLimit(tokens, why, min(MAX_PROMPT_CHARS, tokens * max(longest, 1)))


_VOCAB_FACTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _vocab_facts(tokenizer) -> tuple[int, tuple[int, ...]]:
    """(the longest token's length, the end-marker ids) of ``tokenizer``, read once per tokenizer,
    vocabulary size and eos ids: reading a 49k vocabulary takes ~40 ms, which every call paid."""
    eos = tuple(sorted(tokenizer.eos_token_ids or []))
    key = (len(getattr(tokenizer, "_tokenizer", tokenizer)), eos)
    try:
        cached = _VOCAB_FACTS.get(tokenizer)
    except TypeError:  # not weakly referenceable: no cache
        cached = None
    if cached is not None and cached[0] == key:
        return cached[1]
    vocab = tokenizer.get_vocab()
    ids = set(eos)
    ids.update(vocab[m] for m in END_MARKERS if m in vocab)
    facts = (max((len(t) for t in vocab), default=1), tuple(sorted(ids)))
    try:
        _VOCAB_FACTS[tokenizer] = (key, facts)
    except TypeError:
        pass
    return facts


def _label(labels: Sequence[str] | None, i: int, kind: str) -> str:
    return labels[i] if labels is not None else f"{kind} {i + 1}"


def check_texts(texts: Sequence[str], limit: PromptLimit, labels: Sequence[str] | None = None) -> None:
    """Refuse, before tokenizing, a prompt text too long to fit (cheap: counts characters).

    Args:
        texts: what each prompt holds (e.g. the query; the chat template only adds to it).
        limit: from :func:`prompt_limit`.
        labels: how an error names each prompt (default ``query N``, from 1).
    """
    for i, text in enumerate(texts):
        n = len(text)
        if n > MAX_PROMPT_CHARS:
            raise OctoError(
                f"prompt of {n} characters: more than the {MAX_PROMPT_CHARS} any prompt may have",
                _label(labels, i, "query"),
            )
        if n > limit.chars:
            raise OctoError(
                f"prompt of {n} characters: it cannot fit in {limit.tokens} tokens ({limit.why})",
                _label(labels, i, "query"),
            )


def check_prompts(
    prompts: Sequence[Sequence[int]], limit: PromptLimit, labels: Sequence[str] | None = None
) -> None:
    """Refuse a tokenized prompt longer than ``limit.tokens`` (all are checked before any runs).

    Args:
        prompts: token ids of each prompt.
        limit: from :func:`prompt_limit`.
        labels: how an error names each prompt (default ``prompt N``, from 1).
    """
    for i, prompt in enumerate(prompts):
        if len(prompt) > limit.tokens:
            raise OctoError(
                f"prompt of {len(prompt)} tokens: more than the {limit.tokens} that fit ({limit.why})",
                _label(labels, i, "prompt"),
            )


@dataclass(frozen=True)
class Generation:
    """One generated completion.

    text: the decoded completion without its end marker; prompt_tokens / gen_tokens: token counts
    (gen_tokens includes the end marker when one was produced); seconds: prompt entering the
    generator -> last token; first_token_seconds: -> first token (time to first token);
    finish_reason: "stop" (end marker) or "length" (max_tokens); token_ids: the generated ids, end
    marker included.
    """

    text: str
    prompt_tokens: int
    gen_tokens: int
    seconds: float
    first_token_seconds: float
    finish_reason: str
    token_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class RunStats:
    """What one batched generation run did (mlx-lm's counters plus wall time and peak memory).

    prompt_tokens/prompt_seconds: prefill work; gen_tokens: tokens decoded (end markers included);
    seconds: wall time of the whole run; peak_memory_gb: MLX's high-water mark during the run
    (weights + KV caches + activations).
    """

    prompts: int
    prompt_tokens: int
    prompt_seconds: float
    gen_tokens: int
    seconds: float
    peak_memory_gb: float

    @property
    def prompt_tps(self) -> float:
        return self.prompt_tokens / self.prompt_seconds if self.prompt_seconds > 0 else 0.0

    @property
    def gen_tps(self) -> float:
        """Generated tokens per second of wall time not spent in prefill."""
        decode = self.seconds - self.prompt_seconds
        return self.gen_tokens / decode if decode > 0 else 0.0


def encode_prompt(tokenizer, messages: list[dict[str, str]], tools: list[dict] | None = None) -> list[int]:
    """Token ids of ``messages`` through the chat template, ending with the assistant header.

    The same call mlx-lm's ChatDataset makes for ``--mask-prompt``, so a prompt seen here is
    exactly the prefix a model was trained on. A template without a system role (Gemma's) gets
    the system text at the start of the first user turn. ``tools`` (OpenAI tools format) go to
    a tools-aware template as its ``tools`` (the JSON-tools action backend).
    """
    extra = {"tools": tools} if tools else {}
    try:
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=False, **extra)
    except Exception:  # jinja raises TemplateError("System role not supported") e.g. for Gemma
        if not messages or messages[0]["role"] != "system" or len(messages) < 2:
            raise
        first = dict(messages[1], content=messages[0]["content"] + "\n\n" + messages[1]["content"])
        return encode_prompt(tokenizer, [first, *messages[2:]], tools)
    return list(ids)


def stop_token_ids(tokenizer) -> list[int]:
    """The end-marker ids: the tokenizer's eos ids plus any :data:`END_MARKERS` in its vocabulary."""
    return list(_vocab_facts(tokenizer)[1])


def strip_end_markers(text: str) -> str:
    """``text`` without any :data:`END_MARKERS`, trimmed."""
    for marker in END_MARKERS:
        text = text.replace(marker, "")
    return text.strip()


def cut_at_end_marker(text: str) -> str:
    """``text`` up to the first of :data:`END_MARKERS` (what a model wrote before it stopped)."""
    for marker in END_MARKERS:
        text = text.split(marker)[0]
    return text


def _decode_all(
    gen, tokenizer, prompts: Sequence[list[int]], batch_size: int, processors=None
) -> list[Generation]:
    """Drive ``gen`` until every prompt has finished, keeping at most ``batch_size`` live
    (``processors(i)``: the logits processors of prompt ``i``, made as it enters)."""
    pending = deque(enumerate(prompts))
    live: dict[int, int] = {}  # uid -> input index
    started: dict[int, float] = {}
    first: dict[int, float] = {}
    tokens: dict[int, list[int]] = {}
    outputs: list[Generation | None] = [None] * len(prompts)
    while pending or live:
        # Refill free slots: a prompt's clock starts when it enters the generator.
        refill = []
        while pending and len(live) + len(refill) < batch_size:
            refill.append(pending.popleft())
        if refill:
            uids = gen.insert(
                [list(p) for _, p in refill],
                logits_processors=[processors(i) for i, _ in refill] if processors else None,
            )
            now = time.perf_counter()
            for uid, (index, _) in zip(uids, refill):
                live[uid], started[uid], tokens[uid] = index, now, []
        for r in gen.next_generated():
            now = time.perf_counter()
            first.setdefault(r.uid, now)
            tokens[r.uid].append(r.token)
            if r.finish_reason is None:
                continue
            index = live.pop(r.uid)
            ids = tokens.pop(r.uid)
            body = ids[:-1] if r.finish_reason == "stop" else ids
            outputs[index] = Generation(
                text=strip_end_markers(tokenizer.decode(body)),
                prompt_tokens=len(prompts[index]),
                gen_tokens=len(ids),
                seconds=now - started[r.uid],
                first_token_seconds=first[r.uid] - started[r.uid],
                finish_reason=r.finish_reason,
                token_ids=tuple(ids),
            )
    return outputs  # type: ignore[return-value]


def generate(
    model,
    tokenizer,
    prompts: Sequence[list[int]],
    max_tokens: int = 128,
    batch_size: int = 16,
    greedy: bool = True,
    temperature: float = 0.7,
    seed: int = 0,
    labels: Sequence[str] | None = None,
    logits_processors: Callable[[int], list[LogitsProcessor]] | None = None,
) -> tuple[list[Generation], RunStats]:
    """Generate a completion for each tokenized prompt, continuously batched, in input order.

    Returns the outputs and the run's :class:`RunStats`.

    Args:
        model, tokenizer: as returned by ``mlx_lm.load`` (or ``octo_mlx.models.loading.load_model``).
        prompts: token ids of each prompt (e.g. from :func:`encode_prompt`).
        max_tokens: most generated tokens per prompt (a plan of 5 steps is ~60-80 tokens).
        batch_size: most sequences decoded together.
        greedy: argmax decoding (the default for evaluation); else sampling at ``temperature``.
        temperature: sampling temperature when ``greedy`` is False (>= 0; 0 is greedy).
        seed: random seed for sampling.
        labels: how an error names each prompt (default ``prompt N``, from 1).
        logits_processors: ``logits_processors(i)`` gives the processors of prompt ``i`` (called
            once, as it enters the generator: a processor may keep that sequence's state, e.g.
            a grammar matcher), each ``fn(tokens, logits) -> logits`` as in mlx-lm, ``tokens``
            the prompt and the tokens generated so far.

    Raises:
        OctoError: a setting out of range, or a prompt that does not fit in the model's context
            minus ``max_tokens`` (every prompt is checked before the first is generated).
    """
    import mlx.core as mx
    from mlx_lm.generate import BatchGenerator
    from mlx_lm.sample_utils import make_sampler

    if batch_size < 1 or max_tokens < 1:
        raise OctoError(f"batch_size and max_tokens must be >= 1, got {batch_size} and {max_tokens}")
    if not temperature >= 0:  # NaN too; a negative one would sample the least likely tokens
        raise OctoError(f"temperature must be >= 0 (0 is greedy), got {temperature}")
    check_prompts(prompts, prompt_limit(model, tokenizer, max_tokens), labels)
    mx.random.seed(seed)
    sampler = make_sampler(temp=0.0 if greedy else temperature)
    gen = BatchGenerator(
        model,
        max_tokens=max_tokens,
        stop_tokens=[[t] for t in stop_token_ids(tokenizer)],
        sampler=sampler,
        completion_batch_size=batch_size,
        prefill_batch_size=batch_size,
    )
    mx.reset_peak_memory()
    t0 = time.perf_counter()
    try:
        with gen.stats() as stats:
            outputs = _decode_all(gen, tokenizer, prompts, batch_size, logits_processors)
    finally:
        gen.close()
    run = RunStats(
        prompts=len(prompts),
        prompt_tokens=sum(len(p) for p in prompts),
        prompt_seconds=stats.prompt_time,
        gen_tokens=sum(o.gen_tokens for o in outputs),
        seconds=time.perf_counter() - t0,
        peak_memory_gb=mx.get_peak_memory() / 1e9,
    )
    return outputs, run


class Guide(Protocol):
    """A grammar that restricts each next token and may force a run of them (generate_guided)."""

    def mask(self, logits: Any) -> Any:
        """``logits`` (1, vocab) with every token the grammar does not allow next at -inf."""

    def advance(self, token: int) -> list[int]:
        """Accept the sampled ``token``; return the tokens the grammar forces next (accepted too)."""


def lookup_draft(context: Sequence[int], size: int, longest: int = LOOKUP_NGRAM) -> list[int]:
    """Prompt lookup: the up to ``size`` tokens that followed the latest earlier occurrence of the
    last ``n`` tokens of ``context`` (``n`` from ``longest`` down to 1; the longest match wins),
    or none. A call copies names and messages from its step, a plan from its request: these
    guesses are often right, and checking them costs one forward pass for all of them."""
    if size < 1:
        return []
    end = len(context)
    for n in range(min(longest, end - 1), 0, -1):
        tail = list(context[end - n :])
        first = tail[0]
        for i in range(end - n - 1, -1, -1):  # the latest occurrence first: nearest is likeliest
            if context[i] == first and list(context[i : i + n]) == tail:
                return list(context[i + n : i + n + size])
    return []


def _cuts_exactly(cache) -> bool:
    """Whether every layer's cache (through mlx-lm's CacheList) is one that ``trim`` cuts back
    exactly at any length: a plain or quantized KV cache. A rotating one (a sliding window) stops
    cutting once it has wrapped, and says so only then, so it gets no draft at all."""
    from mlx_lm.models.cache import CacheList, KVCache, QuantizedKVCache

    return all(
        _cuts_exactly(c.caches) if isinstance(c, CacheList) else type(c) in (KVCache, QuantizedKVCache)
        for c in cache
    )


def _decode(
    model,
    prompt: Sequence[int],
    max_tokens: int,
    choose: Callable[[list[int], Any], int],
    stops: set[int],
    advance: Callable[[int], list[int]] | None = None,
    lookup: int = 0,
) -> Iterator[tuple[list[int], int, float]]:
    """The batch-1 decoding loop every guided or looked-up completion runs.

    Yields, per token chosen, ``(tokens, passes, when)``: the token and any run ``advance`` forces
    after it (at most ``max_tokens`` in all; ending at a stop token), the forward passes its row
    took (1, or 0 when the row came from the pass that checked a draft), and the
    ``time.perf_counter()`` at which it was chosen (before ``advance``).

    ``choose(context, row)`` picks the next token from ``row`` (1, vocab) given every token so
    far. With ``lookup`` > 0, each pass also feeds a draft of that many tokens
    (:func:`lookup_draft`); row ``j`` of the pass is chosen from only while the tokens chosen
    so far equal the draft's first ``j``, so the result is what one pass per token gives. The
    rejected draft tokens leave the cache at once. Drafts are taken only when every layer's cache
    can be cut back exactly (:func:`_cuts_exactly`: not a sliding window's rotating one).
    """
    import mlx.core as mx
    from mlx_lm.models.cache import make_prompt_cache, trim_prompt_cache

    cache = make_prompt_cache(model)
    if not _cuts_exactly(cache):
        lookup = 0
    context = list(prompt)
    feed = list(prompt)
    while len(feed) > _PREFILL_STEP:  # long prompts in chunks, as mlx-lm does
        model(mx.array(feed[:_PREFILL_STEP])[None], cache=cache)
        mx.eval([c.state for c in cache])
        feed = feed[_PREFILL_STEP:]
    made = 0
    while True:
        draft = lookup_draft(context, min(lookup, max_tokens - made - 1))
        rows = model(mx.array(feed + draft)[None], cache=cache)[0, len(feed) - 1 :, :]
        j, passes = 0, 1
        while True:
            token = choose(context, rows[j : j + 1])
            chosen = time.perf_counter()
            last = token in stops or made + 1 >= max_tokens or advance is None
            run = [token] if last else [token, *advance(token)[: max_tokens - made - 1]]
            stop_at = next((i for i, t in enumerate(run) if t in stops), None)
            run = run if stop_at is None else run[: stop_at + 1]
            context += run
            made += len(run)
            yield run, passes, chosen
            if stop_at is not None or made >= max_tokens:
                return
            passes = 0
            same = 0  # how much of the run the draft already fed
            while same < len(run) and j + same < len(draft) and run[same] == draft[j + same]:
                same += 1
            j += same
            if same < len(run):  # the rest of the draft is wrong: out of the cache; the run goes in
                if len(draft) > j:
                    trim_prompt_cache(cache, len(draft) - j)
                feed = run[same:]
                break


def generate_guided(
    model,
    tokenizer,
    prompt: Sequence[int],
    guide: Guide,
    max_tokens: int = 128,
    greedy: bool = True,
    temperature: float = 0.7,
    seed: int = 0,
    label: str | None = None,
    lookup: int = 0,
) -> tuple[Generation, int]:
    """One completion under ``guide`` at batch 1, with jump-forward decoding: after each sampled
    token, the run of tokens the guide forces is appended in the same forward pass as that
    token, not decoded one step each.

    Returns the generation (as :func:`generate`'s, timings from the start of the prompt) and the
    decoding steps it took: its forward passes (the first one's being the prompt's), so
    ``gen_tokens - steps`` tokens came without a pass of their own.

    Args:
        model, tokenizer, max_tokens, greedy, temperature, seed: as for :func:`generate`.
        prompt: the token ids of one prompt.
        guide: the grammar (e.g. ``octo_mlx.action.constrain.CallConstraint``).
        label: how an error names the prompt.
        lookup: (greedy) draft tokens checked per pass by prompt lookup (:func:`lookup_draft`);
            the text is the same, in fewer passes when the model copies from its prompt. 0: off.

    Raises:
        OctoError: a setting out of range, or a prompt that does not fit.
    """
    import mlx.core as mx
    from mlx_lm.sample_utils import make_sampler

    if max_tokens < 1:
        raise OctoError(f"max_tokens must be >= 1, got {max_tokens}")
    if not temperature >= 0:
        raise OctoError(f"temperature must be >= 0 (0 is greedy), got {temperature}")
    if lookup < 0:
        raise OctoError(f"lookup must be >= 0, got {lookup}")
    check_prompts([prompt], prompt_limit(model, tokenizer, max_tokens), [label] if label else None)
    mx.random.seed(seed)
    sampler = make_sampler(temp=0.0 if greedy else temperature)

    def choose(context: list[int], row) -> int:
        logits = guide.mask(row)
        return int(sampler(logits - mx.logsumexp(logits, axis=-1, keepdims=True)).item())

    stops = set(stop_token_ids(tokenizer))
    t0 = time.perf_counter()
    out: list[int] = []
    steps, first = 0, 0.0
    for run, passes, chosen in _decode(
        model, prompt, max_tokens, choose, stops, guide.advance, lookup if greedy else 0
    ):
        steps += passes
        first = first or chosen
        out += run
    finish = "stop" if out and out[-1] in stops else "length"
    now = time.perf_counter()
    body = out[:-1] if finish == "stop" else out
    generation = Generation(
        text=strip_end_markers(tokenizer.decode(body)),
        prompt_tokens=len(prompt),
        gen_tokens=len(out),
        seconds=now - t0,
        first_token_seconds=first - t0,
        finish_reason=finish,
        token_ids=tuple(out),
    )
    return generation, steps


@dataclass(frozen=True)
class Piece:
    """One step of :func:`generate_stream`: ``text`` the new text (often empty: text is held back
    until no later token can change it), ``token`` the id sampled; the last piece has no token
    and carries the whole ``generation``."""

    text: str
    token: int | None = None
    generation: Generation | None = None


def _held_back(text: str, stop: Sequence[str]) -> int:
    """How many characters at the end of ``text`` may still change: trailing whitespace (the
    final text is stripped), an unfinished UTF-8 character, or the start of an end marker or of
    a stop string, with the whitespace before it (stripped if the text is cut there)."""
    body = text.rstrip()
    while body.endswith("\ufffd"):  # the rest of its bytes may decode to a space, stripped then
        body = body[:-1].rstrip()
    keep = len(body)
    longest = 0
    for s in (*END_MARKERS, *stop):
        for n in range(min(len(s) - 1, keep), longest, -1):
            if text[keep - n : keep] == s[:n]:
                longest = n
                break
    return len(text) - len(text[: keep - longest].rstrip())


def generate_stream(
    model,
    tokenizer,
    prompt: Sequence[int],
    max_tokens: int = 128,
    greedy: bool = True,
    temperature: float = 0.7,
    top_p: float = 1.0,
    seed: int | None = None,
    stop: Sequence[str] = (),
    logits_processors: Sequence[LogitsProcessor] | None = None,
    label: str | None = None,
    lookup: int = 0,
) -> Iterator[Piece]:
    """One completion at batch 1, token by token (mlx-lm's ``generate_step``; with ``lookup``,
    greedy, the batch-1 loop of :func:`generate_guided` that checks drafts).

    Yields one :class:`Piece` per sampled token, then a last one with the :class:`Generation`
    (its ``text`` and ``finish_reason`` as :func:`generate` gives them; cut before the first
    stop string, finish_reason "stop", when one appears). The pieces' texts joined are the
    generation's text. Closing the iterator early stops decoding at once.

    Args:
        model, tokenizer, max_tokens, greedy, temperature, label: as for :func:`generate`.
        prompt: the token ids of one prompt.
        top_p: nucleus sampling when sampling (1: off).
        seed: reseed MLX's generator first (None: leave it as it is).
        stop: strings that end the completion (not included in it).
        logits_processors: mlx-lm logits processors, in order.
        lookup: (greedy) draft tokens checked per forward pass by prompt lookup
            (:func:`lookup_draft`): the same tokens, in fewer passes when the text copies its
            prompt. 0: off (mlx-lm's loop).

    Raises:
        OctoError: a setting out of range, or a prompt that does not fit (before any decoding).
    """
    import mlx.core as mx
    from mlx_lm.generate import generate_step
    from mlx_lm.sample_utils import make_sampler

    if max_tokens < 1:
        raise OctoError(f"max_tokens must be >= 1, got {max_tokens}")
    if not temperature >= 0:
        raise OctoError(f"temperature must be >= 0 (0 is greedy), got {temperature}")
    if not 0 < top_p <= 1:
        raise OctoError(f"top_p must be in (0, 1], got {top_p}")
    if any(not s for s in stop):
        raise OctoError("an empty stop string")
    if lookup < 0:
        raise OctoError(f"lookup must be >= 0, got {lookup}")
    check_prompts([prompt], prompt_limit(model, tokenizer, max_tokens), [label] if label else None)
    if seed is not None:
        mx.random.seed(seed)
    sampler = make_sampler(temp=0.0 if greedy else temperature, top_p=top_p if top_p < 1 else 0.0)
    stops = set(stop_token_ids(tokenizer))
    t0 = time.perf_counter()
    ids: list[int] = []
    sent, text, first, finish = "", "", 0.0, "length"
    processors = list(logits_processors or [])
    if greedy and lookup > 0:

        def choose(context: list[int], row) -> int:
            tokens = mx.array(context)
            for processor in processors:
                row = processor(tokens, row)
            return int(mx.argmax(row, axis=-1).item())

        steps = (
            (t, None)
            for run, _, _ in _decode(model, prompt, max_tokens, choose, stops, None, lookup)
            for t in run
        )
    else:
        steps = generate_step(
            mx.array(list(prompt)),
            model,
            max_tokens=max_tokens,
            sampler=sampler,
            logits_processors=processors or None,
        )
    try:
        for token, _ in steps:
            first = first or time.perf_counter()
            ids.append(int(token))
            if token in stops:
                finish = "stop"
                break
            # the whole text decoded again, as a token's text depends on its neighbours: 0.3 ms
            # for 500 ids with the default model's tokenizer, against ~60 ms to decode a token
            text = strip_end_markers(tokenizer.decode(ids))
            cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
            if cut >= 0:
                text, finish = text[:cut].rstrip(), "stop"
                break
            shown = text[: len(text) - _held_back(text, stop)]
            new = shown[len(sent) :] if shown.startswith(sent) else ""
            sent += new
            yield Piece(new, int(token))
    finally:
        steps.close()
    if finish == "stop" and ids and ids[-1] in stops:
        text = strip_end_markers(tokenizer.decode(ids[:-1]))
    elif not ids:
        text = ""
    now = time.perf_counter()
    generation = Generation(
        text=text,
        prompt_tokens=len(prompt),
        gen_tokens=len(ids),
        seconds=now - t0,
        first_token_seconds=(first or now) - t0,
        finish_reason=finish,
        token_ids=tuple(ids),
    )
    yield Piece(text[len(sent) :] if text.startswith(sent) else "", None, generation)
