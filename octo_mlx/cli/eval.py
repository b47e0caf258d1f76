"""`octo-mlx eval`: plan a test split, judge the plans, report with intervals; or, on an action
dataset, decode each step's call and score it against the gold call."""

from __future__ import annotations

from pathlib import Path

from octo_mlx.cli.registry import above, at_least, between, check_numbers, command


def _planner_args(p):
    p.add_argument(
        "--model", default=None, help="model folder (default: the adapter's base, else the default model)"
    )
    p.add_argument("--adapter", default=None, help="adapter folder from `octo-mlx train` or mlx_lm.lora")
    p.add_argument(
        "--force", action="store_true", help="use the adapter on a base other than its own (warns)"
    )
    p.add_argument(
        "--data", required=True, help="the test split, DIR/test.jsonl (DIR/train.jsonl trains the resolver)"
    )
    p.add_argument(
        "--domain",
        action="append",
        default=None,
        metavar="NAME_OR_SPEC",
        help="domains to check the data against (default: the dataset manifest's)",
    )
    p.add_argument(
        "--max-tokens",
        type=int,
        default=None,
        help="most tokens per plan (default 128; 5 steps: ~60-80) or per call (action task: default 384)",
    )
    p.add_argument("--limit", type=int, default=None, help="only the first N test examples")
    p.add_argument("--resolver-data", default=None, help="train split for the step resolver")
    p.add_argument("--seed", type=int, default=0)


def _eval_args(p):
    _planner_args(p)
    p.add_argument("--judge", default="deterministic", choices=["deterministic", "llm", "both"])
    p.add_argument("--batch-size", type=int, default=16, help="queries decoded together")
    p.add_argument("--sample", action="store_true", help="sample at --temperature instead of greedy decoding")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument(
        "--no-step-budget",
        action="store_true",
        help="let plans run past 5 steps and repeat a step (to measure what the budget changes)",
    )
    p.add_argument("--out", default=None, help="write the JSON report here")
    p.add_argument("--plots", default=None, metavar="DIR", help="write PNG plots here")
    j = p.add_argument_group("LLM judge (any OpenAI-compatible endpoint)")
    j.add_argument("--base-url", default=None, help="e.g. http://127.0.0.1:8080/v1")
    j.add_argument("--judge-model", default=None, help="model name there (mlx_lm.server: default_model)")
    j.add_argument("--api-key-env", default="OPENAI_API_KEY", help="env var holding the key (never stored)")
    j.add_argument(
        "--judge-cache", default=None, help="answer cache (default: judge/ in the cache root, $OCTO_MLX_HOME)"
    )
    j.add_argument("--judge-concurrency", type=int, default=4)
    j.add_argument("--judge-timeout", type=float, default=60.0)
    j.add_argument("--judge-retries", type=int, default=4)
    j.add_argument("--no-reference", action="store_true", help="do not show the judge the gold plan")
    t = p.add_argument_group("action model (an action dataset: its manifest says task 'action')")
    t.add_argument(
        "--task",
        choices=["plan", "action"],
        default=None,
        help="what the split tests (default: its manifest's task)",
    )
    t.add_argument(
        "--unconstrained",
        action="store_true",
        help="also decode every step without the call grammar and report its rates beside",
    )
    t.add_argument(
        "--active",
        choices=["model", "example"],
        default=None,
        help="functions a step may call: every domain the model serves (default) or the step's own",
    )


