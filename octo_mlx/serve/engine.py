"""The one worker that runs requests on the pool: adapters switched per request, never reloaded.

Every request runs on one worker thread, under :attr:`Engine.lock`, inside
``pool.using(adapter)``: requests never interleave on the shared model, and whatever happens
(an error, a client gone mid-stream) the pool's active adapter is the one that was on before.
One thread rather than a lock taken by each HTTP thread because MLX ties a lazy array to the
thread that made it: a mask or a random key made in one request's thread and evaluated in the
next one's fails ("There is no Stream(cpu, 0) in current thread"); mlx_lm.server does the same.

``model: agent`` (when exactly one planner and one action adapter are resident) runs the whole
agent loop (:mod:`octo_mlx.agent`) on the server's simulated device: the last user message is
the request; the reply's text lists each step's call and result, and the choice's ``agent``
field holds the run's trace. Calls that change the device run only when the server was started
with ``agent_yes`` (else they are refused: fail closed).

A planner adapter (or the base) generates text from the messages through the chat template
(:func:`octo_mlx.generation.generate_stream`, the planner's table mask); an action adapter turns
the last user message, with the previous tool result as its observation, into one call
(:meth:`octo_mlx.action.model.ActionModel.act_many`, under its grammar).
"""

from __future__ import annotations

import dataclasses
import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from octo_mlx.errors import OctoError
from octo_mlx.generation import DEFAULT_LOOKUP
from octo_mlx.serve.protocol import (
    AGENT,
    BASE,
    DEFAULT_MAX_TOKENS,
    ApiError,
    ChatRequest,
    action_step,
    last_user_text,
    tool_call,
)

_POLL_S = 1.0  # how often a waiting request looks whether the worker is still alive


@dataclass(frozen=True)
class Reply:
    """What one request produced. content: the text (None beside tool calls); tool_calls: in the
    OpenAI shape; problem: why an action model's output is no call ({kind, message}), or None."""

    content: str | None
    tool_calls: list[dict] | None
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    problem: dict | None = None
    agent: dict | None = None  # model "agent": the run's trace


@dataclass(frozen=True)
class Started:
    """The request passed its checks; generation begins (a stream may send its headers)."""

    prompt_tokens: int


@dataclass(frozen=True)
class Text:
    """New text of a streamed completion."""

    text: str


@dataclass(frozen=True)
class Done:
    reply: Reply


@dataclass(frozen=True)
class Failed:
    error: ApiError


class Job:
    """One request handed to the worker: its events come back through :meth:`events`."""

    def __init__(self, request: ChatRequest):
        self.request = request
        self.tokens = 0  # tokens generated so far (the request log of a cancelled stream)
        self.cancelled = threading.Event()
        self.finished = threading.Event()
        self._events: queue.Queue = queue.Queue()

    def put(self, event) -> None:
        self._events.put(event)

    def events(self, alive=lambda: True) -> Iterator[Started | Text | Done | Failed]:
        """The job's events up to its Done or Failed. Closing this iterator early cancels the job."""
        try:
            while True:
                try:
                    event = self._events.get(timeout=_POLL_S)
                except queue.Empty:
                    if not alive():
                        yield Failed(ApiError(500, "the generation worker stopped"))
                        return
                    continue
                yield event
                if isinstance(event, Done | Failed):
                    return
        finally:
            self.cancel()

    def cancel(self) -> None:
        """Stop generating at the next token (a no-op once the job is done)."""
        self.cancelled.set()


