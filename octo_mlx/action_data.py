"""Action-model datasets: (a step, optionally the previous step's observation) -> one function call.

The action model turns each step a planner wrote into one call (the paper's
``O_{i+1} = pi_action(tau_i, O_i)``). One example is one JSON line::

    {"id": "off-1c0e6b1f2a9d-s1",
     "step": "Add the cheapest product found to the cart",
     "observation": {"function": "search_products", "arguments": {"query": "office chair",
                     "sort_by": "relevance"}, "ok": true, "result": [...], "error": null},
     "call": {"function": "add_to_cart", "arguments": {"product_id": "P1002"}},
     "domains": ["ecommerce"], "template": "add_to_cart/after0", "dependent": true,
     "generator": "offline"}

- ``observation``: null, or what the previous step's gold call returned in the seeded simulated
  world (``octo_mlx.functions.simulator.Observation.to_dict()``). A ``dependent`` step (one that
  refers to an earlier result: "the cheapest product found") always carries it, and its gold call
  is the one that result makes true.
- ``call``: ``{"function", "arguments"}``, arguments valid against the function's JSON schema;
  ``{"function": "none", "arguments": {}}`` for a request no function serves.
- ``template``: the step template the step was written from (``add_to_cart/after0``), so a split
  can hold whole templates out for test (the manifest's ``holdout_templates``).

A folder is the planner's layout (train/valid/test.jsonl and dataset.json) with ``"task":
"action"`` in the manifest. Reading, checking (``file:line: reason``), loading and the Hugging Face
conversion are octo_mlx.data's, given this module's record format :data:`ACTIONS`.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from octo_mlx import data
from octo_mlx.data import PLAN_SPLIT, SPLITS, Problem, RecordFormat, normalize_text
from octo_mlx.errors import OctoError
from octo_mlx.files import check_output_folder

TASK = "action"
FIELDS = ("id", "step", "observation", "call", "domains", "template", "dependent", "generator")
OBSERVATION_KEYS = ("function", "arguments", "ok", "result", "error")


@dataclass(frozen=True)
class ActionExample:
    """One step and its gold call (``call`` is an ``octo_mlx.functions.calls.Call``)."""

    id: str
    step: str
    observation: Mapping[str, Any] | None = field(hash=False)
    call: Any
    domains: tuple[str, ...]
    template: str
    dependent: bool
    generator: str

    def to_record(self) -> dict[str, Any]:
        """The JSON line."""
        return {
            "id": self.id,
            "step": self.step,
            "observation": None if self.observation is None else dict(self.observation),
            "call": self.call.to_dict(),
            "domains": list(self.domains),
            "template": self.template,
            "dependent": self.dependent,
            "generator": self.generator,
        }

    @classmethod
    def from_record(
        cls, record: Any, known: Mapping[str, Any] | None = None, where: str | None = None
    ) -> ActionExample:
        """Check a parsed JSON line and build the example; raises OctoError naming every problem.

        Args:
            record: the parsed JSON object.
            known: domain name -> its functions (``data.known_functions``); when given, the call's
                function must be one of the example's domains and its arguments valid.
            where: ``file:line`` for the error message.
        """
        reasons = check_record(record, known)
        if reasons:
            raise OctoError("; ".join(reasons), where)
        return _build(record)


def check_record(record: Any, known: Mapping[str, Any] | None = None) -> list[str]:
    """Every problem of one parsed action line, as short reasons (empty list = valid).

    Args:
        record: the parsed JSON value.
        known: domain name -> functions (names, or name -> Function to check arguments too);
            None checks the structure only.
    """
    if not isinstance(record, dict):
        return [f"expected a JSON object, got {type(record).__name__}"]
    reasons = [f"missing field '{f}'" for f in FIELDS if f not in record]
    extra = sorted(set(record) - set(FIELDS))
    if extra:
        reasons.append(f"unknown field(s) {', '.join(map(repr, extra))}")
    for name in ("id", "step", "template"):
        value = record.get(name, "x")
        if not isinstance(value, str) or not value.strip():
            reasons.append(f"'{name}' must be a non-empty string")
    if isinstance(record.get("step"), str) and PLAN_SPLIT in record["step"]:
        reasons.append(f"'step' holds one step, not a plan ({PLAN_SPLIT} inside)")
    gen_problem = data.generator_problem(record.get("generator", "offline"))
    if gen_problem:
        reasons.append(gen_problem)
    dependent = record.get("dependent", False)
    if not isinstance(dependent, bool):
        reasons.append(f"'dependent' must be true or false, got {dependent!r}")
    observation = record.get("observation")
    reasons += observation_problems(observation)
    if dependent is True and "observation" in record and observation is None:
        reasons.append("a dependent step needs the observation it depends on")
    doms = record.get("domains", [])
    if not (isinstance(doms, list) and doms and all(isinstance(d, str) and d for d in doms)):
        reasons.append("'domains' must be a non-empty list of strings")
        doms = None
    elif known is not None and any(d not in known for d in doms):
        reasons.append(f"unknown domain(s) {[d for d in doms if d not in known]} (known: {sorted(known)})")
        doms = None
    if "call" in record:
        _, problem = data.call_problem(record["call"], doms or [], known if doms else None)
        if problem:
            reasons.append(f"call: {problem}")
    return reasons


def observation_problems(observation: Any) -> list[str]:
    """Why ``observation`` is not null or a simulator observation (function, arguments, ok, result, error)."""
    if observation is None:
        return []
    if not isinstance(observation, dict):
        return [f"'observation' must be null or an object, got {type(observation).__name__}"]
    keys = set(observation)
    if keys != set(OBSERVATION_KEYS):
        missing = [k for k in OBSERVATION_KEYS if k not in keys]
        extra = sorted(keys - set(OBSERVATION_KEYS))
        said = ", ".join(
            ([f"missing {missing}"] if missing else []) + ([f"unknown {extra}"] if extra else [])
        )
        return [f"'observation' must have the keys {list(OBSERVATION_KEYS)} ({said})"]
    reasons = []
    if not isinstance(observation["function"], str) or not observation["function"]:
        reasons.append("observation.function must be a non-empty string")
    if not isinstance(observation["arguments"], dict):
        reasons.append("observation.arguments must be an object")
    ok, error = observation["ok"], observation["error"]
    if not isinstance(ok, bool):
        reasons.append(f"observation.ok must be true or false, got {ok!r}")
    elif ok and error is not None:
        reasons.append("observation.error must be null when ok is true")
    elif not ok and not (isinstance(error, str) and error):
        reasons.append("observation.error must say why when ok is false")
    return reasons


def _build(record: dict) -> ActionExample:
    from octo_mlx.functions.calls import Call

    return ActionExample(
        id=record["id"],
        step=record["step"],
        observation=record["observation"],
        call=Call.from_dict(record["call"]),
        domains=tuple(record["domains"]),
        template=record["template"],
        dependent=record["dependent"],
        generator=record["generator"],
    )


def example_key(example: ActionExample) -> str:
    """What must not be given twice (in a split, or across splits): the normalised step, with
    the observation it is read with."""
    step = normalize_text(example.step)
    if example.observation is None:
        return step
    return f"{step} | {json.dumps(example.observation, sort_keys=True, ensure_ascii=False)}"


ACTIONS = RecordFormat(check_record, _build, example_key, "step", task=TASK)


# --- files and folders ------------------------------------------------------------------------


def read_split(
    path: str | Path, domains: Iterable[Any] | Mapping[str, Any] | None = None
) -> list[ActionExample]:
    """Load one JSONL split of action examples; raises OctoError ``file:line: reason`` on the
    first bad line (counting the others).

    Args:
        path: the .jsonl file.
        domains: Domain objects (calls checked against their schemas), or name -> function
            names; None checks the structure only.
    """
    examples, problems, _ = data.scan_lines(Path(path), data.known_functions(domains), ACTIONS)
    if problems:
        data.refuse(problems)
    return [e for _, e in examples]


def write_dataset(*args: Any, extra: Mapping[str, Any] | None = None, **options: Any) -> Path:
    """Write an action dataset folder whole: ``data.write_dataset(folder, splits, generator, seed,
    domains, **options)`` with ``"task": "action"`` in the manifest; ``extra`` adds manifest
    fields (``holdout_templates``, the synthesis config)."""
    return data.write_dataset(*args, extra={"task": TASK, **(extra or {})}, **options)


def validate_dir(folder: str | Path, domains: Iterable[Any] | None = None) -> list[Problem]:
    """Every problem in an action dataset folder: each bad line (``file:line: reason``), an id or
    a step (with its observation) given twice or in two splits, manifest counts that disagree
    with the files, and, when the manifest names ``holdout_templates``, a held-out template
    outside test or a test step written from another template.

    Args:
        folder: the dataset folder.
        domains: Domain objects to check calls against (default: the manifest's domains).
    """
    problems = data.validate_folder(folder, domains, ACTIONS)
    if problems:
        return problems
    held = data.read_manifest(folder).get("holdout_templates")
    if not isinstance(held, list):
        return problems
    held = set(held)
    for split in SPLITS:
        path = Path(folder) / f"{split}.jsonl"
        if not path.is_file():
            continue
        examples, _, _ = data.scan_lines(path, None, ACTIONS)
        for line, e in examples:
            if split == "test" and e.template not in held:
                problems.append(Problem(str(path), line, f"template {e.template!r} is not held out for test"))
            elif split != "test" and e.template in held:
                problems.append(Problem(str(path), line, f"held-out template {e.template!r} outside test"))
    return problems


def load_dataset_dir(
    folder: str | Path, domains: Iterable[Any] | None = None
) -> dict[str, list[ActionExample]]:
    """Load every split of an action dataset folder; refuses exactly what :func:`validate_dir` reports."""
    problems = validate_dir(folder, domains)
    if problems:
        data.refuse(problems)
    return data.load_folder(folder, domains, ACTIONS)


# --- splitting --------------------------------------------------------------------------------


def split_examples(
    examples: Sequence[ActionExample], holdout: Collection[str], valid: float = 0.1, seed: int = 0
) -> dict[str, list[ActionExample]]:
    """Hold whole step templates out: test = the examples written from a template in ``holdout``;
    train and valid share the others (``valid`` of them to valid), one normalised step (with its
    observation) never in two splits. A held-out example whose step also turns up from another
    template is left out of test rather than leak.

    Args:
        examples: the pool.
        holdout: template ids only the test split uses (e.g. one per function).
        valid: share of the other examples for valid, in [0, 1).
        seed: shuffles which steps go to valid.
    """
    if not 0 <= valid < 1:
        raise OctoError(f"valid is a share in [0, 1), got {valid}")
    held = set(holdout)
    groups: dict[str, list[ActionExample]] = defaultdict(list)
    test: list[ActionExample] = []
    for e in examples:
        (test if e.template in held else groups[example_key(e)]).append(e)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    out: dict[str, list[ActionExample]] = {s: [] for s in SPLITS}
    total = sum(len(groups[k]) for k in keys)
    for k in keys:  # largest deficit: valid gets its share to within one group
        split = "valid" if len(out["valid"]) + len(groups[k]) / 2 <= valid * total else "train"
        out[split].extend(groups[k])
    seen = set(groups)
    out["test"] = [e for e in test if example_key(e) not in seen]
    return out


def template_leaks(splits: Mapping[str, Sequence[ActionExample]]) -> set[str]:
    """Templates of the test split that train or valid also use (empty for an honest split)."""
    used = {e.template for s in ("train", "valid") for e in splits.get(s, ())}
    return {e.template for e in splits.get("test", ())} & used


# --- stats --------------------------------------------------------------------------------------


@dataclass
class ActionStats:
    """Counts of an action dataset folder, for `octo-mlx data stats`."""

    folder: str
    generator: str
    splits: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)  # independent / dependent / no function
    by_function: dict[str, dict[str, int]] = field(default_factory=dict)
    by_domain: dict[str, dict[str, int]] = field(default_factory=dict)
    templates: dict[str, int] = field(default_factory=dict)  # split -> distinct templates

    def tables(self) -> list[tuple[str, dict[str, dict]]]:
        """(title, split -> key -> count) of each table `data stats` shows."""
        distinct = {s: {"distinct templates": n} for s, n in self.templates.items()}
        return [
            ("kind", self.by_kind),
            ("function", self.by_function),
            ("domain", self.by_domain),
            ("templates", distinct),
        ]


def kind_of(e: ActionExample) -> str:
    """ "no function", "dependent" or "independent"."""
    return "no function" if e.call.is_none else "dependent" if e.dependent else "independent"


def stats(folder: str | Path, domains: Iterable[Any] | None = None) -> ActionStats:
    """Counts by split, kind of step, gold function and domain (refuses an invalid folder)."""
    loaded = load_dataset_dir(folder, domains)
    manifest = data.read_manifest(folder)
    generators = sorted({e.generator for exs in loaded.values() for e in exs})
    result = ActionStats(str(folder), manifest.get("generator") or ", ".join(generators) or "?")
    for split, exs in loaded.items():
        result.splits[split] = len(exs)
        result.by_kind[split] = dict(Counter(kind_of(e) for e in exs).most_common())
        result.by_function[split] = dict(Counter(e.call.function for e in exs).most_common())
        result.by_domain[split] = dict(Counter(d for e in exs for d in e.domains).most_common())
        result.templates[split] = len({e.template for e in exs})
    return result


# --- Hugging Face datasets ----------------------------------------------------------------------


def _hf_row(record: dict) -> dict:
    """An action line as a Hugging Face row: the observation and the call's arguments as JSON
    text (Arrow needs one type per column; results and arguments differ from call to call)."""
    observation = record["observation"]
    return {
        **record,
        "observation": None if observation is None else json.dumps(observation, ensure_ascii=False),
        "call": {**record["call"], "arguments": json.dumps(record["call"]["arguments"], ensure_ascii=False)},
    }


def _from_hf_row(row: dict) -> dict:
    record = dict(row)
    if isinstance(record.get("observation"), str):
        try:
            record["observation"] = json.loads(record["observation"])
        except json.JSONDecodeError:
            pass  # left as text: the record check names it
    record["call"] = data.decode_hf_arguments(record.get("call"))
    return record


def to_hf(folder: str | Path, domains: Iterable[Any] | None = None):
    """Load an action dataset folder as a ``datasets.DatasetDict`` (the JSONL's columns; the
    observation and the call's arguments as JSON text)."""
    return data.hf_dataset_dict(load_dataset_dir(folder, domains), _hf_row)


def export_hf(
    folder: str | Path, to: str | Path, domains: Iterable[Any] | None = None, overwrite: bool = False
):
    """Save an action dataset folder as a DatasetDict at ``to``, whole; returns it."""
    return data.save_hf(to, lambda: to_hf(folder, domains), overwrite)


def from_hf(dataset_dict, folder: str | Path, seed: int | None = None, overwrite: bool = False) -> Path:
    """Write a DatasetDict of action rows (as :func:`to_hf` makes) as an action dataset folder,
    whole; every row is checked like a JSONL line (``split:row: reason``). A ``folder`` that
    holds something is refused before any row is read, unless ``overwrite``."""
    check_output_folder(folder, "output folder", overwrite=overwrite)
    splits = data.examples_from_hf(dataset_dict, ACTIONS, _from_hf_row)
    all_ex = [e for exs in splits.values() for e in exs]
    generators = sorted({e.generator for e in all_ex})
    domains = sorted({d for e in all_ex for d in e.domains})
    return write_dataset(folder, splits, ", ".join(generators) or "?", seed, domains)
