"""Teacher synthesis: the paper's query -> plan -> judge recipe over an OpenAI-compatible API.

The plan reply carries every step's gold call; the calls are checked against their schemas and
executed in a seeded simulated world before the judge is paid, a step that acts on the previous
result getting its arguments from one more request that shows that result
(octo_mlx.synth.gold_calls). Accepted plans carry ``calls`` and ``world`` like offline ones;
with ``task="action"`` their steps are written as action-model examples instead.

A run is deterministic given the teacher's replies: tasks are planned from the seed, every
request carries a seed derived from (seed, task, attempt, stage), and the order-dependent
decision (is this query a duplicate of an earlier one?) is taken in task order, round by round
(round r = the r-th attempt of every task still without an accepted example). So a run that
was killed, or that went through timeouts and 5xx, ends with the same dataset as an untroubled
run, and replies already paid for come from the cache.

Layout of OUT: train/valid/test.jsonl + dataset.json (written at the end, whole: built beside
OUT with OUT/.synth carried over, then swapped in), and OUT/.synth/: run.json (the settings),
accepted.jsonl and rejected.jsonl (one fsync'd line per task attempt, with reasons),
summary.json, cache/ (unless --cache-dir). A folder holding only .synth is a run to resume; with
``--overwrite`` a run with other settings starts over (the request cache stays: its keys are
exact requests).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from octo_mlx.data import IRRELEVANT_STEP, PlanExample, split_examples, write_dataset
from octo_mlx.errors import OctoError
from octo_mlx.files import RecordLog, read_json_object, write_atomic
from octo_mlx.llm import ChatClient, Endpoint, EndpointError, RequestCache, Usage, scrub
from octo_mlx.synth import prompts as P
from octo_mlx.synth.checks import Deduper, Rejection, check_candidate
from octo_mlx.synth.config import ProgressEvent, SynthConfig, SynthReport
from octo_mlx.synth.gold_calls import Gold, no_function_gold, run_plan, world_seed

# Reply budgets in tokens: a query is one sentence (~40 tokens), a 5-step plan in JSON ~250
# plus ~40 per call's arguments (escaped JSON text), a dependent call's arguments ~60, a verdict
# ~60; the margins keep a verbose teacher from being cut mid-JSON.
MAX_TOKENS = {"query": 200, "plan": 1000, "call": 300, "judge": 200}
WORK = ".synth"
# What the records hold: 2 = plans with their gold calls, world and dependence flags. A folder
# whose run.json names another (or none: written before calls were asked for) is another run.
RECORDS = 2
# Settings that change the data: a resumed run must match them (others, e.g. concurrency, may change).
RUN_KEYS = (
    "domains",
    "n",
    "seed",
    "steps",
    "irrelevant",
    "multi_domain",
    "base_url",
    "model",
    "judge_model",
    "judge_base_url",
    "attempts",
    "temperature",
    "fractions",
)


@dataclass(frozen=True)
class Candidate:
    """A (query, plan) the teacher wrote for one task attempt, before the judge; ``gold``: its
    calls executed in the task attempt's world (None until they are)."""

    query: str
    steps: tuple[str, ...]
    functions: tuple[str, ...]
    gold: Gold | None = None


