"""`octo-mlx data ...`: planner and action datasets: synthesize, validate, count, export.

A folder whose manifest says ``"task": "action"`` is an action dataset (octo_mlx.action_data);
any other is a planner dataset (octo_mlx.data)."""

from __future__ import annotations

from octo_mlx.cli.registry import above, at_least, between, check_numbers, command


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
    from octo_mlx.domains.catalog import load_domains

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


def _reader(folder):
    """The module that reads ``folder``: octo_mlx.action_data for an action dataset, else octo_mlx.data."""
    from octo_mlx import data

    if data.dataset_task(folder) == "action":
        from octo_mlx import action_data

        return action_data
    return data


@command(
    "data validate",
    "octo_mlx.data:validate_dir",
    "report every bad line as file:line: reason",
    _data_dir_args,
)
def _data_validate(a):
    from octo_mlx import data, ui

    domains = _load_domains_arg(a.domain)
    problems = _reader(_dataset_dir(a)).validate_dir(a.dir, domains)
    ui.show_problems(problems, data.resolve_domains(a.dir, domains))
    return 1 if problems else 0


@command(
    "data stats", "octo_mlx.data:stats", "counts by split, step count, function and domain", _data_dir_args
)
def _data_stats(a):
    from octo_mlx import ui

    ui.show_data_stats(_reader(_dataset_dir(a)).stats(a.dir, _load_domains_arg(a.domain)))


def _synth_args(p):
    from octo_mlx.data import BALANCES

    p.add_argument(
        "--domain",
        action="append",
        default=None,
        metavar="NAME_OR_SPEC",
        help="bundled domain or JSON/YAML spec; repeat for several (default: android)",
    )
    p.add_argument("--n", type=int, default=1000, help="examples requested (default 1000)")
    p.add_argument("--out", default="data/planner", help="output folder (must not exist or be empty)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace an --out folder that holds something, whole"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", default="1,2,3,4,5", help="step counts, '1,2,3' or weighted '1:0.1,2:0.9'")
    p.add_argument("--irrelevant", type=float, default=0.0, help="share of queries needing no function")
    p.add_argument("--multi-domain", action="store_true", help="workflows mixing the domains' functions")
    p.add_argument("--offline", action="store_true", help="no network (the default without --base-url)")
    p.add_argument("--holdout", type=float, default=None, help="offline: share of phrasing families for test")
    p.add_argument(
        "--replan",
        type=float,
        default=0.0,
        help="offline plans: share of multi-step plans that also teach re-planning after a failed step",
    )
    p.add_argument(
        "--generic-phrasing",
        action="store_true",
        help="offline: phrase every domain from its functions' specs alone, even a bundled one "
        "with a hand-written phrase bank (to measure the generic synthesizer)",
    )
    p.add_argument(
        "--balance",
        choices=BALANCES,
        default=None,
        help="offline: which share examples equally, one domain after another (plans' default) or "
        "each function, domains weighted by their function count (action data's default)",
    )
    p.add_argument(
        "--task",
        default="plan",
        choices=["plan", "action"],
        help="plan: planner examples with gold calls (default); action: action-model examples "
        "(step [+ previous observation] -> call): --n of them offline, the steps of --n plans "
        "with a teacher",
    )
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
    "octo_mlx.synth.run:synthesize",
    "make a planner dataset (offline or with a teacher LLM)",
    _synth_args,
)
def _data_synth(a):
    from octo_mlx import ui
    from octo_mlx.synth import run
    from octo_mlx.synth.config import SynthConfig, parse_steps

    check_numbers(
        a,
        n=at_least(1),
        irrelevant=between(0, 1, high_open=True),
        holdout=between(0, 1),
        replan=between(0, 1),
        concurrency=at_least(1),
        attempts=at_least(1),
        temperature=at_least(0),
        timeout=above(0),
        max_retries=at_least(0),
        price_in=at_least(0),
        price_out=at_least(0),
    )
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
        overwrite=a.overwrite,
        task=a.task,
        replan=a.replan,
        generic_phrasing=a.generic_phrasing,
        balance=a.balance,
    )
    with ui.synth_progress(config.n) as progress:
        report = run.synthesize(config, progress)
    ui.show_synth_report(report)


