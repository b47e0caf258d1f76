"""Decoding that can only produce a valid call, on the llguidance grammar library.

The grammar of one step's call, in llguidance's Lark dialect (each ``%json{...}`` is compiled
from the function's JSON schema by the library; the ``<nexa_K>`` are single tokens, matched by
id, never by their spelling in bytes)::

    start: <nexa_none> <nexa_end>
         | <nexa_0> args_0 <nexa_end>            (one alternative per active function)
         | ...
    args_0: %json{ the parameters schema of the function of slot 0 }

So the first generated token is a functional token of the active domains or ``<nexa_none>``;
every other table entry (other slots, ``<nexa_split>``) and every other token is masked; the
arguments are one JSON object valid for that function's schema (types, enums, ranges,
patterns, required, no undeclared argument), written compactly with the keys in declared order
(as :func:`octo_mlx.syntax.format_call` writes training targets); then ``<nexa_end>``.

What a schema leaves unbounded is bounded for decoding (an untrained model would otherwise
rarely close a string or stop a number before the token limit): strings at ``max_string_chars``,
numbers at 15 digits and 6 decimals, arrays at 32 items; every call the grammar allows is still
valid for the schema, and every call ends after a bounded number of characters.

The token budget: a :class:`CallConstraint` told ``max_tokens`` (as :func:`decode_calls` always
tells it) ends every call, complete and valid, within it, for any ``max_tokens >= 2``. It picks a
function only if that function's shortest call fits; then, once the tokens left come down to
what finishing needs (a plan, :mod:`octo_mlx.action.closing`) plus a reserve for what one more
token of the model could add, it writes the plan (the model's last value is cut short). A
constraint not told the budget (plain mlx-lm use) can run out: the cut call parses as a typed
"unterminated" problem, never an exception.

Two ways to decode under it:

- :class:`CallConstraint` is an mlx-lm logits processor ``fn(tokens, logits) -> logits`` on MLX
  arrays: :func:`octo_mlx.generation.generate` (batched) or plain mlx-lm's ``generate_step`` /
  ``stream_generate`` take it.
- It is also a :class:`octo_mlx.generation.Guide`: :func:`octo_mlx.generation.generate_guided`
  then appends each run of tokens the grammar forces (argument names, quotes, braces, the end
  token) in one forward pass (jump-forward decoding).

:func:`decode_calls` does either, or neither (``constrained=False``: only the table entries
outside the active slots are masked), and parses each output with
:func:`octo_mlx.syntax.parse_call`.
"""

from __future__ import annotations

import copy
import json
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from octo_mlx.action.closing import PLAN_LIMIT, Closer
from octo_mlx.adapters.rows import hf_tokenizer
from octo_mlx.errors import OctoError
from octo_mlx.functions.calls import Call, CallProblem
from octo_mlx.functions.contract import Function
from octo_mlx.generation import Generation, generate, generate_guided
from octo_mlx.models.tokens import END, NONE, TableMask, table_ids
from octo_mlx.syntax import SlotMap, parse_call

DEFAULT_MAX_STRING_CHARS = 256  # a bundled call's longest string (a message) is < 100 characters
DEFAULT_MAX_TOKENS = 384
# Numbers a schema leaves unbounded: |x| < 1e15 (integers: at most 15 digits), 6 decimals;
# arrays: 32 items. So every value of the grammar ends after a bounded number of characters.
NUMBER_LIMIT = 10**15
NUMBER_STEP = 1e-6
MAX_ITEMS = 32
# Inside a value one token can leave a little more to write: an escape begun (``\u`` then four
# hex digits), a character's UTF-8 bytes begun (up to three more), a sign or a decimal point.
TOKEN_SLACK = 6
MIN_CALL_TOKENS = 2  # the shortest call, <nexa_none><nexa_end>: the least max_tokens under the grammar
# Compact JSON, as Call.arguments_json writes it: no free whitespace, ", " and ": ".
_JSON_OPTIONS = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}