@command(
    "eval",
    "octo_mlx.eval.run:run_eval",
    "plan a test split and judge the plans, or score an action model's calls; report with intervals",
    _eval_args,
)
def _eval(a):
    from octo_mlx import ui
    from octo_mlx.eval import run
    from octo_mlx.eval.judges import LLMJudgeConfig, default_cache

    check_numbers(
        a,
        max_tokens=at_least(1),
        limit=at_least(1),
        seed=between(0, 2**64 - 1),
        batch_size=at_least(1),
        temperature=at_least(0),
        judge_concurrency=at_least(1),
        judge_timeout=above(0),
        judge_retries=at_least(0),
    )
    if (a.task or _task_of(a.data)) == "action":
        if a.no_step_budget:
            from octo_mlx.errors import OctoError

            raise OctoError("is for plans, not the action task", "--no-step-budget")
        return _eval_action(a)
    for flag, given in (("--unconstrained", a.unconstrained), ("--active", a.active is not None)):
        if given:
            from octo_mlx.errors import OctoError

            raise OctoError("is for the action task (an action dataset, or --task action)", flag)
    llm = None
    if a.judge != "deterministic":
        if not a.base_url or not a.judge_model:
            from octo_mlx.errors import OctoError

            raise OctoError("--judge llm/both needs --base-url and --judge-model", "--judge")
        llm = LLMJudgeConfig(
            base_url=a.base_url,
            model=a.judge_model,
            api_key_env=a.api_key_env,
            timeout=a.judge_timeout,
            max_retries=a.judge_retries,
            concurrency=a.judge_concurrency,
            cache_dir=Path(a.judge_cache) if a.judge_cache else default_cache(),
            with_reference=not a.no_reference,
        )
    config = run.EvalConfig(
        data=a.data,
        model=a.model,
        adapter=a.adapter,
        force=a.force,
        judge=a.judge,
        batch_size=a.batch_size,
        max_tokens=128 if a.max_tokens is None else a.max_tokens,
        greedy=not a.sample,
        temperature=a.temperature,
        seed=a.seed,
        limit=a.limit,
        resolver_data=a.resolver_data,
        domains=tuple(a.domain) if a.domain else None,
        llm=llm,
        step_budget=not a.no_step_budget,
    )
    run.check_outputs(config, a.out, a.plots)  # before the work: a bad path must not lose it
    with ui.status("evaluating: loading, generating plans, judging"):
        report = run.run_eval(config)
    out = run.write_report(report, a.out) if a.out else None
    plots = []
    if a.plots:
        from octo_mlx.eval.plots import plot_report

        plots = plot_report(report.metrics, a.plots, Path(report.config["model_path"]).name)
    ui.show_eval(report, out, plots)


def _task_of(data: str) -> str:
    """The task of the dataset folder holding ``data`` (its manifest's; "plan" without one)."""
    from octo_mlx.data import dataset_task

    return dataset_task(Path(data).parent)


def _eval_action(a):
    """`octo-mlx eval` on an action split: octo_mlx.eval.action.run_action_eval."""
    from octo_mlx import ui
    from octo_mlx.errors import OctoError
    from octo_mlx.eval import action

    planner_only = (
        ("--judge", a.judge != "deterministic"),
        ("--resolver-data", a.resolver_data is not None),
        ("--sample", a.sample),
        ("--base-url", a.base_url is not None),
        ("--judge-model", a.judge_model is not None),
    )
    for flag, given in planner_only:
        if given:
            raise OctoError(
                "is for planner evaluations; an action model's calls are scored against gold calls", flag
            )
    config = action.ActionEvalConfig(
        data=a.data,
        adapter=a.adapter,
        model=a.model,
        force=a.force,
        limit=a.limit,
        domains=tuple(a.domain) if a.domain else None,
        active=a.active or "model",
        unconstrained=a.unconstrained,
        **({} if a.max_tokens is None else {"max_tokens": a.max_tokens}),
    )
    action.check_action_outputs(a.out, a.plots)  # before the work: a bad path must not lose it
    with ui.status("evaluating the action model: loading, decoding every step at batch 1"):
        report = action.run_action_eval(config)
    out = action.write_action_report(report, a.out) if a.out else None
    plots = []
    if a.plots:
        from octo_mlx.eval.plots import plot_action_report

        name = "/".join(Path(a.adapter or a.model).resolve().parts[-2:])
        plots = plot_action_report(report.metrics, a.plots, name)
    ui.show_action_eval(report, out, plots)
