"""Fine-tuning a planner: the typed recipe (recipe), batches (batching), the optimizer step (step),
the run's set-up (setup) and loop (loop), checkpoints and outputs (checkpoint), and the memory
plan that predicts a run's peak before anything loads (memory)."""
