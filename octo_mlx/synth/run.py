"""Planner dataset synthesis: ``synthesize(SynthConfig) -> SynthReport``.

Two generators write the same format (octo_mlx/data.py):
- ``offline`` (octo_mlx/synth/offline.py): compositional phrasing from the bundled function
  specs, no network; the default when no teacher endpoint is given.
- ``teacher`` (octo_mlx/synth/teacher.py): the paper's recipe against any OpenAI-compatible
  endpoint (query -> plan -> judge), with a request cache and resumable record logs.
The manifest (dataset.json) says which one made a dataset: "offline" or "teacher:<model>".

The output folder is checked before any work (:func:`check_output`) and the dataset is written
whole (octo_mlx.data.write_dataset: a temporary folder beside it, swapped in at the end), so a
folder that held something is never clobbered unless the user said ``--overwrite``, and a kill
never leaves new splits beside old ones.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from octo_mlx.synth.config import ProgressEvent, SynthConfig, SynthReport


def synthesize(config: SynthConfig, progress: Callable[[ProgressEvent], None] | None = None) -> SynthReport:
    """Make a planner dataset in ``config.out`` with the offline generator or a teacher LLM.

    Args:
        config: what to make (see SynthConfig).
        progress: called after each task attempt (teacher path) or once at the end (offline).
    """
    from octo_mlx.domains.catalog import load_domains

    check_output(config)  # before any generation or request
    domains = load_domains(config.domains)  # refuses two domains sharing a function name
    if config.uses_teacher:
        from octo_mlx.synth.teacher import run_teacher

        return run_teacher(config, domains, progress)
    return _run_offline(config, domains, progress)


def check_output(config: SynthConfig) -> Path:
    """Refuse, before any work, an ``--out`` that is a file, cannot be written, or already holds
    something (a dataset, a user's own files), unless ``config.overwrite``. A folder that holds
    only a teacher run's work folder (``.synth``, left by a killed run) is not refused: the
    teacher run resumes from it. The same for ``--cache-dir``: it must be a writable folder.

    Raises:
        OctoError: one line naming the folder and what to do.
    """
    from octo_mlx.files import check_output_folder, recover_dir

    out = Path(config.out)
    recover_dir(out)  # first: a folder a kill left aside mid-swap (with its .synth) is the folder
    if config.uses_teacher:
        from octo_mlx.synth.teacher import WORK

        if config.cache_dir:
            check_output_folder(config.cache_dir, "--cache-dir", overwrite=True)  # a cache is reused
        if out.is_dir() and all(p.name == WORK for p in out.iterdir()):  # empty, or a run to resume
            return check_output_folder(out, "--out", overwrite=True)
    return check_output_folder(out, "--out", overwrite=config.overwrite)


def _run_offline(config: SynthConfig, domains: list, progress) -> SynthReport:
    import time

    from octo_mlx.data import write_dataset
    from octo_mlx.synth.offline import synthesize_actions, synthesize_offline

    t0 = time.perf_counter()
    kwargs: dict[str, Any] = dict(
        steps=config.steps,
        irrelevant=config.irrelevant,
        multi_domain=config.multi_domain,
        fractions=config.fractions,
        generic_phrasing=config.generic_phrasing,
        balance=config.balance,
    )
    if config.holdout is not None:
        kwargs["holdout"] = config.holdout
    extra = {"config": {**config.public(), "base_url": None, "model": None}}
    if config.task == "action":
        from octo_mlx.action_data import write_dataset as write_actions

        splits, plans = synthesize_actions(domains, config.n, config.seed, **kwargs)
        held = list(plans.holdout_templates)
        write_actions(
            config.out,
            splits,
            "offline",
            config.seed,
            [d.name for d in domains],
            extra={
                **({"holdout_templates": held} if held else {}),
                "plans": sum(len(v) for v in plans.splits.values()),
                **plans.manifest(),
                **extra,
            },
        )
    else:
        ds = synthesize_offline(domains, config.n, config.seed, **kwargs)
        splits = ds.splits
        extra = {**ds.manifest(), **extra}
        if config.replan:
            from octo_mlx.synth.replan import replan_splits

            replans = replan_splits(ds, domains, config.replan, config.seed)
            splits = {s: [*splits[s], *replans[s]] for s in splits}
            extra["replan"] = {s: len(v) for s, v in replans.items()}
        write_dataset(config.out, splits, "offline", config.seed, [d.name for d in domains], extra=extra)
    counts = {k: len(v) for k, v in splits.items()}
    total = sum(counts.values())
    made = total - sum(extra.get("replan", {}).values())  # what --n asked for (re-plans come on top)
    if progress:
        progress(ProgressEvent(config.n, config.n, total, config.n - made, 0, 0))
    return SynthReport(config.out, "offline", config.n, total, counts, seconds=time.perf_counter() - t0)
