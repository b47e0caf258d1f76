"""What constrained decoding of calls costs, and what jump-forward decoding saves, on a real model.

The default model (SmolLM2-135M-Instruct, float32; its added-token table grown in memory as the
extended base does; each slot's row set to the mean row of its function's name, a stand-in for
a trained adapter's: fine for costs, not for accuracy) writes one call per step prompt for the four
bundled domains (47 functions active), at batch 1, greedy, in five ways, interleaved per
prompt, ``--repeats`` rounds:

- ``plain``: mlx-lm's BatchGenerator, no processor (the decoding step's own cost);
- ``table``: unconstrained, only the table entries outside the active slots masked;
- ``grammar``: the call grammar as a logits processor (octo_mlx.generation.generate);
- ``free``: generate_guided (octo-mlx's batch-1 loop) with a guide that restricts nothing;
- ``guided``: the grammar in generate_guided, one decoding step per token;
- ``jump``: generate_guided with jump-forward (forced runs appended in one forward pass).

Reported, medians over rounds of per-round totals: ms per generated token, the grammar's own
time per token and its share of the decoding time per token, decoding steps vs tokens, seconds
per call, and the share of schema-valid calls on the first decode.

    bash scripts/with-openblas.sh .venv/bin/python benchmarks/constrain.py [--prompts 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

STEPS = [
    "Take a photo with the front camera",
    "Send a text message to Alice saying I will be late",
    "Set an alarm for 07:30 called wake up",
    "Search YouTube for jazz piano lessons",
    "Add the cheapest ergonomic chair to my cart",
    "Play the next episode of my show",
    "Book a flight from SFO to NRT on 2025-05-04",
    "Convert 120 US dollars to euros",
    "Set the media volume to 5",
    "Find a hotel in Rome for two nights",
    "Email Bob the meeting notes",
    "Rate the movie Inception 5 stars",
]
MODES = ("plain", "table", "grammar", "free", "guided", "jump")


class Free:
    """A guide that allows every token and forces none (generate_guided without a grammar)."""

    seconds = 0.0

    def mask(self, logits):
        return logits

    def advance(self, token: int) -> list[int]:
        return []


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None, help="model folder (default: the default model)")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=96, help="per call (unconstrained runs stop here)")
    ap.add_argument("--max-string-chars", type=int, default=32, help="the grammar's cap on unbounded strings")
    ap.add_argument("--json", default=None, help="write every call's figures here")
    ap.add_argument(
        "--no-budget",
        action="store_true",
        help="the grammar not told max_tokens (no closing plans: what the budget costs, by difference)",
    )
    a = ap.parse_args()
    budget = None if a.no_budget else a.max_tokens

    import mlx.core as mx

    from octo_mlx.action.constrain import (
        CallConstraint,
        CallGrammar,
        active_tokens,
        ll_tokenizer,
    )
    from octo_mlx.domains.catalog import load_domains
    from octo_mlx.functions.calls import CallProblem
    from octo_mlx.generation import encode_prompt, generate, generate_guided
    from octo_mlx.models.default import ensure_default_model
    from octo_mlx.models.loading import load_model
    from octo_mlx.models.tokens import NONE, TABLE, TableMask, grow_vocabulary, table_ids
    from octo_mlx.syntax import SlotMap, parse_call

    load_before = os.getloadavg()[0]
    folder = a.model or ensure_default_model().path
    model, tokenizer, folder = load_model(folder)
    grow_vocabulary(model, tokenizer, TABLE.tokens)
    domains = load_domains()
    functions = [f for d in domains for f in d.functions]
    slots = SlotMap.for_domains(domains)
    # Untrained rows are all the mean row: greedy would always pick <nexa_none> (the lowest id of
    # a tie). Each slot's row is set to the mean row of its function's name (none: of " none"),
    # so the untrained base picks a function and writes arguments, as a trained adapter would.
    ids = table_ids(tokenizer)
    weight = model.model.embed_tokens.weight
    names = {ids[slots.token(f.name)]: " " + f.name.replace("_", " ") for f in functions}
    names[ids[NONE]] = " none"
    rows = mx.stack(
        [weight[mx.array(tokenizer.encode(t, add_special_tokens=False))].mean(axis=0) for t in names.values()]
    )
    at = mx.array(list(names))
    model.model.embed_tokens.weight = weight.at[at].add(rows - weight[at])
    mx.eval(model.parameters())
    tic = time.perf_counter()
    ll_tokenizer(tokenizer)
    t_tokenizer = time.perf_counter() - tic
    tic = time.perf_counter()
    grammar = CallGrammar(tokenizer, slots, functions, max_string_chars=a.max_string_chars)
    t_grammar = time.perf_counter() - tic
    tic = time.perf_counter()
    for first in grammar.first_ids:  # what a budgeted call's first token checks (once per grammar)
        grammar.shortest(first)
    t_shortest = time.perf_counter() - tic
    system = "Write the function call for the step."
    prompts = [
        encode_prompt(tokenizer, [{"role": "system", "content": system}, {"role": "user", "content": s}])
        for s in STEPS[: a.prompts]
    ]

    def valid(ids) -> bool:
        try:
            parse_call(tokenizer.decode(list(ids)), slots, functions)
            return True
        except CallProblem:
            return False

    def one(mode: str, prompt: list[int]) -> dict:
        if mode in ("free", "guided", "jump"):
            c = (
                Free()
                if mode == "free"
                else CallConstraint(grammar, jump_forward=mode == "jump", max_tokens=budget)
            )
            g, steps = generate_guided(model, tokenizer, prompt, c, max_tokens=a.max_tokens)
            grammar_s = c.seconds
        else:
            c = CallConstraint(grammar, max_tokens=budget) if mode == "grammar" else None
            table = TableMask(tokenizer, active_tokens(slots, functions)) if mode == "table" else None
            make = None if mode == "plain" else (lambda i: [c or table])
            (g,), _ = generate(
                model, tokenizer, [prompt], max_tokens=a.max_tokens, batch_size=1, logits_processors=make
            )
            steps, grammar_s = g.gen_tokens, (c.seconds if c else 0.0)
        return {
            "mode": mode,
            "tokens": g.gen_tokens,
            "steps": steps,
            "seconds": g.seconds,
            "first_token_seconds": g.first_token_seconds,
            "grammar_seconds": grammar_s,
            "valid": valid(g.token_ids),
            "text": tokenizer.decode(list(g.token_ids)),
        }

    for mode in MODES:  # warm-up: allocations, first masks
        one(mode, prompts[0])
    runs: list[list[dict]] = []
    for r in range(a.repeats):
        calls = []
        for i, prompt in enumerate(prompts):
            order = MODES if (r + i) % 2 == 0 else MODES[::-1]
            calls += [dict(one(m, prompt), round=r, prompt=i) for m in order]
        runs.append(calls)
    load_after = os.getloadavg()[0]

    def per_round(mode: str, fn) -> float:
        return statistics.median(fn([c for c in calls if c["mode"] == mode]) for calls in runs)

    def decode_ms(cs) -> float:  # ms per token after the first (the first one pays the prefill)
        return (
            1000
            * sum(c["seconds"] - c["first_token_seconds"] for c in cs)
            / sum(max(c["tokens"] - 1, 1) for c in cs)
        )

    rows = {}
    for mode in MODES:
        rows[mode] = {
            "ms_per_token": per_round(
                mode, lambda cs: 1000 * sum(c["seconds"] for c in cs) / sum(c["tokens"] for c in cs)
            ),
            "decode_ms_per_token": per_round(mode, decode_ms),
            "grammar_ms_per_token": per_round(
                mode, lambda cs: 1000 * sum(c["grammar_seconds"] for c in cs) / sum(c["tokens"] for c in cs)
            ),
            "tokens": per_round(mode, lambda cs: sum(c["tokens"] for c in cs)),
            "steps": per_round(mode, lambda cs: sum(c["steps"] for c in cs)),
            "seconds_per_call": per_round(mode, lambda cs: statistics.median(c["seconds"] for c in cs)),
            "valid": sum(c["valid"] for calls in runs for c in calls if c["mode"] == mode),
            "calls": sum(1 for calls in runs for c in calls if c["mode"] == mode),
        }
    head = (
        f"Linux {platform.machine()}, {os.cpu_count()} CPUs, mlx {mx.__version__}, model {folder.name} "
        f"(float32, table grown in memory, slot rows = mean row of the function's name); "
        f"{len(prompts)} step prompts x "
        f"{a.repeats} rounds, batch 1, greedy, max {a.max_tokens} tokens, strings capped at "
        f"{a.max_string_chars} characters, {'no token budget' if a.no_budget else 'token budget on'}, "
        "modes interleaved; "
        f"load average {load_before:.1f} before, {load_after:.1f} after. One-time: llguidance "
        f"tokenizer {t_tokenizer:.2f} s, grammar of 47 functions {1000 * t_grammar:.0f} ms, "
        f"their shortest calls {1000 * t_shortest:.0f} ms."
    )
    print(head + "\n")
    print(
        "| mode | ms / token | decode ms / token | grammar ms / token | grammar share of decode "
        "| tokens | decoding steps | s / call (median) | valid calls |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for mode, r in rows.items():
        share = r["grammar_ms_per_token"] / r["decode_ms_per_token"]
        print(
            f"| {mode} | {r['ms_per_token']:.1f} | {r['decode_ms_per_token']:.1f} "
            f"| {r['grammar_ms_per_token']:.2f} | {100 * share:.1f}% | {r['tokens']:.0f} | {r['steps']:.0f} "
            f"| {r['seconds_per_call']:.2f} | {r['valid']}/{r['calls']} |"
        )

    def vs(x: str, y: str) -> str:
        return f"{100 * (rows[x]['decode_ms_per_token'] / rows[y]['decode_ms_per_token'] - 1):+.1f}%"

    jump = rows["jump"]
    print(
        f"\nDecode ms per token, end to end: grammar processor vs plain {vs('grammar', 'plain')}, "
        f"guided vs free {vs('guided', 'free')}. "
        f"Jump-forward: {jump['steps']:.0f} steps for {jump['tokens']:.0f} tokens "
        f"({100 * (1 - jump['steps'] / jump['tokens']):.0f}% of the steps saved); seconds per call "
        f"{rows['guided']['seconds_per_call']:.2f} -> {jump['seconds_per_call']:.2f}."
    )
    for c in runs[0]:
        if c["mode"] in ("jump", "table"):
            print(f"  {c['mode']:6} prompt {c['prompt']}: {c['text'][:100]!r}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"head": head, "rows": rows, "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
