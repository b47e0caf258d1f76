"""`octo-mlx data import` and `octo-mlx data export`: other function-calling datasets in, ours out.

An import reads every row of the source (a ``.jsonl``/``.json``/``.parquet`` file, a folder of
them, or a Hugging Face dataset name loaded through ``datasets``), parses it with its format's
reader (octo_mlx.imports.formats), and writes into ``OUT``:

- ``tools.json``: the tools the rows offer, one domain (deduplicated by name; a name defined
  again with another schema keeps its first definition and is reported);
- ``planner/``: planner data (the request -> one step per call, each call written in words from
  its function and arguments, or the source's own steps where it has them), gold calls kept;
- ``action/``: action data (each step -> its call);
- ``import.json``: the source, its licence when stated, the format, counts, and every dropped
  row by reason with where it was (``file:line`` or ``row N``).

Nothing is dropped silently; rows are dropped for: no call, more than 5 calls, a call to a
function the row does not offer, arguments invalid against their schema, a tool whose schema is
invalid, a row that does not parse, a request seen before. Rows never run code: JSON and Python
literals only.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from octo_mlx.errors import OctoError
from octo_mlx.imports.formats import FORMATS, READERS, Row, RowError, detect, taskbench_tools

IMPORT_MANIFEST = "import.json"
GENERATOR = "import"
SHOWN_PROBLEMS = 200  # problems kept in import.json beyond the counts


@dataclass(frozen=True)
class Problem:
    """One row that was dropped: where it was and why."""

    where: str
    reason: str
    kind: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class ImportReport:
    """What an import did (the counts also go to ``import.json``)."""

    source: str
    format: str
    out: Path
    rows: int = 0
    kept: int = 0
    tools: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    dropped: Counter = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)
    license: str | None = None


# --- reading the source ----------------------------------------------------------------------------


def _records(source: str, hub: Mapping[str, str | None] | None = None) -> Iterator[tuple[str, Any]]:
    """(where, record) of every row of ``source``, in order; a line that is not JSON is
    yielded as a RowError (where, error) so it is counted, not fatal."""
    path = Path(source)
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.suffix in (".jsonl", ".json", ".parquet") and p.name not in AUXILIARY
        )
        if not files:
            raise OctoError("no .jsonl, .json or .parquet file in the folder", path)
        for f in files:
            yield from _file_records(f, in_folder=True)
    elif path.is_file():
        yield from _file_records(path)
    elif re.fullmatch(r"[\w.-]+/[\w.-]+", source) and not path.suffix:
        yield from _hub_records(source, **(hub or {}))
    else:
        raise OctoError("no such file or folder (nor a Hugging Face dataset name owner/name)", source)


# files beside a dataset's rows that hold no rows (TaskBench's tool and graph descriptions, ...)
AUXILIARY = {"tool_desc.json", "graph_desc.json", "alignment_ids.json", "user_requests.jsonl", "dataset.json"}


def _file_records(path: Path, in_folder: bool = False) -> Iterator[tuple[str, Any]]:
    if path.suffix == ".parquet":
        from datasets import Dataset

        for i, row in enumerate(Dataset.from_parquet(str(path))):
            yield f"{path}: row {i + 1}", row
        return
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            if e.msg != "Extra data":  # "Extra data": JSON Lines under a .json name (TaskBench's data.json)
                raise OctoError(f"not JSON ({e.msg}, line {e.lineno})", path) from None
            data = None
        except (ValueError, RecursionError) as e:
            raise OctoError(f"not usable JSON ({type(e).__name__})", path) from None
        if data is not None:
            rows = data if isinstance(data, list) else data.get("data") if isinstance(data, dict) else None
            if not isinstance(rows, list):
                if in_folder:  # a file of another kind beside the rows
                    return
                raise OctoError("a .json source must hold a list of rows (or {'data': [...]})", path)
            for i, row in enumerate(rows):
                yield f"{path}: row {i + 1}", row
            return
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield f"{path}:{n}", json.loads(line)
        except json.JSONDecodeError as e:
            yield f"{path}:{n}", RowError(f"not JSON ({e.msg} at column {e.colno})")
        except (ValueError, RecursionError) as e:
            yield f"{path}:{n}", RowError(f"not usable JSON ({type(e).__name__})")


def _hub_records(name: str, config: str | None = None, split: str | None = None) -> Iterator[tuple[str, Any]]:
    try:
        from datasets import load_dataset

        loaded = load_dataset(name, config, split=split)
        if split is not None:
            loaded = {split: loaded}
    except Exception as e:  # no network, no such dataset: one line, not a traceback
        raise OctoError(
            f"could not load the Hugging Face dataset: {str(e).splitlines()[0][:200]}", name
        ) from None
    for split in loaded:
        for i, row in enumerate(loaded[split]):
            yield f"{name}[{split}]: row {i + 1}", row


def _license(source: str) -> str | None:
    """The licence a source states: ``license:`` in a dataset card (README.md) beside it."""
    path = Path(source)
    folder = path if path.is_dir() else path.parent
    card = folder / "README.md"
    if card.is_file():
        m = re.search(r"^license:\s*(\S+)", card.read_text(errors="replace"), re.MULTILINE)
        if m:
            return m.group(1)
    return None


def _graph_tools(source: str, tools: str | None) -> list[dict]:
    """TaskBench's tool graph: ``tools`` if given, else ``tool_desc.json`` beside the source."""
    path = Path(tools) if tools else None
    if path is None:
        src = Path(source)
        beside = (src if src.is_dir() else src.parent) / "tool_desc.json"
        path = beside if beside.is_file() else None
    if path is None:
        return []
    try:
        return taskbench_tools(json.loads(Path(path).read_text()))
    except (json.JSONDecodeError, RowError) as e:
        raise OctoError(f"not a TaskBench tool graph: {e}", path) from None