_LL_TOKENIZERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def ll_tokenizer(tokenizer):
    """llguidance's view of ``tokenizer`` (an mlx-lm wrapper or a fast HF tokenizer), built once
    per tokenizer and vocabulary size (~0.3 s for the default model's 49k tokens).

    Raises:
        OctoError: a tokenizer llguidance cannot read (a slow, non-``tokenizers`` one).
    """
    import llguidance.hf

    hf = hf_tokenizer(tokenizer)
    cached = _LL_TOKENIZERS.get(hf)
    if cached is not None and cached[0] == len(hf):
        return cached[1]
    try:
        ll = llguidance.hf.from_tokenizer(hf)
    except ValueError as e:  # "Only fast tokenizers are supported"
        raise OctoError(f"constrained decoding needs a fast tokenizer: {e}", type(hf).__name__) from e
    _LL_TOKENIZERS[hf] = (len(hf), ll)
    return ll


# Where a JSON schema holds subschemas: maps of them, lists of them, one of them. Everything
# else (enum, const, required, pattern...) is data and stays as it is.
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_ONE = (
    "items",
    "additionalItems",
    "additionalProperties",
    "unevaluatedItems",
    "unevaluatedProperties",
    "propertyNames",
    "contains",
    "not",
    "if",
    "then",
    "else",
)


def _rewrite(
    schema: Any, node: Callable[[dict[str, Any]], dict[str, Any]], drop: tuple[str, ...] = ()
) -> Any:
    """``schema`` rebuilt bottom up (``schema`` itself unchanged): every subschema rewritten, the
    keywords in ``drop`` left out, then ``node`` given each schema object, its subschemas done."""
    if isinstance(schema, list):  # draft-4 tuple "items"
        return [_rewrite(s, node, drop) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in drop:
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _rewrite(sub, node, drop) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_rewrite(sub, node, drop) for sub in value]
        elif key in _SCHEMA_ONE:
            out[key] = _rewrite(value, node, drop)
        else:
            out[key] = value
    return node(out)


def _bounded(schema: Any, cap: int | None) -> Any:
    """``schema`` with what it leaves unbounded bounded, for decoding only: strings without
    ``maxLength`` (nor enum/const) at ``cap`` characters (None: uncapped), numbers within
    +-NUMBER_LIMIT in steps of NUMBER_STEP, integers within +-(NUMBER_LIMIT - 1), arrays at
    MAX_ITEMS; the ``examples`` and ``default`` keywords dropped. Every value it allows is valid
    for ``schema``."""
    return _rewrite(schema, lambda out: _bound(out, cap), drop=("examples", "default"))


def _bound(out: dict[str, Any], cap: int | None) -> dict[str, Any]:
    """One schema object of :func:`_bounded` (its subschemas bounded already)."""
    types = out.get("type")
    types = set(types) if isinstance(types, list) else {types}
    if "string" in types and cap and not {"maxLength", "enum", "const"} & set(out):
        out["maxLength"] = max(cap, int(out.get("minLength", 0)))
    if types & {"number", "integer"} and not {"enum", "const"} & set(out):
        limit = NUMBER_LIMIT if "number" in types else NUMBER_LIMIT - 1
        if not {"maximum", "exclusiveMaximum"} & set(out):
            out["maximum"] = limit
        if not {"minimum", "exclusiveMinimum"} & set(out):
            out["minimum"] = -limit
        if "number" in types and "multipleOf" not in out:
            out["multipleOf"] = NUMBER_STEP
    if "array" in types and "maxItems" not in out:
        out["maxItems"] = max(MAX_ITEMS, int(out.get("minItems", 0)))
    return out


def call_schema(function: Function, max_string_chars: int | None = DEFAULT_MAX_STRING_CHARS) -> dict:
    """The JSON schema the grammar compiles for ``function``'s arguments: its parameters with
    unbounded values bounded (:func:`_bounded`; strings at ``max_string_chars``), no argument
    it does not declare (``additionalProperties: false``, as the parser demands), compact
    separators."""
    schema = _bounded(copy.deepcopy(function.parameters), max_string_chars)
    schema["additionalProperties"] = False
    schema["x-guidance"] = dict(_JSON_OPTIONS)
    return schema


def _every_argument(schema: Any) -> Any:
    """``schema`` with every property required and every array at least one item long, at every
    level: its shortest instance less the schema's own shortest one is what the optional parts
    add, the most that opening one of them can add to finish (:meth:`CallGrammar.reserve`)."""
    return _rewrite(schema, _require_all)


