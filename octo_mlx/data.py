"""Planner datasets: the JSONL format, validation, loading, splitting, stats and HF interop.

One example is one JSON line that mlx-lm's chat loader reads as it is (the ``messages`` key),
plus metadata kept for deterministic judging and never shown to the planner::

    {"id": "a1", "messages": [{"role": "user", "content": QUERY},
                              {"role": "assistant", "content": "STEP1<nexa_split>STEP2"}],
     "functions": ["get_trending_news", "send_email"], "domains": ["android"],
     "n_steps": 2, "generator": "offline"}

Optional: ``calls`` (the gold call of each step, parallel to ``functions``: ``{"function",
"arguments"}``, arguments valid against the function's schema) and ``world`` (``{"seed",
"state_sha256"}``: the seeded simulated world the calls run in and the digest of its state after
the last call, for end-to-end scoring). Datasets without them stay readable.

A folder holds ``train.jsonl``, ``valid.jsonl``, ``test.jsonl`` and ``dataset.json`` (the
manifest: generator, seed, domains, counts). Every bad line is reported as ``file:line: reason``
by :func:`validate_dir`; the loaders refuse the same lines with the same message. Nothing is
ever dropped silently.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from octo_mlx.errors import OctoError
from octo_mlx.files import (
    check_output_folder,
    fresh_tmp,
    read_json_object,
    read_lines,
    replace_dir,
    write_atomic,
)

PLAN_SPLIT = "<nexa_split>"
NO_FUNCTION = "none"  # the gold "function" of an irrelevant query (one step, no call)
# The one step of an irrelevant query's plan: one fixed text, so the planner learns one answer.
IRRELEVANT_STEP = "Answer directly: no function is needed"
MAX_STEPS = 5  # the paper's plans have 1..5 steps
SPLITS = ("train", "valid", "test")
MANIFEST = "dataset.json"
TASKS = ("plan", "action")  # a manifest's "task": planner data (the default) or action-model data
BALANCES = ("domain", "function")  # what the offline synthesizer shares equally: domains or functions
FIELDS = ("id", "messages", "functions", "domains", "n_steps", "generator")
OPTIONAL_FIELDS = ("calls", "world")  # the gold calls and the world they ran in (offline synthesizer)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class PlanExample:
    """One (query, plan) pair with the gold function behind each step."""

    id: str
    query: str
    steps: tuple[str, ...]
    functions: tuple[str, ...]
    domains: tuple[str, ...]
    generator: str
    calls: tuple[Any, ...] | None = None  # octo_mlx.functions.calls.Call per step, when known
    world: Mapping[str, Any] | None = field(default=None, hash=False)  # {"seed", "state_sha256"}

    @property
    def n_steps(self) -> int:
        return len(self.steps)

    @property
    def irrelevant(self) -> bool:
        return self.functions == (NO_FUNCTION,)

    def to_record(self) -> dict[str, Any]:
        """The JSON line (mlx-lm chat format plus metadata)."""
        return {
            "id": self.id,
            "messages": [
                {"role": "user", "content": self.query},
                {"role": "assistant", "content": format_plan(self.steps)},
            ],
            "functions": list(self.functions),
            "domains": list(self.domains),
            "n_steps": len(self.steps),
            "generator": self.generator,
            **({"calls": [c.to_dict() for c in self.calls]} if self.calls is not None else {}),
            **({"world": dict(self.world)} if self.world is not None else {}),
        }

    @classmethod
    def from_record(
        cls, record: Any, known: Mapping[str, Iterable[str]] | None = None, where: str | None = None
    ) -> PlanExample:
        """Check a parsed JSON line and build the example; raises OctoError naming the first problem.

        Args:
            record: the parsed JSON object.
            known: domain name -> its function names; when given, every gold function must exist
                in one of the example's domains.
            where: ``file:line`` for the error message.
        """
        reasons = check_record(record, known)
        if reasons:
            raise OctoError("; ".join(reasons), where)
        return _build(record)


def format_plan(steps: Sequence[str]) -> str:
    """Join steps with ``<nexa_split>`` (the assistant turn of a training example)."""
    return PLAN_SPLIT.join(s.strip() for s in steps)


def normalize_text(text: str) -> str:
    """Lower case, punctuation removed, whitespace collapsed: the key for exact-duplicate checks."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


