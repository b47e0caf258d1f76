"""The frozen test splits are what benchmarks/splits/README.md says: every row's file exists with
its line count and sha256 (goals are scored on these bytes and no others)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from octo_mlx.data import read_split
from octo_mlx.eval.run import fit_resolver, load_test_split

SPLITS = Path(__file__).resolve().parents[1] / "benchmarks" / "splits"


def _rows() -> list[tuple[str, int, str]]:
    rows = []
    for line in (SPLITS / "README.md").read_text().splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0].endswith(".jsonl"):
            rows.append((cells[0], int(cells[1]), cells[2]))
    return rows


def test_the_readme_lists_every_frozen_file():
    listed = {name for name, _, _ in _rows()}
    on_disk = {str(p.relative_to(SPLITS)) for p in SPLITS.glob("*/**/*.jsonl") if "agent-v1" not in p.parts}
    assert listed == on_disk and len(listed) >= 5


@pytest.mark.parametrize("name,lines,sha", _rows())
def test_a_frozen_split_is_byte_for_byte_what_the_readme_says(name, lines, sha):
    path = SPLITS / name
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    assert len(path.read_text().splitlines()) == lines


@pytest.mark.parametrize("folder", ["planner-v1/android", "planner-v1/four-domains"])
def test_a_planner_split_is_judged_with_a_trusted_resolver_from_its_own_folder(folder):
    test = SPLITS / folder / "test.jsonl"
    examples, domains = load_test_split(test, None)
    _, validation, warnings, fitted_on = fit_resolver(test, domains, examples, None)
    assert fitted_on == SPLITS / folder / "valid.jsonl" and validation.trusted and not warnings
    train_like = {e.query for e in read_split(SPLITS / folder / "valid.jsonl")}
    assert not train_like & {e.query for e in examples}