def _export_args(p):
    p.add_argument("dir", nargs="?", help="dataset folder")
    p.add_argument("--to", required=False, help="folder for DatasetDict.save_to_disk")
    p.add_argument("--overwrite", action="store_true", help="replace a --to folder that holds something")


@command(
    "data export-hf",
    "octo_mlx.data:export_hf",
    "save a dataset folder as a Hugging Face DatasetDict",
    _export_args,
)
def _data_export_hf(a):
    from octo_mlx import ui
    from octo_mlx.errors import OctoError

    if not a.to:
        raise OctoError("give --to FOLDER for the saved DatasetDict")
    ui.show_exported_hf(_reader(_dataset_dir(a)).export_hf(a.dir, a.to, overwrite=a.overwrite), a.to)


def _import_args(p):
    p.add_argument(
        "source", nargs="?", help="a .jsonl/.json/.parquet file, a folder of them, or a dataset name"
    )
    p.add_argument(
        "--format",
        default="auto",
        choices=["auto", "openai", "xlam", "hermes", "sharegpt", "glaive", "toolace", "taskbench"],
        help="the source's format (default: told from its first row)",
    )
    p.add_argument("--out", required=False, help="output folder: tools.json, planner/, action/, import.json")
    p.add_argument("--name", default="imported", help="the domain name of the imported tools")
    p.add_argument(
        "--tools", default=None, help="TaskBench: the tool graph (default: tool_desc.json beside it)"
    )
    p.add_argument("--seed", type=int, default=0, help="the train/valid/test shuffle")
    p.add_argument("--strict", action="store_true", help="fail when any row is dropped")
    p.add_argument("--overwrite", action="store_true", help="replace an --out folder that holds something")
    p.add_argument("--hf-config", default=None, help="a Hugging Face dataset's configuration")
    p.add_argument("--hf-split", default=None, help="a Hugging Face dataset's split (default: every split)")


@command(
    "data import",
    "octo_mlx.imports.run:import_dataset",
    "read a function-calling dataset (OpenAI, xLAM, Hermes, ShareGPT, Glaive, ToolACE, TaskBench) "
    "into planner and action data",
    _import_args,
)
def _data_import(a):
    from octo_mlx import ui
    from octo_mlx.errors import OctoError
    from octo_mlx.imports.run import import_dataset

    if not a.source or not a.out:
        raise OctoError("give the source and --out, e.g. `octo-mlx data import calls.jsonl --out data/mine`")
    check_numbers(a, seed=between(0, 2**32 - 1))
    ui.show_import(
        import_dataset(
            a.source,
            a.out,
            a.format,
            a.name,
            a.tools,
            a.seed,
            overwrite=a.overwrite,
            strict=a.strict,
            hf_config=a.hf_config,
            hf_split=a.hf_split,
        )
    )


def _export_openai_args(p):
    p.add_argument("dir", nargs="?", help="dataset folder (planner or action data)")
    p.add_argument("--format", default="openai", choices=["openai"], help="OpenAI chat messages with tools")
    p.add_argument("--out", required=False, help="folder for train/valid/test.jsonl")
    p.add_argument("--overwrite", action="store_true", help="replace an --out folder that holds something")


@command(
    "data export",
    "octo_mlx.imports.run:export_openai",
    "write a dataset as OpenAI chat messages with tools and tool_calls (mlx-lm's tools format, TRL)",
    _export_openai_args,
)
def _data_export(a):
    from octo_mlx import ui
    from octo_mlx.errors import OctoError
    from octo_mlx.imports.run import export_openai

    if not a.out:
        raise OctoError("give --out FOLDER for the exported splits")
    ui.show_export_counts(export_openai(_dataset_dir(a), a.out, overwrite=a.overwrite), a.out)
