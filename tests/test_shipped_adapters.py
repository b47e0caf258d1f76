"""The trained adapters a checkout ships in adapters/: exactly the files adapters/MANIFEST lists,
with their sha256, small enough to ship, in float16, each with its recipe and its evaluation;
and (slow tier: the real default model) they load and run the README's request."""

from __future__ import annotations

import hashlib
import json

import mlx.core as mx
import pytest

from octo_mlx.agent.session import ACTION, PLANNER, SHIPPED, shipped_adapters
from octo_mlx.errors import OctoError

LIMIT_BYTES = 60_000_000  # the budget for everything shipped


def _manifest() -> dict[str, str]:
    entries = {}
    for line in (SHIPPED / "MANIFEST").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split(maxsplit=1)
            entries[name.strip()] = digest
    return entries


def test_the_shipped_files_are_exactly_the_manifests():
    listed = _manifest()
    present = {
        str(p.relative_to(SHIPPED)) for p in SHIPPED.rglob("*") if p.is_file() and p.name != "MANIFEST"
    }
    assert present == set(listed)
    for name, digest in listed.items():
        assert hashlib.sha256((SHIPPED / name).read_bytes()).hexdigest() == digest, name
    assert sum((SHIPPED / n).stat().st_size for n in listed) <= LIMIT_BYTES


@pytest.mark.parametrize("role", [PLANNER, ACTION])
def test_each_shipped_adapter_is_float16_with_its_recipe_and_evaluation(role):
    folder = SHIPPED / role
    cfg = json.loads((folder / "adapter_config.json").read_text())
    assert cfg["packed"]["dtype"] == "float16"
    weights = mx.load(str(folder / "adapters.safetensors"))
    assert {w.dtype for w in weights.values()} == {mx.float16}
    assert (folder / "recipe.yaml").is_file()
    report = json.loads((folder / "eval.json").read_text())
    assert report["metrics"]  # made on the files as shipped (adapters/README.md has the command)


def test_without_a_checkouts_adapters_the_error_says_what_to_give(tmp_path):
    assert shipped_adapters() == (SHIPPED / PLANNER, SHIPPED / ACTION)
    with pytest.raises(OctoError, match="--planner and --action"):
        shipped_adapters(tmp_path)


@pytest.mark.slow
def test_the_shipped_adapters_run_the_readme_request_on_the_default_model():
    from octo_mlx.agent import open_session

    session = open_session(confirm=lambda event: True)
    trace = session.run("Text Alice that I'm running late and set an alarm for 7:30 am")
    assert len(trace.plan) == 2 and trace.status == "done", trace.to_json()
    assert [c["function"] for c in trace.calls] == ["send_text_message", "set_timer_alarm"]
    assert trace.calls[1]["arguments"]["time"] == "07:30"