# --- the tools ------------------------------------------------------------------------------------


def _identifier(name: str) -> str:
    clean = re.sub(r"\W+", "_", name).strip("_") or "tool"
    return clean if not clean[0].isdigit() else f"tool_{clean}"


class _Toolbox:
    """Every tool seen, by name: the first definition wins, a different one later is a conflict."""

    def __init__(self, domain: str):
        self.domain = domain
        self.functions: dict[str, Any] = {}
        self.specs: dict[str, dict] = {}
        self.bad: dict[str, str] = {}
        self.renamed: dict[str, str] = {}
        self.conflicts: list[str] = []

    def add(self, tool: dict, where: str) -> bool:
        """Register ``tool``; False when a tool of that name was defined before with other
        parameters (the first definition is kept, the conflict recorded)."""
        from octo_mlx.functions.contract import Function, validate_function

        original = tool["name"]
        name = self.renamed.get(original) or _identifier(original)
        if name != original:
            self.renamed[original] = name
        spec = {**tool, "name": name, "description": tool["description"] or original.replace("_", " ")}
        if name in self.specs:
            if self.specs[name]["parameters"] == spec["parameters"]:
                return True
            if len(self.conflicts) < SHOWN_PROBLEMS:
                self.conflicts.append(
                    f"{where}: tool {original!r} defined again with other parameters (first kept)"
                )
            return False
        if name in self.bad:
            return True
        function = Function(name, spec["description"], spec["parameters"], self.domain, side_effects=True)
        try:
            validate_function(function)
        except OctoError as e:
            self.bad[name] = e.message
            return True
        self.specs[name] = spec
        self.functions[name] = function
        return True


# --- the import ------------------------------------------------------------------------------------