class _Run:
    """State of one run: endpoints, logs, tools per task and counters."""

    def __init__(self, config: SynthConfig, domains: list, progress: Callable | None):
        self.config, self.progress = config, progress
        self.out = Path(config.out)
        self.work = self.out / WORK
        self.work.mkdir(parents=True, exist_ok=True)
        self._check_settings()
        self.cache = RequestCache(config.cache_dir or self.work / "cache")
        self.usage = Usage()
        key = config.api_key()
        self.secrets = [key]
        timing = dict(
            timeout=config.timeout,
            max_retries=config.max_retries,
            backoff=config.backoff,
            response_format=config.response_format,
        )
        self.teacher = ChatClient(
            Endpoint(config.base_url, config.model, key, **timing), self.cache, self.usage
        )
        judge_url, judge_model = config.judge_base_url or config.base_url, config.judge_model or config.model
        if (judge_url, judge_model) == (config.base_url, config.model):
            self.judge = self.teacher
        else:
            self.judge = ChatClient(Endpoint(judge_url, judge_model, key, **timing), self.cache, self.usage)
        self.domains = {d.name: d for d in domains}
        self.owner = {f: d.name for d in domains for f in d.names}
        self.functions = {f.name: f for d in domains for f in d.functions}
        self.accepted_log = RecordLog(self.work / "accepted.jsonl")
        self.rejected_log = RecordLog(self.work / "rejected.jsonl")
        self.memo: dict[tuple[int, int], dict] = {}
        for rec in self.accepted_log.load() + self.rejected_log.load():
            self.memo[(rec["task"], rec["attempt"])] = rec
        self.resumed = len(self.memo)
        self.counts = Counter()  # accepted / rejected attempts in this run (incl. resumed)
        self.lock = threading.Lock()

    def _check_settings(self) -> None:
        path = self.work / "run.json"
        now = {k: v for k, v in self.config.public().items() if k in RUN_KEYS}
        now = json.loads(json.dumps({**now, "records": RECORDS}))  # tuples -> lists, as stored
        if path.exists():
            before = read_json_object(path)
            diff = sorted(k for k in now if before.get(k) != now.get(k))
            if not diff:
                return
            if not self.config.overwrite:
                raise OctoError(
                    f"holds a run with other settings ({', '.join(diff)}); resume with the same "
                    "settings, choose another --out, or pass --overwrite to start over",
                    self.work / "run.json",
                )
            for name in ("accepted.jsonl", "rejected.jsonl", "summary.json"):  # that run's records
                (self.work / name).unlink(missing_ok=True)
        write_atomic(path, json.dumps(now, indent=2) + "\n")

    # --- one task attempt ---------------------------------------------------------------------

    def tools(self, task: P.Task) -> list[dict]:
        return [t for d in task.domains for t in self.domains[d].to_tools()]

    def offered(self, task: P.Task) -> dict[str, set[str]] | None:
        return None if task.irrelevant else {d: set(self.domains[d].names) for d in task.domains}

    def _ask(
        self, client: ChatClient, stage: str, task: P.Task, attempt: int, messages, schema, temp, part=None
    ):
        """One request; ``part`` tells apart several of one stage (the call of step k)."""
        extra = () if part is None else (part,)
        seed = P.derive_seed(self.config.seed, task.index, attempt, stage, *extra)
        return client.complete(
            messages,
            temperature=temp,
            seed=seed,
            max_tokens=MAX_TOKENS[stage],
            schema_name=stage,
            schema=schema,
            attempt=attempt,
        )

    def write(self, task: P.Task, attempt: int) -> tuple[Candidate | None, Rejection | None]:
        """Ask the teacher for a query, then (unless irrelevant) its plan with every step's call;
        check the plan and execute its calls in the attempt's seeded world (asking for the
        arguments of each step that acts on the previous result). Returns the candidate (None
        when no query or plan could be read) and the first problem (None: on to the judge)."""
        tools = self.tools(task)
        style = P.style_for(self.config.seed, task, attempt)
        reply = self._ask(
            self.teacher,
            "query",
            task,
            attempt,
            P.query_messages(task, tools, style),
            P.QUERY_SCHEMA,
            self.config.temperature,
        )
        try:
            query = P.parse_query_reply(reply.text)
        except P.ReplyError as e:
            return None, Rejection("query", "query not JSON", _why(e, reply))
        seed = world_seed(self.config.seed, task.index, attempt)
        if task.irrelevant:
            cand = Candidate(query, (IRRELEVANT_STEP,), task.functions, no_function_gold(seed))
            return cand, check_candidate(query, cand.steps, cand.functions, task.n_steps, None)
        reply = self._ask(
            self.teacher, "plan", task, attempt, P.plan_messages(task, tools, query), P.PLAN_SCHEMA, 0.0
        )
        try:
            plan = P.parse_plan_reply(reply.text)
        except P.ReplyError as e:
            return None, Rejection("plan", "plan not JSON", _why(e, reply))
        cand = Candidate(query, tuple(s.step for s in plan), tuple(s.function for s in plan))
        problem = check_candidate(query, cand.steps, cand.functions, task.n_steps, self.offered(task))
        if problem:
            return cand, problem

        def ask(k: int, step: P.PlanStep, observation: dict):
            tool = self.functions[step.function].to_tool()
            msgs = P.call_messages(tool, step.step, observation)
            reply = self._ask(self.teacher, "call", task, attempt, msgs, P.CALL_SCHEMA, 0.0, part=k)
            try:
                return P.parse_call_reply(reply.text)
            except P.ReplyError as e:
                raise P.ReplyError(_why(e, reply)) from None

        gold = run_plan(self.functions, plan, seed, ask)
        if isinstance(gold, Rejection):
            return cand, gold
        return replace(cand, gold=gold), None

    def judge_and_record(self, task: P.Task, attempt: int, cand: Candidate) -> dict:
        """Ask the judge; append the accepted or rejected record."""
        tools = self.tools(task)
        gold = cand.gold
        msgs = P.judge_messages(
            task, tools, cand.query, cand.steps, cand.functions, gold.calls, gold.dependent
        )
        reply = self._ask(self.judge, "judge", task, attempt, msgs, P.JUDGE_SCHEMA, 0.0)
        try:
            valid, reason = P.parse_judge_reply(reply.text)
        except P.ReplyError as e:
            return self.record(task, attempt, cand, Rejection("judge", "judge not JSON", _why(e, reply)))
        if not valid:
            return self.record(
                task, attempt, cand, Rejection("judge", "judge: invalid", reason or "no reason given")
            )
        return self.record(task, attempt, cand, None)

    def record(self, task: P.Task, attempt: int, cand: Candidate | None, rej: Rejection | None) -> dict:
        rec: dict[str, Any] = {"task": task.index, "attempt": attempt}
        if cand is not None:
            rec.update(query=cand.query, steps=list(cand.steps), functions=list(cand.functions))
        if rej is None:
            rec["example"] = self.example(task, cand).to_record()
            rec["dependent"] = list(cand.gold.dependent)  # the action examples' observations
            self.accepted_log.append(rec)
        else:
            rec.update(stage=rej.stage, category=rej.category, reason=scrub(rej.reason, self.secrets))
            self.rejected_log.append(rec)
        self.count(rec)
        return rec

    def count(self, rec: dict) -> None:
        with self.lock:
            self.tally(rec)
            event = ProgressEvent(
                self.config.n,
                self.counts["finished"],
                self.counts["accepted"],
                self.counts["rejected"],
                self.usage.paid_requests,
                self.usage.cached_requests,
            )
        if self.progress:
            self.progress(event)

    def tally(self, rec: dict) -> None:
        """Count one outcome; a task is finished when accepted or out of attempts."""
        ok = "example" in rec
        self.counts["accepted" if ok else "rejected"] += 1
        self.counts["finished"] += ok or rec["attempt"] >= self.config.attempts - 1

    def example(self, task: P.Task, cand: Candidate) -> PlanExample:
        if task.irrelevant:
            domains = task.domains
        else:  # the domains the gold functions come from, in first-use order
            domains = tuple(dict.fromkeys(self.owner[f] for f in cand.functions))
        gen = f"teacher:{self.config.model}"
        return PlanExample(
            f"teacher-{task.index:06d}",
            cand.query,
            cand.steps,
            cand.functions,
            domains,
            gen,
            cand.gold.calls,
            cand.gold.world,
        )


