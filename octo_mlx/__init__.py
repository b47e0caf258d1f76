"""octo-mlx: the Octo-planner planner-action agent, natively in MLX."""

__version__ = "0.1.0"