def _require_all(out: dict[str, Any]) -> dict[str, Any]:
    """One schema object of :func:`_every_argument` (its subschemas done already)."""
    if isinstance(out.get("properties"), dict):
        out["required"] = list(out["properties"])
    if "items" in out or "prefixItems" in out:
        least = max(1, int(out.get("minItems", 0)))
        out["minItems"] = min(least, int(out.get("maxItems", least)))
    return out


class CallGrammar:
    """The grammar of one call for ``functions`` (the active ones), compiled for ``tokenizer``.

    Args:
        tokenizer: the extended base's tokenizer (it holds every table entry).
        slots: the adapter's slot map; every active function needs a slot.
        functions: the functions of the active domains.
        max_string_chars: cap on strings the schema leaves unbounded (None: no cap).

    Raises:
        OctoError: an active function without a slot, a tokenizer without the table, a schema
            the library cannot compile (naming the function).
    """

    def __init__(
        self,
        tokenizer,
        slots: SlotMap,
        functions: Iterable[Function],
        max_string_chars: int | None = DEFAULT_MAX_STRING_CHARS,
    ):
        from llguidance import LLMatcher

        self.slots = slots
        self.functions = {f.name: f for f in functions}
        self.ids = table_ids(tokenizer)
        self._tokenizer = ll_tokenizer(tokenizer)
        alternatives = [f"{NONE} {END}"]
        rules = []
        self._full: dict[int, str] = {}  # functional token -> the schema with every argument
        for name, function in self.functions.items():
            slot = _slot_of(slots, name)
            bounded = call_schema(function, max_string_chars)
            schema = json.dumps(bounded, ensure_ascii=True)
            self._full[self.ids[f"<nexa_{slot}>"]] = json.dumps(_every_argument(bounded), ensure_ascii=True)
            # Each function alone first, so a schema the library refuses is named.
            bad, messages = LLMatcher.validate_grammar_with_warnings(
                LLMatcher.grammar_from_lark(f"start: %json{schema}"), self._tokenizer
            )
            if bad:
                raise OctoError(f"its schema cannot be compiled for decoding: {messages[0]}", name)
            alternatives.append(f"<nexa_{slot}> args_{slot} {END}")
            rules.append(f"args_{slot}: %json{schema}")
        self.lark = "start: " + "\n    | ".join(alternatives) + "\n" + "\n".join(rules) + "\n"
        self._grammar = LLMatcher.grammar_from_lark(self.lark)
        bad, messages = LLMatcher.validate_grammar_with_warnings(self._grammar, self._tokenizer)
        if bad:
            raise OctoError(f"the call grammar cannot be compiled: {messages[0]}", "constrained decoding")
        self.end_id = self.ids[END]
        self.first_ids = frozenset([self.ids[NONE], *(self.ids[slots.token(n)] for n in self.functions)])
        self._start = None
        self.closer = Closer(self._tokenizer, self.end_id, self.ids[NONE])
        self._shortest: dict[int, int] = {self.ids[NONE]: MIN_CALL_TOKENS}
        self._reserve: dict[int, int] = {self.ids[NONE]: 0}  # <nexa_end> is forced

    def matcher(self):
        """A fresh llguidance matcher at the start of a call: a copy of one made once (making
        one takes ~10-40 ms for 47 functions, a copy ~15 us)."""
        from llguidance import LLMatcher

        if self._start is None:
            self._start = LLMatcher(self._tokenizer, self._grammar, log_level=0)
        return self._start.deep_copy()

    def shortest(self, first: int) -> int:
        """Tokens of the shortest call that starts with the functional token ``first`` (it
        included; ``<nexa_none>``: 2), found once per function (~1 ms each)."""
        if first not in self._shortest:
            m = self.matcher()
            plan = self.closer.plan(m) if m.consume_tokens([first]) else None
            self._shortest[first] = PLAN_LIMIT if plan is None else 1 + len(plan)
        return self._shortest[first]

    def reserve(self, first: int) -> int:
        """The most tokens one sampled token can add to what is left to write in a call of
        ``first``'s function: the arguments it leaves out of its shortest call (the shortest
        call with every argument, less the shortest call: one token opens at most those), plus
        :data:`TOKEN_SLACK`. Found once per function."""
        if first not in self._reserve:
            from llguidance import LLMatcher

            grammar = LLMatcher.grammar_from_lark(f"start: %json{self._full[first]} {END}")
            plan = self.closer.plan(LLMatcher(self._tokenizer, grammar, log_level=0))
            full = PLAN_LIMIT if plan is None else 1 + len(plan)
            self._reserve[first] = max(full - self.shortest(first), 0) + TOKEN_SLACK
        return self._reserve[first]