# --- checking one record --------------------------------------------------------------------


def known_functions(
    domains: Iterable[Any] | Mapping[str, Iterable[str]] | None,
) -> dict[str, set[str] | dict[str, Any]] | None:
    """Domain name -> its functions: from Domain objects a name -> Function map (so call arguments
    are checked against the schemas too), from a mapping of names a set (names checked only)."""
    if domains is None:
        return None
    if isinstance(domains, Mapping):
        return {k: dict(v) if isinstance(v, Mapping) else set(v) for k, v in domains.items()}
    return {d.name: {f.name: f for f in d.functions} for d in domains}


def generator_problem(gen: Any) -> str | None:
    """Why ``gen`` is not a generator name ('offline', 'teacher:<model>' or 'import:<format>',
    what `octo-mlx data import` writes); None when it is."""
    if isinstance(gen, str) and (
        gen == "offline" or any(gen.startswith(p) and len(gen) > len(p) for p in ("teacher:", "import:"))
    ):
        return None
    return f"'generator' must be 'offline', 'teacher:<model>' or 'import:<format>', got {gen!r}"


def function_of(known: Mapping[str, Any] | None, domains: Sequence[str], name: str) -> Any:
    """The Function named ``name`` in one of ``domains`` (None when only names are known)."""
    for d in domains if known is not None else ():
        table = known.get(d)
        if isinstance(table, Mapping) and name in table:
            return table[name]
    return None


def call_problem(
    value: Any, domains: Sequence[str], known: Mapping[str, Any] | None
) -> tuple[Any, str | None]:
    """(the Call, None) for a valid gold call ``{"function", "arguments"}``, else (None, reason).

    ``none`` (no function) takes no arguments; any other function must belong to ``domains``
    when ``known`` is given, and its arguments are checked against its schema when ``known``
    holds Function objects (octo_mlx.functions.calls.check_call).
    """
    from octo_mlx.functions.calls import NO_CALL, Call, CallProblem, check_call

    try:
        call = Call.from_dict(value)
    except CallProblem as e:
        return None, e.message
    if call.function == NO_CALL:
        return (call, None) if not call.arguments else (None, f"'{NO_CALL}' takes no arguments")
    if not _FUNCTION_NAME.match(call.function):
        return None, f"bad function name {call.function!r}"
    if known is not None:
        if any(d not in known for d in domains):
            return None, f"unknown domain(s) {[d for d in domains if d not in known]}"
        if not any(call.function in known[d] for d in domains):
            return None, f"unknown function {call.function!r} for domain(s) {list(domains)}"
        function = function_of(known, domains, call.function)
        if function is not None:
            try:
                check_call(call, function)
            except CallProblem as e:
                return None, str(e)
    return call, None


