"""Where MLX runs and how fast: OpenBLAS on Linux (blas), the dtype and memory policy (device),
the vectorised CPU maths (fastmath) and `octo-mlx doctor` (doctor)."""
