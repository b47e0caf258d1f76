"""`octo-mlx eval`, `octo-mlx bench plan` and `octo-mlx plan`."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from octo_mlx.cli import command

# --- eval / bench plan ------------------------------------------------------------------------


def _planner_args(p):
    p.add_argument(
        "--model", default=None, help="model folder (default: the adapter's base, else the default model)"
    )
    p.add_argument("--adapter", default=None, help="adapter folder from `octo-mlx train` or mlx_lm.lora")
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
    j.add_argument("--judge-cache", default=None, help="answer cache (default ~/.cache/octo-mlx/judge)")
    j.add_argument("--judge-concurrency", type=int, default=4)
    j.add_argument("--judge-timeout", type=float, default=60.0)
    j.add_argument("--judge-retries", type=int, default=4)
    j.add_argument("--no-reference", action="store_true", help="do not show the judge the gold plan")


@command(
    "eval",
    "octo_mlx.evaluate:run_eval",
    "plan a test split, judge the plans, report with intervals",
    _eval_args,
)
def _eval(a):
    from octo_mlx import ui
    from octo_mlx.evaluate import EvalConfig, run_eval, write_report
    from octo_mlx.judges import DEFAULT_CACHE, LLMJudgeConfig

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
            cache_dir=Path(a.judge_cache) if a.judge_cache else DEFAULT_CACHE,
            with_reference=not a.no_reference,
        )
    config = EvalConfig(
        data=a.data,
        model=a.model,
        adapter=a.adapter,
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
    with ui.status("evaluating: loading, generating plans, judging"):
        report = run_eval(config)
    out = write_report(report, a.out) if a.out else None
    plots = []
    if a.plots:
        from octo_mlx.plots import plot_report

        plots = plot_report(report.metrics, a.plots, Path(report.config["model_path"]).name)
    ui.show_eval(report, out, plots)


def _bench_plan_args(p):
    p.add_argument("--data", required=True, help="the test split, DIR/test.jsonl (DIR/train.jsonl: shots)")
    p.add_argument("--model", default=None, help="the base model (default: the adapter's base, else default)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--adapter", default=None, help="the fine-tuned planner as an adapter folder")
    g.add_argument("--planner-model", default=None, help="the fine-tuned planner as a full model folder")
    p.add_argument("--n", type=int, default=20, help="test queries timed (default 20)")
    p.add_argument("--shots", type=int, default=3, help="worked examples in the in-context prompt")
    p.add_argument("--tools", default="json", choices=["json", "text"], help="function list format")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--warmup", type=int, default=1, help="untimed queries per side first")
    p.add_argument("--domain", action="append", default=None, metavar="NAME_OR_SPEC")
    p.add_argument("--out", default=None, help="write the JSON result here")
    p.add_argument(
        "--markdown",
        default=None,
        metavar="FILE",
        help="write/replace the plan section of this file (e.g. BENCHMARKS.md)",
    )
    p.add_argument("--note", default="", help="a sentence for the markdown: what planner, how trained")


@command(
    "bench plan",
    "octo_mlx.bench_plan:run_bench_plan",
    "latency: fine-tuned planner (bare query) vs base model with every function in context",
    _bench_plan_args,
)
def _bench_plan(a):
    import json

    from octo_mlx import ui
    from octo_mlx.bench_plan import BenchPlanConfig, render_markdown, run_bench_plan, write_markdown_section

    config = BenchPlanConfig(
        data=a.data,
        model=a.model,
        adapter=a.adapter,
        planner_model=a.planner_model,
        n=a.n,
        shots=a.shots,
        tools=a.tools,
        max_tokens=a.max_tokens,
        warmup=a.warmup,
        domains=tuple(a.domain) if a.domain else None,
    )
    with ui.status("bench plan: both sides, query by query"):
        result = run_bench_plan(config)
    if a.out:
        from pathlib import Path

        Path(a.out).write_text(json.dumps(result.to_json(), indent=2) + "\n")
    if a.markdown:
        command = "octo-mlx " + shlex.join(sys.argv[1:])
        write_markdown_section(a.markdown, render_markdown(result, command, a.note))
    ui.show_bench_plan(result)

# --- plan -----------------------------------------------------------------------------------


def _plan_args(p):
    p.add_argument("queries", nargs="*", metavar="QUERY", help="requests to plan (one plan each)")
    p.add_argument("--model", help="model folder (default: the adapter's base, else the default model)")
    p.add_argument("--adapter", help="adapter folder from `octo-mlx train`")
    p.add_argument("--max-tokens", type=int, default=128, help="most tokens per plan")


@command("plan", "octo_mlx.planner:generate_plans", "break requests into steps with a planner", _plan_args)
def _plan(a):
    from octo_mlx import ui
    from octo_mlx.errors import OctoError
    from octo_mlx.evaluate import load_planner
    from octo_mlx.planner import Planner

    if not a.queries:
        raise OctoError("give at least one QUERY to plan")
    model, tokenizer, _ = load_planner(a.model, a.adapter)
    ui.show_plans(a.queries, Planner(model, tokenizer, max_tokens=a.max_tokens).plan_many(a.queries))