def check_record(record: Any, known: Mapping[str, Iterable[str]] | None = None) -> list[str]:
    """Every problem of one parsed line, as short reasons (empty list = valid).

    Args:
        record: the parsed JSON value.
        known: domain name -> function names; None checks the structure only.
    """
    if not isinstance(record, dict):
        return [f"expected a JSON object, got {type(record).__name__}"]
    reasons = [f"missing field '{f}'" for f in FIELDS if f not in record]
    extra = sorted(set(record) - set(FIELDS) - set(OPTIONAL_FIELDS))
    if extra:
        reasons.append(f"unknown field(s) {', '.join(map(repr, extra))}")
    if not isinstance(record.get("id", ""), str) or ("id" in record and not record["id"].strip()):
        reasons.append("'id' must be a non-empty string")
    gen_problem = generator_problem(record.get("generator", "offline"))
    if gen_problem:
        reasons.append(gen_problem)

    steps: list[str] | None = None
    if "messages" in record:
        msgs = record["messages"]
        roles = (
            [m.get("role") if isinstance(m, dict) else None for m in msgs] if isinstance(msgs, list) else None
        )
        if roles != ["user", "assistant"]:
            reasons.append(f"'messages' must be [user, assistant], got roles {roles}")
        elif not all(isinstance(m.get("content"), str) for m in msgs):
            reasons.append("message 'content' must be a string")
        else:
            if not msgs[0]["content"].strip():
                reasons.append("empty user query")
            steps = [s.strip() for s in msgs[1]["content"].split(PLAN_SPLIT)]
            if any(not s for s in steps):
                reasons.append(f"empty step in plan {msgs[1]['content']!r}")
            if not 1 <= len(steps) <= MAX_STEPS:
                reasons.append(f"plan has {len(steps)} steps (must be 1..{MAX_STEPS})")

    funcs = record.get("functions")
    if "functions" in record and not (isinstance(funcs, list) and all(isinstance(f, str) for f in funcs)):
        reasons.append("'functions' must be a list of strings")
        funcs = None
    doms = record.get("domains")
    if "domains" in record and not (isinstance(doms, list) and all(isinstance(d, str) for d in doms)):
        reasons.append("'domains' must be a list of strings")
        doms = None
    n = record.get("n_steps")
    if "n_steps" in record and (not isinstance(n, int) or isinstance(n, bool)):
        reasons.append(f"'n_steps' must be an integer, got {n!r}")
        n = None

    if steps is not None and funcs is not None and isinstance(n, int):
        if not (n == len(steps) == len(funcs)):
            reasons.append(f"n_steps={n} but the plan has {len(steps)} steps and {len(funcs)} functions")
    if funcs is not None:
        if NO_FUNCTION in funcs and funcs != [NO_FUNCTION]:
            reasons.append(f"'{NO_FUNCTION}' (irrelevant query) must be the only function")
        bad = [f for f in funcs if not _FUNCTION_NAME.match(f)]
        if bad:
            reasons.append(f"bad function name(s) {bad}")
        elif known is not None and doms is not None and funcs != [NO_FUNCTION]:
            unknown_doms = [d for d in doms if d not in known]
            if unknown_doms:
                reasons.append(f"unknown domain(s) {unknown_doms} (known: {sorted(known)})")
            elif not doms:
                reasons.append("'domains' is empty")
            else:
                names = set().union(*(set(known[d]) for d in doms))
                missing = [f for f in funcs if f not in names]
                if missing:
                    reasons.append(f"unknown function(s) {missing} for domain(s) {doms}")
    if "calls" in record:
        reasons += _calls_problems(record["calls"], funcs, doms, known)
    if "world" in record:
        reasons += _world_problems(record["world"])
    return reasons


def _calls_problems(calls: Any, funcs: list | None, doms: list | None, known) -> list[str]:
    """The optional ``calls``: one valid gold call per step, each of the step's gold function."""
    if not isinstance(calls, list):
        return ['\'calls\' must be a list of {"function", "arguments"} objects']
    reasons = []
    if funcs is not None and len(calls) != len(funcs):
        reasons.append(f"'calls' has {len(calls)} calls for {len(funcs)} functions")
    usable = known if known is not None and doms and all(d in known for d in doms) else None
    for k, value in enumerate(calls):
        call, problem = call_problem(value, doms or [], usable)
        if problem:
            reasons.append(f"calls[{k}]: {problem}")
        elif funcs is not None and k < len(funcs) and call.function != funcs[k]:
            reasons.append(f"calls[{k}]: function {call.function!r} but functions[{k}] is {funcs[k]!r}")
    return reasons


def _world_problems(world: Any) -> list[str]:
    ok = (
        isinstance(world, dict)
        and set(world) == {"seed", "state_sha256"}
        and isinstance(world["seed"], int)
        and not isinstance(world["seed"], bool)
        and world["seed"] >= 0
        and isinstance(world["state_sha256"], str)
        and _SHA256.match(world["state_sha256"])
    )
    return [] if ok else ['\'world\' must be {"seed": integer >= 0, "state_sha256": 64 hex digits}']


