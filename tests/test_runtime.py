"""OpenBLAS must give the same numbers as MLX's bundled BLAS, only faster."""

import os
import subprocess
import sys

import numpy as np
import pytest

from octo_mlx.runtime import blas, device

SCRIPT = """
import sys, numpy as np, mlx.core as mx
from octo_mlx.runtime.blas import blas_in_use
mx.random.seed(0)
a = mx.random.normal((257, 300)); b = mx.random.normal((300, 129))
np.save(sys.argv[1], np.array(a @ b))
print(blas_in_use())
"""


def _run(tmp_path, name, env):
    out = tmp_path / f"{name}.npy"
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out)], env=env, capture_output=True, text=True, check=True
    )
    return np.load(out), res.stdout.strip()


@pytest.mark.skipif(
    blas.find_openblas() is None, reason="Debian OpenBLAS not installed (make setup installs it)"
)
def test_openblas_and_bundled_blas_agree(tmp_path):
    base = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    bundled, name_b = _run(tmp_path, "bundled", base)
    fast, name_f = _run(tmp_path, "openblas", blas.openblas_env(base))
    assert name_b.startswith("bundled") and name_f.startswith("OpenBLAS"), (name_b, name_f)
    np.testing.assert_allclose(fast, bundled, rtol=1e-4, atol=1e-4)


def test_cli_reexecs_with_openblas(tmp_path):
    if blas.find_openblas() is None:
        pytest.skip("Debian OpenBLAS not installed")
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "OCTO_MLX_REEXECED")}
    code = "from octo_mlx.cli import main; main()"
    res = subprocess.run(
        [sys.executable, "-c", code, "doctor", "--size", "256"], env=env, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    assert "OpenBLAS" in res.stdout
    env[blas.NO_OPENBLAS_ENV] = "1"
    res = subprocess.run(
        [sys.executable, "-c", code, "doctor", "--size", "256"], env=env, capture_output=True, text=True
    )
    assert "bundled" in res.stdout


def test_the_dtype_policy_computes_in_float32_on_the_cpu_and_bfloat16_on_metal():
    import mlx.core as mx
    import mlx.nn as nn

    want = mx.bfloat16 if device.on_gpu() else mx.float32
    assert device.compute_dtype() == want
    layer = nn.Linear(4, 4)
    layer.set_dtype(mx.float16)
    quantized = nn.QuantizedLinear(64, 64)  # its packed uint32 weights must stay as they are
    model = nn.Sequential(layer, quantized)
    device.apply_dtype_policy(model)
    assert layer.weight.dtype == want and quantized.weight.dtype == mx.uint32


PLANTED = ("rich", "json", "yaml", "numpy", "transformers")


@pytest.mark.skipif(blas.find_openblas() is None, reason="the re-exec needs Debian OpenBLAS (make setup)")
def test_no_command_imports_a_module_planted_in_the_current_folder(tmp_path, tiny_llama):
    """A rich.py (json.py, ...) where the user types a command is never imported, through the
    OpenBLAS re-exec included (it used to run `python -m`, which puts the folder on sys.path)."""
    from tests.helpers.cli import run_octo

    marker = tmp_path / "PLANTED-CODE-RAN"
    for name in PLANTED:
        (tmp_path / f"{name}.py").write_text(f"open({str(marker)!r}, 'a').write({name!r})\n")
    commands = [
        ("--help",),
        ("functions", "list"),
        ("data", "validate", "no-such-folder"),
        ("model", "info", str(tiny_llama)),
        ("doctor", "--size", "128"),
    ]
    for args in commands:
        res = run_octo(*args, cwd=tmp_path, drop=("LD_PRELOAD", "OCTO_MLX_REEXECED"))
        assert not marker.exists(), f"octo-mlx {' '.join(args)} imported {marker.read_text()} from the cwd"
        assert "Traceback" not in res.stderr, (args, res.stderr)
    assert "OpenBLAS" in res.stdout  # the last command (doctor) did re-execute itself
