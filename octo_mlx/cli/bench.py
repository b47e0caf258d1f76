"""`octo-mlx bench ...`: training speed and planner latency against their named peers."""

from __future__ import annotations

import shlex
import sys

from octo_mlx.cli.registry import above, at_least, between, check_numbers, command, lookup_argument


def _command_line() -> str:
    """This command as it was typed, for a report to name."""
    return "octo-mlx " + shlex.join(sys.argv[1:])


def _write_reports(a, result, section) -> None:
    """``--out``: ``result.to_json()`` as JSON; ``--markdown``: its section of that file, made by
    ``section(command line)``; each only when asked."""
    if a.out:
        import json

        from octo_mlx.files import write_atomic

        write_atomic(a.out, json.dumps(result.to_json(), indent=2) + "\n")
    if a.markdown:
        from octo_mlx.bench import markdown

        markdown.write_section(a.markdown, section(_command_line()))


# --- bench train ----------------------------------------------------------------------------


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
    "octo_mlx.bench.train:run_bench",
    "training speed and memory: octo-mlx vs mlx_lm.lora (OpenBLAS and bundled BLAS) vs PyTorch + PEFT",
    _bench_train_args,
)
def _bench_train(a):
    from octo_mlx import ui
    from octo_mlx.bench import markdown, train

    check_numbers(
        a,
        rank=at_least(1),
        alpha=above(0),
        batch_size=at_least(1),
        examples=at_least(1),
        bundled_examples=at_least(1),
        epochs=at_least(2),  # the first epoch compiles, the last is timed
        repeats=at_least(1),
    )
    config = train.BenchConfig(
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
    report = train.run_bench(config, callback=ui.bench_train_callback)
    if a.json:
        train.write_json(report, a.json)
    if a.markdown:
        markdown.write_section(a.markdown, markdown.train_section(report, _command_line()))
    ui.show_bench_train(report)


# --- bench plan -----------------------------------------------------------------------------


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
    "octo_mlx.bench.plan:run_bench_plan",
    "latency: fine-tuned planner (bare query) vs base model with every function in context",
    _bench_plan_args,
)
def _bench_plan(a):
    from octo_mlx import ui
    from octo_mlx.bench import markdown, plan

    check_numbers(a, n=at_least(1), shots=at_least(0), max_tokens=at_least(1), warmup=at_least(0))
    config = plan.BenchPlanConfig(
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
        result = plan.run_bench_plan(config)
    _write_reports(a, result, lambda command: markdown.plan_section(result, command, a.note))
    ui.show_bench_plan(result)


# --- bench adapters -------------------------------------------------------------------------


def _bench_adapters_args(p):
    p.add_argument("--model", default=None, help="the base (default: the default model)")
    p.add_argument(
        "--adapter",
        action="append",
        default=[],
        metavar="DIR",
        help="an adapter folder (repeat: two or more); none: random LoRA adapters made for the run",
    )
    p.add_argument("--random", type=int, default=2, help="random adapters to make when none given")
    p.add_argument("--rank", type=int, default=16, help="their LoRA rank")
    p.add_argument("--repeats", type=int, default=10, help="timed rounds per side (default 10)")
    p.add_argument("--tokens", type=int, default=64, help="tokens per timed decode (default 64)")
    p.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    p.add_argument("--no-server", action="store_true", help="skip the mlx_lm.server peer")
    p.add_argument("--prompt", default=None, help="the user turn of every request")
    p.add_argument("--seed", type=int, default=0, help="seed of the random adapters")
    p.add_argument("--out", default=None, help="write the JSON report here")
    p.add_argument(
        "--markdown",
        default=None,
        metavar="FILE",
        help="write/replace the adapter runtime section of this file (e.g. BENCHMARKS.md)",
    )
    p.add_argument("--note", default="", help="a sentence for the markdown: the conditions of the run")


@command(
    "bench adapters",
    "octo_mlx.bench.adapters:run_bench_adapters",
    "adapter runtime: swap time vs mlx_lm.server's reload, decode speed vs plain mlx-lm, memory",
    _bench_adapters_args,
)
def _bench_adapters(a):
    from octo_mlx import ui
    from octo_mlx.bench import adapters, markdown

    check_numbers(
        a, random=at_least(2), rank=at_least(1), repeats=at_least(1), tokens=at_least(2), warmup=at_least(0)
    )
    config = adapters.BenchAdaptersConfig(
        model=a.model,
        adapters=tuple(a.adapter),
        random_adapters=a.random,
        rank=a.rank,
        repeats=a.repeats,
        tokens=a.tokens,
        warmup=a.warmup,
        server=not a.no_server,
        seed=a.seed,
        **({"prompt": a.prompt} if a.prompt is not None else {}),
    )
    result = adapters.run_bench_adapters(config, callback=ui.bench_adapters_callback)
    result.command = _command_line()
    _write_reports(a, result, lambda command: markdown.adapters_section(result, command, a.note))
    ui.show_bench_adapters(result)


# --- bench agent --------------------------------------------------------------------------


def _bench_agent_args(p):
    p.add_argument(
        "--requests", required=True, help="a request set (benchmarks/splits/agent-v1/android.jsonl)"
    )
    p.add_argument("--planner", metavar="DIR", help="the planner adapter (default: adapters/planner)")
    p.add_argument("--action", metavar="DIR", help="the action adapter (default: adapters/action)")
    p.add_argument("--model", default=None, help="the base model (default: the one the action adapter names)")
    p.add_argument("--limit", type=int, default=None, help="only the first N requests")
    p.add_argument("--replans", default="0,1", help="max re-plans to run each request with (default 0,1)")
    p.add_argument("--max-plan-tokens", type=int, default=128, help="most tokens per plan")
    lookup_argument(p, "the agent's planner and action model")
    p.add_argument(
        "--peer",
        action="store_true",
        help="also run the same base without an adapter as an in-context agent (every function's JSON "
        "in the prompt, one tool call per turn), interleaved, on the same requests",
    )
    p.add_argument("--out", default=None, help="write the JSON report here")
    p.add_argument(
        "--markdown",
        default=None,
        metavar="FILE",
        help="write/replace this run's section of FILE (RESULTS.md)",
    )


@command(
    "bench agent",
    "octo_mlx.bench.agent:bench_agent",
    "the agent end to end on seeded devices: success by the state it leaves, with and without re-planning",
    _bench_agent_args,
)
def _bench_agent(a):
    from octo_mlx import ui
    from octo_mlx.bench import agent, markdown
    from octo_mlx.errors import OctoError

    check_numbers(a, limit=at_least(1), max_plan_tokens=at_least(1), lookup=at_least(0))
    try:
        replans = sorted({int(x) for x in a.replans.split(",") if x.strip()})
    except ValueError:
        raise OctoError(f"not a list of integers: {a.replans!r}", "--replans") from None
    if not replans or min(replans) < 0:
        raise OctoError("give one or more re-plan counts >= 0, e.g. 0,1", "--replans")
    with ui.status("loading the base and the adapters, then running the requests"):
        result = agent.bench_agent(
            a.requests,
            a.planner,
            a.action,
            a.model,
            a.limit,
            replans,
            a.max_plan_tokens,
            ui.counter("agent runs"),
            a.peer,
            a.lookup,
        )
    if a.out:
        _write_reports(a, result, lambda line: markdown.agent_section(result, line))
    elif a.markdown:
        markdown.write_section(a.markdown, markdown.agent_section(result, _command_line()))
    ui.show_bench_agent(result)


def _agent_requests_args(p):
    p.add_argument(
        "--domain", action="append", default=None, metavar="NAME", help="bundled domain (repeatable)"
    )
    p.add_argument("--n", type=int, default=100, help="requests (from the test split of 10x as many plans)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--fault-share",
        type=float,
        default=1.0,
        help="share of multi-step requests given a fault, where one applies (default: all)",
    )
    p.add_argument("--out", required=True, help="the JSON Lines file to write (new)")
    p.add_argument("--overwrite", action="store_true", help="replace --out when it exists")


@command(
    "bench agent-requests",
    "octo_mlx.bench.agent:make_requests",
    "make an agent request set: held-out requests on seeded devices, some with a fault seeded",
    _agent_requests_args,
)
def _agent_requests(a):
    from pathlib import Path

    from octo_mlx import ui
    from octo_mlx.bench import agent
    from octo_mlx.domains.catalog import load_domains
    from octo_mlx.errors import OctoError

    check_numbers(a, n=at_least(1), seed=at_least(0), fault_share=between(0, 1))
    if Path(a.out).exists() and not a.overwrite:
        raise OctoError("exists; give --overwrite to replace it", a.out)
    requests = agent.make_requests(load_domains(a.domain or ["android"]), a.n, a.seed, a.fault_share)
    agent.write_requests(a.out, requests)
    faults = sum(r.fault is not None for r in requests)
    ui.note(f"wrote {len(requests)} requests ({faults} with a fault) to {a.out}")


# --- bench router ---------------------------------------------------------------------------


def _bench_router_args(p):
    p.add_argument("--data", required=True, help="the (mixed-domain) test split, DIR/test.jsonl")
    p.add_argument("--train", default=None, help="the split to fit the router on (default: DIR/train.jsonl)")
    p.add_argument(
        "--domain",
        action="append",
        default=None,
        metavar="NAME_OR_SPEC",
        help="domains (default: the manifest's)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write the JSON report here")
    p.set_defaults(markdown=None)  # no section of its own in a markdown file


@command(
    "bench router",
    "octo_mlx.bench.router:bench_router",
    "the domain router: which domain adapters each request needs, scored on a mixed-domain split",
    _bench_router_args,
)
def _bench_router(a):
    from octo_mlx import ui
    from octo_mlx.bench.router import bench_router

    check_numbers(a, seed=between(0, 2**32 - 1))
    result = bench_router(a.data, a.train, a.domain, a.seed)
    _write_reports(a, result, None)
    ui.show_bench_router(result)
