"""notebooks/adapter_experiments.ipynb runs top to bottom in a real Jupyter kernel (nbclient), in
its quick mode: the agent tests' tiny planner and the same adapter with every update zeroed, a
validation split of the requests the planner knows."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests.helpers.agent import _plan_examples, zeroed_planner_and_split

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "adapter_experiments.ipynb"


def test_the_adapter_notebook_executes_and_draws_its_figures(agent_adapters, tmp_path, monkeypatch):
    planner = agent_adapters[0]
    zero, valid = zeroed_planner_and_split(planner, tmp_path)
    monkeypatch.setenv("OCTO_NOTEBOOK_ADAPTERS", f"{zero},{planner}")
    monkeypatch.setenv("OCTO_NOTEBOOK_DATA", str(valid))
    monkeypatch.setenv("OCTO_NOTEBOOK_RESOLVER", "")  # the train split beside the data
    monkeypatch.setenv("OCTO_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("OCTO_NOTEBOOK_WORK", str(tmp_path / "work"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 3  # norms, the sweep, the spectrum
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    # the zeroed adapter alone plans nothing the planner knows; the planner alone plans them all
    total = len(_plan_examples())
    assert f"linear  weights [0.0, 1.0]: {total}/{total}" in text
    assert "linear  weights [1.0, 0.0]: " in text and f"[1.0, 0.0]: {total}/{total}" not in text
    assert (tmp_path / "work" / "sweep-linear" / "adapters.safetensors").is_file()
