"""`octo-mlx eval`: plan a test split, judge the plans, report with intervals."""

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
    p.add_argument("--max-tokens", type=int, default=128, help="most tokens per plan (5 steps: ~60-80)")
    p.add_argument("--limit", type=int, default=None, help="only the first N test examples")
    p.add_argument("--resolver-data", default=None, help="train split for the step resolver")
    p.add_argument("--seed", type=int, default=0)


def _eval_args(p):
    _planner_args(p)
    p.add_argument("--judge", default="deterministic", choices=["deterministic", "llm", "both"])
    p.add_argument("--batch-size", type=int, default=16, help="queries decoded together")
    p.add_argument("--sample", action="store_true", help="sample at --temperature instead of greedy decoding")
    p.add_argument("--temperature", type=float, default=0.7)
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


@command(
    "eval",
    "octo_mlx.eval.run:run_eval",
    "plan a test split, judge the plans, report with intervals",
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
        max_tokens=a.max_tokens,
        greedy=not a.sample,
        temperature=a.temperature,
        seed=a.seed,
        limit=a.limit,
        resolver_data=a.resolver_data,
        domains=tuple(a.domain) if a.domain else None,
        llm=llm,
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
