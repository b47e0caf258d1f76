"""Data-parallel training: 2 ranks under mlx.launch (ring backend over loopback) end where 1 process
on the same global batch ends."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest

from octo_mlx.runtime.blas import openblas_env
from octo_mlx.train.loop import train
from octo_mlx.train.recipe import load_recipe
from tests.helpers.datasets import tiny_overrides, write_planner_data

ROOT = Path(__file__).parent.parent
LAUNCH = Path(sys.executable).with_name("mlx.launch")


@pytest.mark.skipif(not LAUNCH.exists(), reason="mlx.launch not installed beside this python")
def test_two_ranks_match_one_process(tiny_llama, tmp_path):
    data = write_planner_data(tmp_path / "data", n_train=10, n_valid=4)  # 10 / 4: a short last batch too
    recipe = tmp_path / "r.yaml"
    recipe.write_text("train:\n  epochs: 2\n  save_every: 2\n")
    common = ["train.batching=pack", "lora.dropout=0.0"]
    port = random.randint(20000, 40000)
    cmd = [
        str(LAUNCH),
        "-n",
        "2",
        "--starting-port",
        str(port),
        "--python",
        sys.executable,
        "-m",
        "octo_mlx",
        "train",
        "--recipe",
        str(recipe),
        *tiny_overrides(tiny_llama, data, tmp_path / "two", *common),
    ]
    proc = subprocess.run(cmd, env=openblas_env(), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 rank(s)" in proc.stdout  # both ranks joined one group

    one = train(load_recipe(recipe, tiny_overrides(tiny_llama, data, tmp_path / "one", *common)))
    assert "1 rank(s)" not in proc.stdout
    two_losses = [ln for ln in proc.stdout.splitlines() if ln.startswith("step") and "validation loss" in ln]
    assert len(two_losses) == len(one.val_losses) == 2
    for line, (_, loss) in zip(two_losses, one.val_losses):
        assert float(line.rsplit(" ", 1)[-1]) == pytest.approx(loss, abs=2e-4)
    a = mx.load(str(tmp_path / "two" / "last" / "adapters.safetensors"))
    b = mx.load(str(one.last_dir / "adapters.safetensors"))
    assert set(a) == set(b)
    # The ranks sum their gradients in another order than one process does; Adam divides by
    # sqrt(v), so that rounding can move a near-zero-gradient weight by a sliver of one step
    # (lr 1e-2 here): atol 1e-4 is 1% of a step, while a lost or doubled micro-batch moves weights
    # by whole steps.
    for k in b:
        np.testing.assert_allclose(np.array(a[k]), np.array(b[k]), rtol=1e-3, atol=1e-4, err_msg=k)
    # only rank 0 wrote: one recipe, one set of checkpoints
    assert (tmp_path / "two" / "recipe.yaml").is_file()
    assert len(list((tmp_path / "two" / "checkpoints").glob("step-*"))) == 1
