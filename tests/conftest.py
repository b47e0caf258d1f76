from pathlib import Path

import pytest

from tests.helpers.servers import mlx_server  # noqa: F401  (a real mlx_lm.server on tiny_llama, session scope)
from tests.helpers.tiny import build_tiny_model


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    """A 2-layer random llama with the local tokenizer (shared, read-only: copy before changing)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"), "llama")


@pytest.fixture(scope="session")
def taught_planner(tiny_llama, tmp_path_factory) -> Path:
    """The tiny llama taught the plans of teach.PLANS: it emits real plans and its end marker."""
    from tests.helpers.teach import PLANS, plan_text, teach

    return teach(tiny_llama, tmp_path_factory.mktemp("taught-planner"), [(q, plan_text(s)) for q, s in PLANS])


@pytest.fixture(scope="session")
def action_data(tmp_path_factory) -> Path:
    """80 offline android action examples (`data synth --task action`; read-only)."""
    from tests.helpers.cli import run_octo

    out = tmp_path_factory.mktemp("action") / "data"
    res = run_octo(
        "data", "synth", "--offline", "--task", "action", "--domain", "android", "--n", "80", "--out", out
    )
    assert res.returncode == 0, res.stderr
    return out


@pytest.fixture(scope="session")
def agent_adapters(tiny_llama, tmp_path_factory) -> tuple[Path, Path]:
    """(planner, action) LoRAs on the tiny llama that know the agent tests' requests by heart
    (tests/helpers/agent.py; ~25 s on 2 cores, read-only)."""
    from tests.helpers.agent import train_agent_adapters

    return train_agent_adapters(tiny_llama, tmp_path_factory.mktemp("agent-adapters"))