def _slot_of(slots: SlotMap, name: str) -> int:
    try:
        return slots.slot(name)
    except OctoError:
        raise OctoError(
            f"active function {name!r} has no slot in the adapter's slot map", "slot map"
        ) from None


class CallConstraint:
    """One sequence's grammar state, as an mlx-lm logits processor and a jump-forward guide.

    As a processor, ``constraint(tokens, logits)`` accepts the tokens generated since its last
    call (the first call sees only the prompt) and masks every token the grammar does not allow
    next. As a :class:`octo_mlx.generation.Guide`, :meth:`advance` accepts a sampled token and
    returns the forced run that follows. Use a new one per sequence.

    With ``max_tokens`` (the generation's limit) the call always ends within it: the constraint
    holds a *plan*, tokens that finish a valid call from where the decode stands
    (:class:`octo_mlx.action.closing.Closer`), and once the tokens left are no more than the plan
    plus a reserve (:meth:`CallGrammar.reserve`: the most one more sampled token can add to the
    plan), it allows only the plan's tokens: the model's last value is cut short, the call is
    complete and valid (``closed`` is then True). The first token is a function only if that
    function's shortest call fits. So any ``max_tokens >= 2`` ends in a valid call
    (``<nexa_none><nexa_end>`` when no function's call fits). Far from the limit no plan is
    computed: the tokens left to write are bounded without one (the reserve per token at most).

    ``seconds`` is the time spent in the grammar (masks, accepting tokens, forced runs, plans),
    not counting the wait for the model's pending step; ``masks`` counts masks computed,
    ``forced`` the tokens that came from forced runs (the plan's included); ``error`` holds the
    library's message if a token it did not allow was ever given to it (then only
    ``<nexa_end>`` is allowed, and the parser reports the call). With ``jump_forward=False``
    :meth:`advance` never returns a forced run (one decoding step per token, for comparison).
    """

    def __init__(self, grammar: CallGrammar, jump_forward: bool = True, max_tokens: int | None = None):
        if max_tokens is not None and max_tokens < MIN_CALL_TOKENS:
            raise OctoError(
                f"max_tokens must be at least {MIN_CALL_TOKENS} for a call (<nexa_none><nexa_end>), "
                f"got {max_tokens}"
            )
        self.grammar = grammar
        self.jump_forward = jump_forward
        self.max_tokens = max_tokens
        self._matcher = grammar.matcher()
        self._seen: int | None = None
        self._allowed = None  # reused numpy buffer
        self._used = 0  # tokens of the call so far (sampled and forced)
        self._first: int | None = None  # the call's functional token
        self._reserve = 0  # the grammar's reserve for that function (once the token is known)
        self._plan: list[int] | None = None  # finishes the call from here; None: to be found
        self._stale: list[int] | None = None  # finished the call from an earlier point
        self._bound = 0  # at least the tokens left to write (the plan's length, at most)
        self.closed = False
        self.seconds = 0.0
        self.masks = 0
        self.forced = 0
        self.error: str | None = None

    def __call__(self, tokens, logits):
        n = int(tokens.size)
        if self._seen is None:
            self._seen = n  # the prompt
        elif n > self._seen:
            new = tokens[self._seen :].tolist()  # waits for the model's pending step
            self._seen = n
            tic = time.perf_counter()
            self._accept(new)
            self.seconds += time.perf_counter() - tic
        return self.mask(logits)

    def _accept(self, tokens: list[int]) -> None:
        if self.error is None and not self._matcher.consume_tokens(tokens):
            self.error = self._matcher.get_error() or f"token {tokens} not allowed"
        self._used += len(tokens)
        if self.max_tokens is None or self.error is not None or not tokens:
            return
        if self._first is None:  # the functional token: its shortest call and reserve are known
            self._first = tokens[0]
            self._reserve = self.grammar.reserve(self._first)
            self._bound = self.grammar.shortest(self._first) - len(tokens)
        elif self._plan is not None and self._plan[: len(tokens)] == tokens:  # it followed the plan
            self._plan = self._plan[len(tokens) :]
            self._bound = len(self._plan)
        else:  # the plan may still finish the call from here: kept to try first
            self._stale = self._plan or self._stale
            self._plan = None
            self._bound += self._reserve

    def _budget_token(self) -> int | None:
        """The plan's next token when the budget leaves no room for more of the model's own."""
        left = self.max_tokens - self._used
        if self._plan is None:
            if self._bound + self._reserve < left:  # far from the limit: no plan needed yet
                return None
            self._find_plan()
        if not self._plan:  # none found (an unbounded schema part), or the call is complete
            return None
        if self.closed or len(self._plan) + self._reserve >= left:
            self.closed = True
            return self._plan[0]
        return None

    def _find_plan(self) -> None:
        """The plan from here: the stale one if it still finishes the call, else a new one."""
        stale, self._stale = self._stale, None
        m = self._matcher.deep_copy() if stale else None
        if m is not None and m.consume_tokens(stale) and m.is_stopped():  # ~50 us
            self._plan = stale
        else:
            self._plan = self.grammar.closer.plan(self._matcher)  # ~0.2-2 ms
        self._bound = PLAN_LIMIT if self._plan is None else len(self._plan)

    def mask(self, logits):
        """``logits`` (…, vocab) with every token the grammar does not allow next at -inf."""
        import mlx.core as mx
        import numpy as np

        tic = time.perf_counter()
        vocab = int(logits.shape[-1])
        if self._allowed is None or self._allowed.shape[0] != vocab:
            self._allowed = np.zeros(vocab, dtype=bool)
        allowed = self._allowed
        allowed[:] = False
        budget = self.max_tokens is not None and self.error is None
        token = self._budget_token() if budget and self._used else None
        if token is not None:  # the budget's plan: its next token only (no bitmask needed)
            allowed[token] = True
        else:
            bits = np.unpackbits(np.frombuffer(self._matcher.compute_bitmask(), np.uint8), bitorder="little")
            k = min(vocab, bits.shape[0])
            allowed[:k] = bits[:k]  # rows past the tokenizer (spare rows) stay masked
        if budget and not self._used:  # a function only if its shortest call fits
            for first in self.grammar.first_ids:
                if first < vocab and self.grammar.shortest(first) > self.max_tokens:
                    allowed[first] = False
        if self.error is not None or not allowed.any():
            allowed[:] = False
            allowed[self.grammar.end_id] = True
        out = mx.where(mx.array(allowed), logits, mx.array(-mx.inf, dtype=logits.dtype))
        self.masks += 1
        self.seconds += time.perf_counter() - tic
        return out

    def advance(self, token: int) -> list[int]:
        """Accept ``token``; return the tokens the grammar forces next (accepted too): under a
        closing plan, the rest of the plan."""
        tic = time.perf_counter()
        self._accept([token])
        forced: list[int] = []
        if self.error is None and self.jump_forward:
            forced = (
                list(self._plan) if self.closed and self._plan else list(self._matcher.compute_ff_tokens())
            )
            if forced:
                self._accept(forced)
        self.forced += len(forced)
        self.seconds += time.perf_counter() - tic
        return forced


