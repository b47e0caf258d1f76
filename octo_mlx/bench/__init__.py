"""Benchmarks against named peers: training speed (train, with its worker processes in workers),
planner latency (plan), the adapter runtime's swap time, decode speed and memory (adapters, with
mlx-lm's processes in mlx_lm_peers), and their sections of BENCHMARKS.md (markdown)."""