def import_dataset(
    source: str,
    out: str | Path,
    fmt: str = "auto",
    name: str = "imported",
    tools: str | None = None,
    seed: int = 0,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    overwrite: bool = False,
    strict: bool = False,
    hf_config: str | None = None,
    hf_split: str | None = None,
) -> ImportReport:
    """Import a function-calling dataset into planner and action data (see the module doc).

    Args:
        source: a file, a folder, or a Hugging Face dataset name.
        out: the output folder (refused when it holds something else, unless ``overwrite``).
        fmt: one of :data:`octo_mlx.imports.formats.FORMATS`, or "auto" (from the first row).
        name: the domain name of the imported tools.
        tools: TaskBench's tool graph file (default: ``tool_desc.json`` beside the source).
        seed: the split shuffle's seed.
        fractions: train/valid/test shares.
        overwrite: replace an output folder that holds something.
        strict: any dropped row is an error (after the whole source was read).
        hf_config, hf_split: a Hugging Face dataset's configuration and split (default: its
            default configuration, every split).

    Raises:
        OctoError: a bad format name, an unreadable source, no usable row (or, with ``strict``,
            any dropped row), an output folder that cannot be written.
    """
    from octo_mlx.files import check_output_folder

    if fmt != "auto" and fmt not in FORMATS:
        raise OctoError(f"unknown format {fmt!r} (choose from auto, {', '.join(FORMATS)})", "--format")
    if not name.isidentifier():
        raise OctoError(f"must be an identifier, got {name!r}", "--name")
    check_output_folder(out, "--out", overwrite=overwrite)
    report = ImportReport(source, fmt, Path(out), license=_license(source))
    box = _Toolbox(name)
    context = {"tools": _graph_tools(source, tools)}
    for t in context["tools"]:
        box.add(t, "tool graph")
    rows: list[tuple[str, Row]] = []
    for where, record in _records(source, {"config": hf_config, "split": hf_split}):
        report.rows += 1
        if isinstance(record, RowError):
            _drop(report, where, str(record), "unparseable")
            continue
        if not isinstance(record, dict):
            _drop(report, where, f"a row must be a JSON object, got {type(record).__name__}", "unparseable")
            continue
        if report.format == "auto":
            found = detect(record)
            if found is None:
                keys = sorted(map(str, record))[:8]
                raise OctoError(
                    f"cannot tell the format of the first row (keys: {keys}): give --format", where
                )
            report.format = found
        try:
            row = READERS[report.format](record, context)
        except RowError as e:
            _drop(report, where, f"not a {report.format} row: {e}", "unparseable")
            continue
        except Exception as e:  # data never takes the import down: the row is dropped, named
            _drop(report, where, f"not a {report.format} row ({type(e).__name__}: {e})", "unparseable")
            continue
        row.conflicting = {
            box.renamed.get(t["name"], _identifier(t["name"])) for t in row.tools if not box.add(t, where)
        }
        rows.append((where, row))
    examples = _examples(rows, box, report)
    report.conflicts, report.renamed, report.tools = box.conflicts, dict(box.renamed), len(box.functions)
    if not examples:
        raise OctoError(
            f"nothing usable: {report.rows} row(s), dropped {dict(report.dropped) or 'none'}"
            + (f"; first: {report.problems[0]}" if report.problems else ""),
            source,
        )
    if strict and report.dropped:
        raise OctoError(
            f"--strict: {sum(report.dropped.values())} row(s) dropped; first: {report.problems[0]}", source
        )
    _write(report, box, examples, seed, fractions)
    return report


def _drop(report: ImportReport, where: str, reason: str, kind: str) -> None:
    report.dropped[kind] += 1
    if len(report.problems) < SHOWN_PROBLEMS:
        report.problems.append(Problem(where, reason, kind))


def _examples(rows: list[tuple[str, Row]], box: _Toolbox, report: ImportReport) -> list[tuple[Any, list]]:
    """(PlanExample, its ActionExamples) of every usable row."""
    from octo_mlx.action_data import ActionExample
    from octo_mlx.data import MAX_STEPS, PlanExample, normalize_text
    from octo_mlx.functions.calls import Call, CallProblem, check_call
    from octo_mlx.synth.phrasebank.generic import describe_call

    seen: set[str] = set()
    out = []
    for where, row in rows:
        if not row.calls:
            _drop(report, where, "no call (a request no tool serves)", "no call")
            continue
        if len(row.calls) > MAX_STEPS:
            _drop(
                report, where, f"{len(row.calls)} calls (a plan has at most {MAX_STEPS})", "more than 5 calls"
            )
            continue
        offered = {box.renamed.get(t["name"], _identifier(t["name"])) for t in row.tools}
        calls, problem = [], None
        for fname, arguments in row.calls:
            name = box.renamed.get(fname, _identifier(fname))
            if name not in offered:
                problem = (f"calls {fname!r}, which the row does not offer", "unknown function")
                break
            if name in row.conflicting:
                problem = (
                    f"its tool {fname!r} differs from the first definition of that name (kept)",
                    "conflicting tool",
                )
                break
            if name in box.bad or name not in box.functions:
                problem = (f"tool {fname!r} has an invalid schema: {box.bad.get(name, '?')}", "invalid tool")
                break
            call = Call(name, dict(arguments))
            try:
                check_call(call, box.functions[name])
            except CallProblem as e:
                problem = (f"arguments of {fname!r} are invalid: {e}", "invalid arguments")
                break
            calls.append(call)
        if problem is None and len({json.dumps(c.to_dict(), sort_keys=True) for c in calls}) < len(calls):
            problem = ("the same call twice (a plan never repeats a step)", "repeated call")
        if problem is not None:
            _drop(report, where, *problem)
            continue
        key = normalize_text(row.query)
        if key in seen:
            _drop(report, where, "the same request as an earlier row", "duplicate")
            continue
        seen.add(key)
        steps = row.steps or [describe_call(box.functions[c.function], c.arguments) for c in calls]
        ident = (
            "imp-"
            + hashlib.sha256((row.query + json.dumps([c.to_dict() for c in calls])).encode()).hexdigest()[:12]
        )
        generator = f"{GENERATOR}:{report.format}"
        plan = PlanExample(
            ident,
            row.query,
            tuple(steps),
            tuple(c.function for c in calls),
            (box.domain,),
            generator,
            calls=tuple(calls),
        )
        actions = [
            ActionExample(f"{ident}-{k}", s, None, c, (box.domain,), "import", False, generator)
            for k, (s, c) in enumerate(zip(steps, calls))
        ]
        out.append((plan, actions))
    return out


