"""Everything octo-mlx shows in the terminal. Logic modules never import rich; the CLI calls here."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

console = Console()


def show_doctor(d) -> None:
    table = Table(title="octo-mlx doctor", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("platform", f"{d.platform}, Python {d.python}, {d.memory_gb:.0f} GB memory")
    table.add_row("mlx / mlx-lm", f"{d.mlx} / {d.mlx_lm}")
    table.add_row("device", d.device)
    table.add_row("BLAS", d.blas)
    table.add_row("matmul float32", f"{d.gflops_float32:.0f} GFLOP/s (2048x2048)")
    table.add_row("matmul bfloat16", f"{d.gflops_bfloat16:.0f} GFLOP/s (1024x1024)")
    table.add_row("dtype policy", f"compute in {d.dtype}" + ("" if d.dtype == "bfloat16" else " (no fast bf16 on this CPU)"))
    console.print(table)