def _build(record: dict) -> PlanExample:
    from octo_mlx.functions.calls import Call

    msgs = record["messages"]
    return PlanExample(
        id=record["id"],
        query=msgs[0]["content"],
        steps=tuple(s.strip() for s in msgs[1]["content"].split(PLAN_SPLIT)),
        functions=tuple(record["functions"]),
        domains=tuple(record["domains"]),
        generator=record["generator"],
        calls=tuple(Call.from_dict(c) for c in record["calls"]) if "calls" in record else None,
        world=dict(record["world"]) if "world" in record else None,
    )


# --- files and folders ----------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One bad line (line 0 = the file as a whole)."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}" if self.line else f"{self.file}: {self.reason}"


@dataclass(frozen=True)
class RecordFormat:
    """How one kind of JSONL dataset is checked and read: the planner's (:data:`PLANS`) or the
    action model's (``octo_mlx.action_data.ACTIONS``); the scanning, validation and loading
    below serve both.

    Args:
        check: (parsed line, known domains) -> every problem, as short reasons.
        build: a checked record -> the example object (with ``to_record()`` and ``.id``).
        key: example -> the text that must not be given twice (normalised query, step...).
        what: what ``key`` is, for the messages ("query", "step").
        task: the manifest's ``task`` of a folder of such records ("plan", "action").
    """

    check: Callable[[Any, Mapping[str, Any] | None], list[str]]
    build: Callable[[dict], Any]
    key: Callable[[Any], str]
    what: str
    task: str = "plan"  # the manifest's ``task`` of a folder of such records


PLANS = RecordFormat(check_record, _build, lambda e: normalize_text(e.query), "query")


def _scan(
    path: Path, known: Mapping[str, Any] | None, fmt: RecordFormat = PLANS
) -> tuple[list[Any], list[Problem]]:
    examples, problems, _ = scan_lines(path, known, fmt)
    return [e for _, e in examples], problems


def scan_lines(
    path: Path, known: Mapping[str, Any] | None, fmt: RecordFormat = PLANS
) -> tuple[list[tuple[int, Any]], list[Problem], int]:
    """(line number, example) of each valid line, the problems of the others, the line count.

    The file is read once through :func:`octo_mlx.files.read_lines` (a byte that is not UTF-8 is
    an OctoError naming ``file:line``). Within the file an id or a key (``fmt.what``: a
    normalised query...) given twice is a problem on the later line.
    """
    examples: list[tuple[int, Any]] = []
    problems: list[Problem] = []
    if not path.is_file():
        return [], [Problem(str(path), 0, "no such file")], 0
    lines = read_lines(path)
    seen: dict[str, int] = {}
    seen_keys: dict[str, int] = {}
    for i, line in enumerate(lines, 1):
        if not line.strip():
            problems.append(Problem(str(path), i, "empty line"))
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(Problem(str(path), i, f"bad JSON: {e.msg} at column {e.colno}"))
            continue
        reasons = fmt.check(record, known)
        rid = record.get("id") if isinstance(record, dict) else None
        if isinstance(rid, str) and rid in seen:
            reasons.append(f"duplicate id {rid!r} (first on line {seen[rid]})")
        example = key = None
        if not reasons:
            example = fmt.build(record)
            key = fmt.key(example)
            if key in seen_keys:
                reasons.append(f"{fmt.what} also on line {seen_keys[key]} (same {fmt.what} under another id)")
        if reasons:
            problems.extend(Problem(str(path), i, r) for r in reasons)
            continue
        seen[rid] = i
        seen_keys[key] = i
        examples.append((i, example))
    return examples, problems, len(lines)


def refuse(problems: list[Problem]) -> None:
    """Raise OctoError ``file:line: reason`` for the first problem, counting the other bad lines."""
    first = problems[0]
    more = len({(p.file, p.line) for p in problems}) - 1
    tail = f" (and {more} more bad line(s): run `octo-mlx data validate`)" if more > 0 else ""
    where = f"{first.file}:{first.line}" if first.line else first.file
    raise OctoError(first.reason + tail, where)


def read_split(
    path: str | Path, domains: Iterable[Any] | Mapping[str, Iterable[str]] | None = None
) -> list[PlanExample]:
    """Load one JSONL split; raises OctoError ``file:line: reason`` on the first bad line.

    Args:
        path: the .jsonl file.
        domains: Domain objects (or name -> function names) to check gold functions against;
            None checks the structure only.
    """
    examples, problems = _scan(Path(path), known_functions(domains))
    if problems:
        refuse(problems)
    return examples