def _write(report: ImportReport, box: _Toolbox, examples, seed: int, fractions: Sequence[float]) -> None:
    from octo_mlx.action_data import write_dataset as write_actions
    from octo_mlx.data import SPLITS, write_dataset
    from octo_mlx.files import write_atomic

    out = report.out
    out.mkdir(parents=True, exist_ok=True)
    tools_path = out / "tools.json"
    body = {"name": box.domain, "tools": [{"type": "function", "function": s} for s in box.specs.values()]}
    write_atomic(tools_path, json.dumps(body, indent=1, ensure_ascii=False) + "\n")
    order = list(range(len(examples)))
    random.Random(f"import:{seed}").shuffle(order)
    total, cut, splits = len(order), 0, {}
    for i, (split, share) in enumerate(zip(SPLITS, fractions)):
        size = total - cut if i == len(SPLITS) - 1 else round(total * share)
        splits[split] = [examples[j] for j in order[cut : cut + size]]
        cut += size
    report.counts = {s: len(v) for s, v in splits.items()}
    config = {"config": {"domains": [str(tools_path)]}, "source": report.source, "format": report.format}
    write_dataset(
        out / "planner",
        {s: [p for p, _ in v] for s, v in splits.items()},
        GENERATOR,
        seed,
        [box.domain],
        extra=config,
    )
    write_actions(
        out / "action",
        {s: [a for _, acts in v for a in acts] for s, v in splits.items()},
        GENERATOR,
        seed,
        [box.domain],
        extra=config,
    )
    manifest = {
        "source": report.source,
        "format": report.format,
        "license": report.license,
        "rows": report.rows,
        "kept": sum(report.counts.values()),
        "tools": len(box.specs),
        "counts": report.counts,
        "dropped": dict(sorted(report.dropped.items())),
        "problems": [str(p) for p in report.problems],
        "tool_conflicts": box.conflicts,
        "invalid_tools": box.bad,
        "renamed_tools": box.renamed,
    }
    report.kept = manifest["kept"]
    write_atomic(out / IMPORT_MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")


# --- export ----------------------------------------------------------------------------------------


def export_openai(folder: str | Path, out: str | Path, overwrite: bool = False) -> dict[str, int]:
    """Write a planner or action dataset folder as OpenAI chat messages with ``tools`` and
    ``tool_calls`` (one JSONL file per split: ``OUT/train.jsonl``...), so mlx-lm's ``tools``
    format and TRL can train on it. A planner example needs its gold calls (offline and imported
    data have them); one without is skipped and counted. Returns the rows written per split
    (and ``skipped``)."""
    from octo_mlx.action_data import read_split as read_actions
    from octo_mlx.data import SPLITS, dataset_domains, dataset_task, read_split
    from octo_mlx.files import check_output_folder, write_atomic

    folder = Path(folder)
    check_output_folder(out, "--out", overwrite=overwrite)
    task = dataset_task(folder)
    domains = dataset_domains(folder)
    tools = [f.to_tool() for d in domains for f in d.functions]
    counts: dict[str, int] = {"skipped": 0}
    Path(out).mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        path = folder / f"{split}.jsonl"
        if not path.is_file():
            continue
        lines = []
        if task == "action":
            for e in read_actions(path, domains):
                user = (
                    e.step
                    if e.observation is None
                    else f"{e.step}\nPrevious result: {json.dumps(e.observation)}"
                )
                lines.append(_chat(user, [] if e.call.is_none else [e.call], tools))
        else:
            for e in read_split(path, domains):
                if e.calls is None:
                    counts["skipped"] += 1
                    continue
                lines.append(_chat(e.query, [c for c in e.calls if not c.is_none], tools))
        write_atomic(
            Path(out) / f"{split}.jsonl", "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines)
        )
        counts[split] = len(lines)
    return counts


def _chat(user: str, calls: Sequence, tools: list[dict]) -> dict:
    assistant: dict[str, Any] = {"role": "assistant"}
    if calls:
        assistant["content"] = None
        assistant["tool_calls"] = [
            {
                "id": f"call_{k}",
                "type": "function",
                "function": {"name": c.function, "arguments": json.dumps(c.arguments, ensure_ascii=False)},
            }
            for k, c in enumerate(calls)
        ]
    else:
        assistant["content"] = "No tool is needed for this request."
    return {"messages": [{"role": "user", "content": user}, assistant], "tools": tools}
