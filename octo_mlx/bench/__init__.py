"""Benchmarks against named peers: training speed (train, with its worker processes in workers),
planner latency (plan), and their sections of BENCHMARKS.md (markdown)."""