def write_split(path: str | Path, examples: Iterable[PlanExample]) -> None:
    """Write examples as JSONL, atomically (a killed writer leaves the old file or the new one)."""
    lines = [json.dumps(e.to_record(), ensure_ascii=False) + "\n" for e in examples]
    write_atomic(Path(path), "".join(lines))


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The folder's ``dataset.json`` ({} when absent); raises OctoError when it is not JSON."""
    path = Path(folder) / MANIFEST
    return read_json_object(path) if path.is_file() else {}


def write_dataset(
    folder: str | Path,
    splits: Mapping[str, Sequence[PlanExample]],
    generator: str,
    seed: int | None,
    domains: Sequence[str],
    extra: Mapping[str, Any] | None = None,
    keep: Sequence[str] = (),
) -> Path:
    """Write train/valid/test.jsonl and the manifest ``dataset.json`` as one whole: built in a
    temporary folder beside ``folder`` and swapped in (:func:`octo_mlx.files.replace_dir`), so a
    kill leaves the old folder or the new one, never new splits beside an old manifest.

    What ``folder`` held before is replaced (callers refuse a non-empty folder unless told to
    overwrite it), except the entries named in ``keep``, carried into the new folder.

    Args:
        folder: output folder (created, or replaced whole).
        splits: split name -> examples.
        generator: "offline" or "teacher:<model>".
        seed: the seed that made the data (recorded).
        domains: the domain names the data covers.
        extra: more manifest fields (e.g. the resolved synthesis config).
        keep: names in ``folder`` to carry over (e.g. a teacher run's ``.synth`` work folder);
            hard links where the file system allows, so nothing is copied twice.
    """
    final = Path(os.path.abspath(folder))  # "." and "x/.." have no name to put a sibling beside
    manifest = {
        "generator": generator,
        "seed": seed,
        "domains": list(domains),
        "counts": {name: len(ex) for name, ex in splits.items()},
        **(extra or {}),
    }
    tmp = fresh_tmp(final)  # a stale one from a killed run is removed first
    try:
        for name in keep:
            if (final / name).exists():
                _carry(final / name, tmp / name)
        for name, examples in splits.items():
            write_split(tmp / f"{name}.jsonl", examples)
        write_atomic(tmp / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Path(folder)


def _carry(src: Path, dst: Path) -> None:
    """Hard-link (or copy, across file systems) a file or a folder tree from ``src`` to ``dst``."""

    def link(s, d):
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    if src.is_dir() and not src.is_symlink():
        shutil.copytree(src, dst, symlinks=True, copy_function=link)
    else:
        link(src, dst)


def dataset_domains(
    folder: str | Path, names: Sequence[str] | None = None, example_domains: Iterable[str] = ()
) -> list:
    """The Domain objects a dataset folder is checked against: ``names`` if given (the user's:
    they may import ``module:DOMAIN``); else the specs the manifest recorded (``config.domains``:
    bundled names or spec files), its domain names, or ``example_domains`` (the examples' own),
    the first of these that loads. Names read from data never import Python code.

    Raises:
        OctoError: none of them loads (the last error), or nothing names a domain.
    """
    from octo_mlx.domains.catalog import load_domains

    if names:
        return load_domains(list(names))
    return _manifest_domains(read_manifest(folder), example_domains, folder)


def _manifest_domains(manifest: Mapping[str, Any], example_domains: Iterable[str], folder) -> list:
    from octo_mlx.domains.catalog import load_domains

    candidates = [
        (manifest.get("config") or {}).get("domains"),
        manifest.get("domains"),
        sorted(example_domains),
    ]
    error = None
    for specs in candidates:
        if specs and isinstance(specs, list):
            try:
                return load_domains([str(x) for x in specs], imports=False)  # data never imports
            except OctoError as e:
                error = e
    if error is not None:
        raise error
    raise OctoError("cannot tell which function domains this data uses: give --domain", folder)


def resolve_domains(folder: str | Path, domains: Iterable[Any] | None = None) -> dict[str, set[str]] | None:
    """The domain -> functions map to check a folder against: ``domains`` if given, else the
    domains the manifest names (None when they cannot be loaded: structure-only check)."""
    if domains is not None:
        return known_functions(domains)
    manifest = read_manifest(folder)  # a manifest that is not JSON is an error, not a structure-only check
    try:
        return known_functions(_manifest_domains(manifest, (), folder))
    except OctoError:
        return None


def dataset_task(folder: str | Path) -> str:
    """What a dataset folder holds, from its manifest's ``task``: "plan" (absent: a planner
    dataset, as every folder before the action model) or "action".

    Raises:
        OctoError: a manifest that is not JSON, or a task no reader knows.
    """
    task = read_manifest(folder).get("task", "plan")
    if task not in TASKS:
        raise OctoError(f"unknown task {task!r} (known: {', '.join(TASKS)})", Path(folder) / MANIFEST)
    return task


def validate_dir(folder: str | Path, domains: Iterable[Any] | None = None) -> list[Problem]:
    """Every problem in a planner dataset folder: each bad line, an id or a query given twice
    (within a split or across splits), manifest counts that disagree with the files.

    Args:
        folder: the dataset folder.
        domains: Domain objects to check gold functions against (default: the manifest's
            bundled domains, when they load).
    """
    return validate_folder(folder, domains, PLANS)


def validate_folder(folder: str | Path, domains: Iterable[Any] | None, fmt: RecordFormat) -> list[Problem]:
    """:func:`validate_dir` for any record format (the planner's, the action model's)."""
    folder = Path(folder)
    if not folder.is_dir():
        return [Problem(str(folder), 0, "no such folder")]
    known = resolve_domains(folder, domains)
    problems: list[Problem] = []
    try:
        manifest = read_manifest(folder)
    except OctoError as e:
        manifest = {}
        problems.append(Problem(str(folder / MANIFEST), 0, e.message))
    if manifest and manifest.get("task", "plan") != fmt.task:
        problems.append(
            Problem(
                str(folder / MANIFEST), 0, f"task is {manifest.get('task', 'plan')!r}, expected {fmt.task!r}"
            )
        )
        return problems
    present = [s for s in SPLITS if (folder / f"{s}.jsonl").is_file()]
    if "train" not in present:
        problems.append(Problem(str(folder / "train.jsonl"), 0, "no such file"))
    ids: dict[str, str] = {}
    keys: dict[str, str] = {}
    for split in present:
        path = folder / f"{split}.jsonl"
        examples, bad, n_lines = scan_lines(path, known, fmt)
        problems.extend(bad)
        for line, ex in examples:
            if ex.id in ids:
                problems.append(Problem(str(path), line, f"id {ex.id!r} is also in {ids[ex.id]}"))
            ids.setdefault(ex.id, f"{path.name}:{line}")
            key = fmt.key(ex)
            if key in keys and not keys[key].startswith(path.name):
                problems.append(Problem(str(path), line, f"{fmt.what} also in {keys[key]} (split leak)"))
            keys.setdefault(key, f"{path.name}:{line}")
        want = (manifest.get("counts") or {}).get(split)
        if want is not None and want != n_lines:
            problems.append(
                Problem(
                    str(folder / MANIFEST), 0, f"counts.{split}={want} but {path.name} has {n_lines} lines"
                )
            )
    return problems


def load_dataset_dir(
    folder: str | Path, domains: Iterable[Any] | None = None
) -> dict[str, list[PlanExample]]:
    """Load every split present in a folder; refuses (OctoError) exactly what validate_dir reports.

    Args:
        folder: the dataset folder (train.jsonl required; valid/test optional).
        domains: Domain objects to check gold functions against (default: the manifest's).
    """
    return load_folder(folder, domains, PLANS)


def load_folder(folder: str | Path, domains: Iterable[Any] | None, fmt: RecordFormat) -> dict[str, list]:
    """:func:`load_dataset_dir` for any record format."""
    problems = validate_folder(folder, domains, fmt)
    if problems:
        refuse(problems)
    known = resolve_domains(folder, domains)
    return {
        s: _scan(Path(folder) / f"{s}.jsonl", known, fmt)[0]
        for s in SPLITS
        if (Path(folder) / f"{s}.jsonl").is_file()
    }


# --- splitting and stats --------------------------------------------------------------------


def split_examples(
    examples: Sequence[PlanExample],
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    group: Callable[[PlanExample], str] | None = None,
) -> dict[str, list[PlanExample]]:
    """Stratified split by (step count, domains): each stratum is spread over the splits in
    proportion, and the totals match the fractions to within one example per split.

    Args:
        examples: the pool.
        fractions: shares of train, valid, test (normalised to sum 1).
        seed: shuffles within each stratum.
        group: key of examples that must land in the same split (default: the normalised query,
            so a query never sits in two splits).
    """
    if len(fractions) != len(SPLITS) or any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise OctoError(f"fractions must be {len(SPLITS)} non-negative numbers, got {list(fractions)}")
    total = sum(fractions)
    frac = [f / total for f in fractions]
    key = group or (lambda e: normalize_text(e.query))
    groups: dict[str, list[PlanExample]] = defaultdict(list)
    for e in examples:
        groups[key(e)].append(e)
    strata: dict[tuple, list[str]] = defaultdict(list)
    for g, members in groups.items():
        strata[(members[0].n_steps, tuple(sorted(members[0].domains)))].append(g)
    rng = random.Random(seed)
    order: list[str] = []
    for s in sorted(strata):
        gs = sorted(strata[s])
        rng.shuffle(gs)
        order.extend(gs)
    # Largest-deficit assignment over the stratum-ordered groups: every prefix (hence every
    # stratum) is split in proportion, e.g. 200 two-step examples -> 160/20/20.
    out: dict[str, list[PlanExample]] = {s: [] for s in SPLITS}
    counts = [0] * len(SPLITS)
    done = 0
    for g in order:
        size = len(groups[g])
        k = max(range(len(SPLITS)), key=lambda i: (frac[i] * (done + size) - counts[i], frac[i]))
        out[SPLITS[k]].extend(groups[g])
        counts[k] += size
        done += size
    return out


@dataclass
class DatasetStats:
    """Counts of a dataset folder, for `octo-mlx data stats`."""

    folder: str
    generator: str
    splits: dict[str, int] = field(default_factory=dict)
    by_steps: dict[str, dict[int, int]] = field(default_factory=dict)  # split -> n_steps -> count
    by_function: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> function -> count
    by_domain: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> domain -> count

    def tables(self) -> list[tuple[str, dict[str, dict]]]:
        """(title, split -> key -> count) of each table `data stats` shows."""
        return [("step count", self.by_steps), ("function", self.by_function), ("domain", self.by_domain)]


def stats(folder: str | Path, domains: Iterable[Any] | None = None) -> DatasetStats:
    """Counts by split, step count, gold function and domain (refuses an invalid folder).

    Args:
        folder: the dataset folder.
        domains: Domain objects to check against (default: the manifest's).
    """
    data = load_dataset_dir(folder, domains)
    manifest = read_manifest(folder)
    generators = sorted({e.generator for exs in data.values() for e in exs})
    result = DatasetStats(str(folder), manifest.get("generator") or ", ".join(generators) or "?")
    for split, exs in data.items():
        result.splits[split] = len(exs)
        result.by_steps[split] = dict(sorted(Counter(e.n_steps for e in exs).items()))
        result.by_function[split] = dict(Counter(f for e in exs for f in e.functions).most_common())
        result.by_domain[split] = dict(Counter(d for e in exs for d in e.domains).most_common())
    return result


# --- Hugging Face datasets --------------------------------------------------------------------


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=False)