def _why(e: Exception, reply) -> str:
    cut = " (cut at max_tokens)" if reply.finish_reason == "length" else ""
    return f"{e}{cut}"


# --- the run ------------------------------------------------------------------------------------


def run_teacher(config: SynthConfig, domains: list, progress: Callable | None = None) -> SynthReport:
    """Synthesize with a teacher LLM; resumable: rerun the same command after a kill.

    Args:
        config: the run settings (base_url and model set).
        domains: the loaded Domain objects.
        progress: called with a ProgressEvent after each task attempt (from worker threads).

    Raises:
        OctoError: settings differ from the run already in ``config.out``, or requests still
            failed after all retries (records are kept; rerun to resume).
    """
    t0 = time.perf_counter()
    run = _Run(config, domains, progress)
    tasks = P.plan_tasks(domains, config.n, config.seed, config.steps, config.irrelevant, config.multi_domain)
    accepted: dict[int, dict] = {}
    dedup = Deduper()
    pending = [t.index for t in tasks]
    for rec in run.memo.values():  # resumed outcomes count in the progress totals
        run.tally(rec)
    if progress and run.memo:
        c = run.counts
        progress(ProgressEvent(config.n, c["finished"], c["accepted"], c["rejected"], 0, 0))
    with ThreadPoolExecutor(max_workers=config.concurrency) as pool:
        try:
            for attempt in range(config.attempts):
                if not pending:
                    break
                pending = _round(run, pool, tasks, pending, attempt, dedup, accepted)
        except EndpointError as e:
            pool.shutdown(wait=True, cancel_futures=True)
            saved = run.counts["accepted"] + run.counts["rejected"]
            raise OctoError(
                f"{scrub(str(e), run.secrets)}; {saved} task outcomes are saved: rerun the "
                "same command to resume",
                config.out,
            ) from None
    examples = [PlanExample.from_record(accepted[i]["example"]) for i in sorted(accepted)]
    splits = split_examples(examples, config.fractions, config.seed)
    extra: dict[str, Any] = {"config": config.public()}
    write = write_dataset
    if config.task == "action":  # the accepted plans' steps, each in its plan's split
        from octo_mlx.action_data import write_dataset as write
        from octo_mlx.synth.gold_calls import action_splits

        dependent = {accepted[i]["example"]["id"]: accepted[i]["dependent"] for i in accepted}
        extra["plans"] = len(examples)
        splits = action_splits(splits, dependent, run.functions)
    report = _report(run, config, splits, len(examples), t0)
    write_atomic(run.work / "summary.json", json.dumps(asdict(report), indent=2) + "\n")
    write(  # whole: the new folder carries .synth (records, cache) over
        config.out,
        splits,
        f"teacher:{config.model}",
        config.seed,
        [d.name for d in domains],
        extra={**extra, "summary": asdict(report)},
        keep=(WORK,),
    )
    return report