@dataclass(frozen=True)
class DecodedCall:
    """One step's decoded call.

    text: the model's output, end token included; call: the parsed, schema-checked call, or
    None; problem: why not (a typed CallProblem), or None; generation: the raw generation;
    steps: decoding steps (forward passes: fewer than ``generation.gen_tokens`` under
    jump-forward and prompt lookup); constraint_seconds: time spent in the grammar; closed: the token budget
    ran short and the grammar finished the call (:class:`CallConstraint`): valid, its last value
    cut short.
    """

    text: str
    call: Call | None
    problem: CallProblem | None
    generation: Generation
    steps: int
    constraint_seconds: float = 0.0
    closed: bool = False

    @property
    def valid(self) -> bool:
        return self.call is not None


def active_tokens(slots: SlotMap, functions: Iterable[Function]) -> list[str]:
    """The table entries the action model may generate: the active functions' slots, none, end."""
    return [NONE, END, *(slots.token(f.name) for f in functions)]


def decode_calls(
    model,
    tokenizer,
    prompts: Sequence[list[int]],
    slots: SlotMap,
    functions: Iterable[Function],
    *,
    constrained: bool = True,
    jump_forward: bool = True,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    batch_size: int = 8,
    greedy: bool = True,
    temperature: float = 0.7,
    seed: int = 0,
    max_string_chars: int | None = DEFAULT_MAX_STRING_CHARS,
    grammar: CallGrammar | None = None,
    lookup: int = 0,
) -> list[DecodedCall]:
    """One call per prompt, parsed and checked; a model's bad output is a DecodedCall with its
    ``problem``, never an exception.

    Args:
        model, tokenizer: the extended base (with the action adapter).
        prompts: token ids of each step's prompt.
        slots: the adapter's slot map.
        functions: the functions of the active domains.
        constrained: decode under the call grammar (:class:`CallGrammar`); else only the table
            entries outside the active slots are masked.
        jump_forward: (constrained) one prompt at a time, forced runs appended without a step
            each (:func:`octo_mlx.generation.generate_guided`); False: batched through
            :func:`octo_mlx.generation.generate` with the grammar as a logits processor.
        max_tokens, batch_size, greedy, temperature, seed: as for generation; constrained,
            every call ends complete and valid within ``max_tokens`` (>= 2; ``closed`` says when
            the budget finished it).
        max_string_chars: the grammar's cap on unbounded strings.
        grammar: a grammar built before (for these functions and this tokenizer).
        lookup: (constrained, jump-forward, greedy) draft tokens checked per forward pass by
            prompt lookup (:func:`octo_mlx.generation.lookup_draft`): the same call in fewer passes.

    Raises:
        OctoError: bad input (a prompt that does not fit, a function without a slot, a
            tokenizer without the table, ``max_tokens`` < 2 under the grammar).
    """
    functions = list(functions)
    for f in functions:  # every active function has a slot
        _slot_of(slots, f.name)
    if constrained and grammar is None:
        grammar = CallGrammar(tokenizer, slots, functions, max_string_chars)
    runs: list[tuple[Generation, int, CallConstraint | None]] = []
    if constrained and jump_forward:
        for i, prompt in enumerate(prompts):
            constraint = CallConstraint(grammar, max_tokens=max_tokens)
            g, steps = generate_guided(
                model,
                tokenizer,
                prompt,
                constraint,
                max_tokens=max_tokens,
                greedy=greedy,
                temperature=temperature,
                seed=seed + i,
                label=f"prompt {i + 1}",
                lookup=lookup,
            )
            runs.append((g, steps, constraint))
    else:
        made: dict[int, CallConstraint] = {}

        def processors(i: int) -> list:
            if not constrained:
                return [TableMask(tokenizer, active_tokens(slots, functions))]
            made[i] = CallConstraint(grammar, jump_forward=False, max_tokens=max_tokens)
            return [made[i]]

        outputs, _ = generate(
            model,
            tokenizer,
            prompts,
            max_tokens=max_tokens,
            batch_size=batch_size,
            greedy=greedy,
            temperature=temperature,
            seed=seed,
            logits_processors=processors,
        )
        runs = [(g, g.gen_tokens, made.get(i)) for i, g in enumerate(outputs)]
    out = []
    for g, steps, constraint in runs:
        text = tokenizer.decode(list(g.token_ids))
        call, problem = None, None
        try:
            call = parse_call(text, slots, functions)
        except CallProblem as p:
            problem = p
        seconds, closed = (constraint.seconds, constraint.closed) if constraint else (0.0, False)
        out.append(DecodedCall(text, call, problem, g, steps, seconds, closed))
    return out
