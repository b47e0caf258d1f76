"""Planner dataset synthesis: what a run is asked and reports (config), the run (run), the offline
generator (offline, with its phrase banks in phrasebank/) and the teacher LLM path (teacher, with
its prompts and deterministic checks)."""
