"""`octo-mlx eval`: plans for a test split (run), judged deterministically or by an LLM (judges),
reported with Wilson intervals and plotted (plots)."""