def _plan_hf_row(record: dict) -> dict:
    """A planner line as a Hugging Face row: each call's arguments as JSON text (Arrow needs one
    type per column; arguments differ from function to function)."""
    if "calls" in record:
        record = {
            **record,
            "calls": [{**c, "arguments": _json_text(c["arguments"])} for c in record["calls"]],
        }
    return record


def _plan_from_hf_row(row: dict) -> dict:
    """The inverse of :func:`_plan_hf_row`; an optional column a row lacks (None) is dropped."""
    record = {k: v for k, v in row.items() if not (k in OPTIONAL_FIELDS and v is None)}
    if isinstance(record.get("calls"), list):
        record["calls"] = [decode_hf_arguments(c) for c in record["calls"]]
    return record


def decode_hf_arguments(call: Any) -> Any:
    """A call of a Hugging Face row, its ``arguments`` JSON text decoded (left as is when not text,
    so the record check names the problem)."""
    if isinstance(call, dict) and isinstance(call.get("arguments"), str):
        try:
            return {**call, "arguments": json.loads(call["arguments"])}
        except json.JSONDecodeError:
            return call
    return call


def hf_dataset_dict(data: Mapping[str, Sequence[Any]], row: Callable[[dict], dict]):
    """A ``datasets.DatasetDict``: one Dataset per split, one row (``row(e.to_record())``) per example."""
    import datasets

    return datasets.DatasetDict(
        {s: datasets.Dataset.from_list([row(e.to_record()) for e in exs]) for s, exs in data.items()}
    )


