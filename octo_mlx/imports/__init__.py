"""Function-calling datasets in other formats, read into planner and action data (and ours written out
as OpenAI chat messages): `octo-mlx data import` and `octo-mlx data export`."""
