"""How to finish a call from wherever its decode stands: what lets a constrained decode always
end in a complete, valid call within its token budget (``constrain.CallConstraint``).

llguidance says which tokens may come next and which are forced, not how to finish. A *plan*,
the tokens that finish the call from a matcher's state, is found on a copy of the matcher, one
step at a time:

1. the run of tokens the grammar forces (``compute_ff_tokens``), whole;
2. else a *closer* the grammar allows: ``<nexa_end>``, ``<nexa_none>``, ``"``, ``}``, ``]``,
   ``,`` (``,`` moves on to a required key). A bracket or comma that leaves every closer and
   probe character as allowed as before is a character of a string, not a closer. Where
   several closers remain (``"`` closes a string but also opens an optional key), the one
   whose own plan is the shorter;
3. else a *filler*, the first of :data:`FILLERS` the grammar allows: a character a value needs
   before it can close (a digit of a number or a date, the ``@`` of an email). ``@``, ``.`` and
   ``:`` come first because patterns hinge on them (digits first would write ``1111...`` into
   an email until its cap);
4. else the lowest id the grammar allows.

Every value of the call grammar is bounded (``constrain._bounded``), so a plan always ends, and it
is a sentence of the grammar, so the call is valid for its schema. For the bundled schemas it is
the shortest call but for the choice among enum values: ``{"time": "11:11"}``, ``"+11"``,
``"1111-11-11"``, ``{"amount": 1, ...}``, an email ``}@..}``; for an odd pattern it may be longer
than need be, never invalid. A plan takes ~0.2-2 ms (a copy of the matcher and a few dozen
token checks; a rollout per extra closer).
"""

from __future__ import annotations

import string

import numpy as np

# Characters values need before they may close, in the order tried: what patterns hinge on,
# digits (1 first: the least positive number, "1" not "0.000001"), letters, then the rest of
# printable ASCII (the double quote is a closer).
FILLERS = "@.:10" + string.digits[2:] + string.ascii_lowercase + string.ascii_uppercase
FILLERS += "".join(c for c in string.punctuation + " " if c not in FILLERS + '"')
# Most tokens of a plan: a bounded call grammar needs far fewer (256-character strings, 15-digit
# numbers, 32-item arrays); a plan that runs past this means an unbounded schema part: no plan.
PLAN_LIMIT = 4096


class Closer:
    """Finds plans for one llguidance tokenizer.

    Args:
        tokenizer: llguidance's view of the tokenizer (``constrain.ll_tokenizer``).
        end_id, none_id: the ids of ``<nexa_end>`` and ``<nexa_none>``.
    """

    def __init__(self, tokenizer, end_id: int, none_id: int):
        def single(ch: str) -> int | None:
            ids = tokenizer.tokenize_bytes(ch.encode())
            return ids[0] if len(ids) == 1 else None

        self.closers = [end_id, none_id, *(t for t in map(single, '"}],') if t is not None)]
        # Inside a string a bracket or a comma is a character, not a closer: taking one changes
        # nothing the grammar allows among these probes.
        self.maybe_text = {t for t in map(single, "}],") if t is not None}
        self.fillers = [t for t in map(single, FILLERS) if t is not None]
        self.probes = [*self.closers, *(t for t in map(single, "@.:0aA -") if t is not None)]

    def plan(self, matcher) -> list[int] | None:
        """The tokens that finish the call from ``matcher``'s state (the matcher is not changed);
        None if none was found within PLAN_LIMIT tokens or the matcher is in error."""
        if matcher.is_error():
            return None
        return self._rollout(matcher.deep_copy(), lookahead=True)

    def _rollout(self, m, lookahead: bool) -> list[int] | None:
        plan: list[int] = []
        while not m.is_stopped():
            step = m.compute_ff_tokens() or [self._next(m, lookahead)]
            if step == [None] or len(plan) + len(step) > PLAN_LIMIT or not m.consume_tokens(step):
                return None
            plan += step
        return plan

    def _next(self, m, lookahead: bool) -> int | None:
        closers = [
            t
            for t in self.closers
            if m.validate_tokens([t]) == 1 and not (t in self.maybe_text and self._is_text(m, t))
        ]
        if len(closers) > 1 and lookahead:  # the one that finishes sooner (no lookahead below)
            lengths = []
            for t in closers:
                c = m.deep_copy()
                rest = self._rollout(c, lookahead=False) if c.consume_tokens([t]) else None
                lengths.append(PLAN_LIMIT + 1 if rest is None else len(rest))
            return closers[int(np.argmin(lengths))]
        if closers:
            return closers[0]
        for t in self.fillers:
            if m.validate_tokens([t]) == 1:
                return t
        allowed = np.flatnonzero(
            np.unpackbits(np.frombuffer(m.compute_bitmask(), np.uint8), bitorder="little")
        )
        return int(allowed[0]) if allowed.size else None

    def _allows(self, m) -> list[bool]:
        return [m.validate_tokens([t]) == 1 for t in self.probes]

    def _is_text(self, m, token: int) -> bool:
        c = m.deep_copy()
        return bool(c.consume_tokens([token])) and self._allows(c) == self._allows(m)