def to_hf(folder: str | Path, domains: Iterable[Any] | None = None):
    """Load a planner dataset folder as a ``datasets.DatasetDict`` (one Dataset per split, the
    JSONL's columns; a gold call's arguments as JSON text)."""
    return hf_dataset_dict(load_dataset_dir(folder, domains), _plan_hf_row)


def save_hf(to: str | Path, make: Callable[[], Any], overwrite: bool = False):
    """Check ``to`` first, then save the DatasetDict ``make()`` returns there, whole (built beside
    it, then swapped in); a folder that already holds something is refused unless ``overwrite``."""
    to = check_output_folder(to, "--to", overwrite=overwrite)
    dataset_dict = make()
    tmp = fresh_tmp(to)
    dataset_dict.save_to_disk(str(tmp))
    replace_dir(tmp, to)
    return dataset_dict


def export_hf(
    folder: str | Path, to: str | Path, domains: Iterable[Any] | None = None, overwrite: bool = False
):
    """Save a dataset folder as a ``datasets.DatasetDict`` at ``to`` (``load_from_disk`` reads it back).

    ``to`` is checked before anything loads and written whole (built beside it, then swapped in);
    a folder that already holds something is refused unless ``overwrite``.

    Returns the DatasetDict that was saved.
    """
    return save_hf(to, lambda: to_hf(folder, domains), overwrite)