def _round(
    run: _Run, pool, tasks, pending: list[int], attempt: int, dedup: Deduper, accepted: dict
) -> list[int]:
    """One attempt of every pending task; returns the tasks still without an accepted example."""
    writes: dict[int, Future] = {
        i: pool.submit(run.write, tasks[i], attempt) for i in pending if (i, attempt) not in run.memo
    }
    judged: dict[int, Future] = {}
    outcome: dict[int, dict] = {}
    for i in pending:  # in task order: the duplicate check must not depend on timing
        task = tasks[i]
        rec = run.memo.get((i, attempt))
        if rec is not None:  # resumed: replay its effect on the duplicate check
            if rec.get("stage") not in ("query", "plan", "check", "call"):
                dedup.add(rec["query"], f"task {i}")
            outcome[i] = rec
            continue
        cand, problem = writes[i].result()  # raises EndpointError: stop the run
        if problem is None:  # in task order: only candidates that passed every check count as seen
            problem = dedup.find(cand.query)
        if problem:
            outcome[i] = run.record(task, attempt, cand, problem)
            continue
        dedup.add(cand.query, f"task {i}")
        judged[i] = pool.submit(run.judge_and_record, task, attempt, cand)
    for i, fut in judged.items():
        outcome[i] = fut.result()
    still = []
    for i in pending:
        if "example" in outcome[i]:
            accepted[i] = outcome[i]
        else:
            still.append(i)
    return still


def _report(run: _Run, config: SynthConfig, splits: dict, accepted: int, t0: float) -> SynthReport:
    """The summary: ``accepted`` plans (the unit ``requested`` and the rejections count), ``splits``
    the examples written (with --task action: the plans' steps)."""
    rejected = Counter(r["category"] for r in run.rejected_log.load())
    u = run.usage
    cost = None
    if config.price_in is not None or config.price_out is not None:
        cost = (
            (config.price_in or 0) * u.prompt_tokens + (config.price_out or 0) * u.completion_tokens
        ) / 1e6
    return SynthReport(
        out=config.out,
        generator=f"teacher:{config.model}",
        requested=config.n,
        accepted=accepted,
        splits={k: len(v) for k, v in splits.items()},
        rejected=dict(rejected.most_common()),
        prompt_tokens=u.prompt_tokens,
        completion_tokens=u.completion_tokens,
        paid_requests=u.paid_requests,
        cached_requests=u.cached_requests,
        retries=dict(u.retries),
        resumed_records=run.resumed,
        estimated_cost_usd=cost,
        seconds=time.perf_counter() - t0,
    )
