"""`octo-mlx doctor`: the machine."""

from __future__ import annotations

from octo_mlx.cli.registry import command


def _doctor_args(p):
    p.add_argument("--size", type=int, default=2048, help="matmul size for the GFLOP/s measurement")


@command(
    "doctor",
    "octo_mlx.runtime.doctor:run_doctor",
    "device, BLAS, matmul GFLOP/s and dtype policy",
    _doctor_args,
)
def _doctor(a):
    from octo_mlx import ui
    from octo_mlx.runtime import doctor

    ui.show_doctor(doctor.run_doctor(a.size))