class Engine:
    """The pool, the action models on it, and the worker thread that runs every request.

    Args:
        pool: an :class:`octo_mlx.resident.AdapterPool` with its adapters added.
        agent_yes: ``model: agent`` runs calls that change the simulated device (else refuses them).
        seed: the seed of the agent's simulated device.
        lookup: draft tokens checked per forward pass in greedy decoding (prompt lookup: the
            agent's planner and calls, greedy chat completions; 0: off).
    """

    def __init__(self, pool, agent_yes: bool = False, seed: int = 0, lookup: int = DEFAULT_LOOKUP):
        from octo_mlx.action.model import ActionModel

        if lookup < 0:
            raise OctoError(f"must be >= 0, got {lookup}", "lookup")
        self.pool = pool
        self.lookup = lookup
        self.lock = threading.Lock()  # held while a request runs on the pool
        self.actions = {
            name: ActionModel.on_pool(pool, name, lookup=lookup)
            for name, a in pool.adapters.items()
            if a.task == "action"
        }
        self.agent = self._make_agent(agent_yes, seed)
        self._jobs: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="octo-mlx-serve-worker", daemon=True)
        self._thread.start()

    def _make_agent(self, yes: bool, seed: int):
        """The agent on the one planner and the one action adapter, or None."""
        from octo_mlx.agent import Agent
        from octo_mlx.agent.session import adapters_used
        from octo_mlx.domains.world import new_state
        from octo_mlx.planner import Planner, clock_for

        planners = [name for name, a in self.pool.adapters.items() if a.task == "plan"]
        if len(planners) != 1 or len(self.actions) != 1 or AGENT in self.pool.adapters:
            return None
        ((_, actor),) = self.actions.items()
        clock = clock_for(self.pool.adapters[planners[0]].config)
        planner = Planner(self.pool.view(planners[0]), self.pool.tokenizer, clock=clock, lookup=self.lookup)
        confirm = (lambda event: True) if yes else None
        return Agent(planner, actor, new_state(seed), confirm=confirm, adapters=adapters_used(self.pool))

    def models(self) -> list[tuple[str, str]]:
        """(name, task) of everything a request may name: the resident adapters, then the base."""
        agent = [(AGENT, "agent")] if self.agent is not None else []
        return [(name, a.task) for name, a in self.pool.adapters.items()] + [(BASE, "base")] + agent

    def submit(self, request: ChatRequest) -> Job:
        """Queue a request for the worker.

        Raises:
            ApiError: 404 when ``request.model`` is neither a resident adapter nor ``base``.
        """
        if request.model == AGENT and self.agent is None and AGENT not in self.pool.adapters:
            raise ApiError(
                404,
                "no agent here: it needs exactly one planner and one action adapter resident",
                "model",
                "model_not_found",
            )
        if request.model not in (BASE, AGENT) and request.model not in self.pool.adapters:
            names = ", ".join(name for name, _ in self.models())
            raise ApiError(
                404, f"no model {request.model!r} here (resident: {names})", "model", "model_not_found"
            )
        job = Job(request)
        self._jobs.put(job)
        return job

    def alive(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        """Stop the worker after the request it is running."""
        self._jobs.put(None)
        self._thread.join(timeout=30)

    # --- the worker -----------------------------------------------------------------------------

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                if not job.cancelled.is_set():
                    with self.lock:
                        self._run(job)
            except ApiError as e:
                job.put(Failed(e))
            except OctoError as e:
                job.put(Failed(ApiError(400, str(e))))
            except Exception as e:  # the server keeps serving; the request gets a 500
                job.put(Failed(ApiError(500, f"internal error: {type(e).__name__}: {e}")))
            finally:
                job.finished.set()

    def _run(self, job: Job) -> None:
        name = job.request.model
        if name == AGENT and self.agent is not None:
            return self._agent(job)  # its planner and action views switch the pool themselves
        adapter = None if name == BASE else name
        with self.pool.using(adapter):
            if name in self.actions:
                self._act(job)
            else:
                self._complete(job)

    def _limit(self, max_tokens: int):
        """The prompt limit for ``max_tokens`` (a 400 when ``max_tokens`` alone fills the context)."""
        from octo_mlx.generation import prompt_limit

        try:
            return prompt_limit(self.pool.model, self.pool.tokenizer, max_tokens)
        except OctoError as e:
            raise ApiError(400, str(e), "max_tokens", "context_length_exceeded") from None

    def _complete(self, job: Job) -> None:
        from octo_mlx.functions.dates import annotate_clock
        from octo_mlx.generation import (
            check_prompts,
            check_texts,
            encode_prompt,
            generate_stream,
        )
        from octo_mlx.planner import clock_for, plan_processors

        r = job.request
        model, tokenizer = self.pool.model, self.pool.tokenizer
        max_tokens = r.max_tokens or DEFAULT_MAX_TOKENS
        limit = self._limit(max_tokens)
        messages = [{"role": m["role"], "content": m["content"]} for m in r.messages]
        adapter = self.pool.adapters.get(r.model)
        if adapter is not None and clock_for(adapter.config):  # asked as it was taught
            messages = [
                {**m, "content": annotate_clock(m["content"])} if m["role"] == "user" else m for m in messages
            ]
        try:
            check_texts(["".join(m["content"] for m in messages)], limit, ["messages"])
            prompt = encode_prompt(tokenizer, messages)
            check_prompts([prompt], limit, ["messages"])
        except OctoError as e:
            raise ApiError(400, str(e), "messages", "context_length_exceeded") from None
        except Exception as e:  # the chat template's own refusal (roles out of order, ...)
            raise ApiError(400, f"the chat template refused the messages: {e}", "messages") from None
        job.put(Started(len(prompt)))
        pieces = generate_stream(
            model,
            tokenizer,
            prompt,
            max_tokens=max_tokens,
            greedy=r.temperature == 0,
            temperature=r.temperature,
            top_p=r.top_p,
            seed=r.seed,
            stop=r.stop,
            logits_processors=plan_processors(tokenizer),
            lookup=self.lookup,  # greedy requests only: the same text in fewer passes
        )
        try:
            for piece in pieces:
                if job.cancelled.is_set():
                    return
                if piece.generation is not None:
                    g = piece.generation
                    reply = Reply(g.text, None, g.finish_reason, g.prompt_tokens, g.gen_tokens)
                    job.put(Done(reply))
                    return
                job.tokens += 1
                if piece.text:
                    job.put(Text(piece.text))
        finally:
            pieces.close()

    def _act(self, job: Job) -> None:
        from octo_mlx.action.constrain import MIN_CALL_TOKENS
        from octo_mlx.functions.calls import NO_CALL

        r = job.request
        model = self.actions[r.model]
        if r.max_tokens is not None:
            model = dataclasses.replace(model, max_tokens=r.max_tokens)  # its grammars stay shared
        if model.constrained and model.max_tokens < MIN_CALL_TOKENS:  # before a stream's 200
            raise ApiError(
                400,
                f"'max_tokens' must be >= {MIN_CALL_TOKENS} for a call, got {model.max_tokens}",
                "max_tokens",
                "invalid_value",
            )
        self._limit(model.max_tokens)
        step, observation = action_step(r.messages)
        only = None
        if r.tools is not None:
            served = {f.name for f in model.functions()}
            only = [name for name in r.tools if name in served]
            if not only:
                raise ApiError(
                    400,
                    f"{r.model!r} serves none of the offered tools {list(r.tools)} "
                    f"(it serves: {', '.join(sorted(served))})",
                    "tools",
                )
        try:
            prompt = model.prompts([(step, observation)])[0]
        except OctoError as e:
            raise ApiError(400, str(e), "messages", "context_length_exceeded") from None
        job.put(Started(len(prompt)))
        result = model.act_many([(step, observation)], only=only)[0]
        g = result.generation
        job.tokens = g.gen_tokens
        if result.call is not None and not result.call.is_none:
            call = tool_call(result.call.function, result.call.arguments_json())
            reply = Reply(None, [call], "tool_calls", g.prompt_tokens, g.gen_tokens)
        elif result.call is not None:  # the model says no function applies
            reply = Reply(NO_CALL, None, "stop", g.prompt_tokens, g.gen_tokens)
        else:
            p = result.problem
            reply = Reply(
                result.text,
                None,
                "length" if g.finish_reason == "length" else "stop",
                g.prompt_tokens,
                g.gen_tokens,
                {"kind": p.kind, "message": p.message},
            )
        if reply.content:  # as streamed text too, so a stream needs no case of its own
            job.put(Text(reply.content))
        job.put(Done(reply))

    def _agent(self, job: Job) -> None:
        from octo_mlx.agent.events import StepResult

        query = last_user_text(job.request.messages)
        job.put(Started(0))
        pieces: list[str] = []

        def on_event(event) -> None:  # each step as it ends: a stream shows it, a gone client stops the run
            if isinstance(event, StepResult):
                o = event.observation
                outcome = "ok" if event.status == "ok" else f"{event.status}: {o.get('error')}"
                call = json.dumps({"function": o.get("function"), "arguments": o.get("arguments")})
                pieces.append(f"{event.index}. {event.step} -> {call} -> {outcome}\n")
                job.put(Text(pieces[-1]))

        trace = self.agent.run(query, on_event, cancel=job.cancelled.is_set)
        prompt, generated = trace.token_counts()
        job.tokens = generated
        pieces.append(f"{trace.status}: {len(trace.steps)} step(s)")
        job.put(Text(pieces[-1]))
        job.put(Done(Reply("".join(pieces), None, "stop", prompt, generated, agent=trace.to_dict())))