def examples_from_hf(dataset_dict, fmt: RecordFormat, from_row: Callable[[dict], dict]) -> dict[str, list]:
    """Split -> examples of a DatasetDict, every row checked like a JSONL line (structure only);
    a bad row raises OctoError ``split:row: reason``."""
    splits: dict[str, list] = {}
    for split in dataset_dict:
        if split not in SPLITS:
            raise OctoError(f"unknown split {split!r} (expected {', '.join(SPLITS)})", "DatasetDict")
        exs = []
        for i, row in enumerate(dataset_dict[split], 1):
            record = from_row(dict(row))
            reasons = fmt.check(record, None)
            if reasons:
                raise OctoError("; ".join(reasons), f"{split}:{i}")
            exs.append(fmt.build(record))
        splits[split] = exs
    return splits


def from_hf(dataset_dict, folder: str | Path, seed: int | None = None, overwrite: bool = False) -> Path:
    """Write a ``datasets.DatasetDict`` (splits train/valid/test, our columns) as a dataset folder,
    whole (:func:`write_dataset`).

    Every row is checked like a JSONL line; a bad row raises OctoError ``split:row: reason``. A
    ``folder`` that is a file, or that already holds something, is refused before any row is
    read, unless ``overwrite`` (then it is replaced whole).
    """
    check_output_folder(folder, "output folder", overwrite=overwrite)
    splits = examples_from_hf(dataset_dict, PLANS, _plan_from_hf_row)
    all_ex = [e for exs in splits.values() for e in exs]
    generators = sorted({e.generator for e in all_ex})
    domains = sorted({d for e in all_ex for d in e.domains})
    return write_dataset(folder, splits, ", ".join(generators) or "?", seed, domains)
