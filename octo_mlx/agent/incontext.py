"""The in-context agent: the peer `octo-mlx bench agent --peer` measures ours against.

The general-agent way, on the same base model without any adapter: every function of the active
domains goes into a system turn as OpenAI tools JSON (the Hermes form Qwen's templates write,
:func:`octo_mlx.action.backends.hermes_tools_prompt`), the request is the user turn, and the model
answers with one ``<tool_call>`` at a time; each call is checked against its schema, run on the
simulated device, and its result handed back (``<tool_response>``, as a user turn: templates
without a tool role take it) until the model answers without a call, writes a call that cannot
run, or ``max_turns`` calls were made. It plans nothing ahead and re-plans nothing: what it does
after a failed call is whatever the model writes next.

It answers the same ``run(query) -> Trace`` as :class:`octo_mlx.agent.Agent`, so the bench scores
both with the same rule (the device left, the reads made).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable

from octo_mlx.agent.trace import Attempt, StepRecord, Timing, Trace
from octo_mlx.errors import OctoError
from octo_mlx.functions.contract import Domain
from octo_mlx.functions.simulator import DeviceState, execute

MAX_TURNS = 6  # a plan has at most 5 steps: one more call is room for a retry, not a loop
MAX_TOKENS = 256


class InContextAgent:
    """The base model as a single in-context agent (see the module doc).

    Args:
        model, tokenizer: the base model (e.g. ``pool.view(None)`` of a resident pool).
        domains: the active domains (their functions are offered, and only they run).
        state: the simulated device (changed in place).
        max_turns: most calls per request.
        max_tokens: most tokens per answer.
    """

    def __init__(
        self,
        model,
        tokenizer,
        domains: Iterable[Domain],
        state: DeviceState,
        max_turns: int = MAX_TURNS,
        max_tokens: int = MAX_TOKENS,
    ):
        self.model, self.tokenizer, self.state = model, tokenizer, state
        self.domains = list(domains)
        self.functions = {f.name: f for d in self.domains for f in d}
        self.max_turns, self.max_tokens = max_turns, max_tokens
        self.confirm: Callable | None = None  # the bench approves every call, as it does ours
        self.max_replans = 0  # nothing to re-plan: kept so the bench can set it
        self.adapters = {"in-context": "base model, no adapter"}
        tools = [f.to_tool() for f in self.functions.values()]
        from octo_mlx.action.backends import hermes_tools_prompt

        self.system = hermes_tools_prompt(tools)

    def run(self, query: str, on_event=None, cancel: Callable[[], bool] | None = None) -> Trace:
        """Answer ``query`` call by call; the run's trace (its ``plan`` lists the calls made)."""
        from octo_mlx.action.backends import parse_tool_output
        from octo_mlx.functions.calls import CallProblem
        from octo_mlx.generation import encode_prompt, generate

        t0 = time.perf_counter()
        trace = Trace.start(query, self.adapters, self.domains)
        messages = [{"role": "system", "content": self.system}, {"role": "user", "content": query}]
        for index in range(1, self.max_turns + 1):
            if cancel is not None and cancel():
                trace.status = "cancelled"
                break
            prompt = encode_prompt(self.tokenizer, messages)
            start = time.perf_counter()
            try:
                outputs, _ = generate(self.model, self.tokenizer, [prompt], self.max_tokens, 1)
            except OctoError as e:  # every function's JSON and the results so far no longer fit
                record = StepRecord(index, "", status="invalid")
                record.attempts.append(
                    Attempt("", None, None, str(e), Timing("action", time.perf_counter() - start))
                )
                trace.steps.append(record)
                trace.status = "failed"
                break
            generation = outputs[0]
            timing = Timing.of("action", generation, time.perf_counter() - start)
            try:
                call = parse_tool_output(generation.text, self.functions, self.functions)
            except CallProblem as e:
                record = StepRecord(index, generation.text[:200], status="invalid")
                record.attempts.append(Attempt(generation.text, None, None, f"{e.kind}: {e}", timing))
                trace.steps.append(record)
                trace.status = "failed"
                break
            if call.is_none:  # an answer without a call: the agent is done
                if not trace.steps:
                    trace.plan_timing = timing
                break
            function = self.functions[call.function]
            record = StepRecord(index, f"{call.function}({call.arguments_json()})", call=call.to_dict())
            record.attempts.append(
                Attempt(generation.text, call.function, dict(call.arguments), None, timing)
            )
            record.side_effects, record.confirmed = (
                function.side_effects,
                True if function.side_effects else None,
            )
            start = time.perf_counter()
            observation = execute(function, dict(call.arguments), self.state)
            record.execute_seconds = time.perf_counter() - start
            record.status, record.observation = ("ok" if observation.ok else "failed"), observation.to_dict()
            trace.steps.append(record)
            trace.plan.append(record.step)
            messages += [
                {"role": "assistant", "content": generation.text},
                {
                    "role": "user",
                    "content": f"<tool_response>\n{json.dumps(observation.to_dict())}\n</tool_response>",
                },
            ]
        if trace.status == "done" and any(not s.ok for s in trace.steps):
            trace.status = "failed"
        trace.seconds = time.perf_counter() - t0
        return trace
