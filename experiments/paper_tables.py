"""The paper's Tables 1 and 4 at our scale: the default model on offline android data.

Every run is a plain ``octo-mlx train`` then ``octo-mlx eval`` command; this script only queues
them, two at a time with one BLAS thread each (on 2 cores that trained 1.35x more tokens per
second in total than one run with two threads, RESULTS.md), and skips what is already finished, so a killed
run of the script resumes where it stopped. Commands and timings are appended to
``runs/paper/commands.log``.

    python experiments/paper_tables.py data      # octo-mlx data synth ... (1000/125/125)
    python experiments/paper_tables.py sweep     # learning rates on valid loss (never test)
    python experiments/paper_tables.py main      # Tables 1 and 4, seeds 0 and 1, + the base floor
    python experiments/paper_tables.py report    # RESULTS.md tables and plots from the eval reports
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = str(ROOT / ".venv" / "bin" / "octo-mlx")
DATA = "data/android-1250"
RUNS = Path("runs/paper")
SEEDS = (0, 1)
EPOCHS = 1
SWEEP_LIMIT = 200  # training examples per sweep run (50 steps at batch 4)
SWEEP = {
    "full": ["5e-6", "3e-5", "1e-4", "3e-4"],  # 3e-4: 1e-4 came out best of the first three
    "lora-r64": ["5e-6", "5e-5", "5e-4", "1.5e-3"],  # 1.5e-3: 5e-4 came out best of the first three
    "lora-r16": ["5e-6", "5e-5", "5e-4", "1.5e-3"],
}
RECIPES = {
    "full": "recipes/planner-full-smollm2.yaml",
    "lora-r64": "recipes/planner-lora-r64-smollm2.yaml",
    "lora-r16": "recipes/planner-lora-r16-smollm2.yaml",
}
SIZES = (100, 250, 500, 1000)


@dataclass(frozen=True)
class Job:
    name: str
    method: str | None  # None: the untrained base model, eval only
    overrides: tuple[str, ...] = ()

    @property
    def out(self) -> Path:
        return RUNS / self.name

    def train_cmd(self) -> list[str]:
        return [
            CLI,
            "train",
            "--recipe",
            RECIPES[self.method],
            *self.overrides,
            f"output.dir={self.out}",
            "--fresh",
        ]

    def eval_cmd(self) -> list[str]:
        if self.method is None:
            target = []
        elif self.method == "full":
            target = ["--model", str(self.out / "last")]
        else:
            target = ["--adapter", str(self.out / "last")]
        return [
            CLI,
            "eval",
            *target,
            "--data",
            f"{DATA}/test.jsonl",
            "--batch-size",
            "32",
            "--out",
            str(self.out / "eval.json"),
        ]


def _log(line: str) -> None:
    RUNS.mkdir(parents=True, exist_ok=True)
    with open(RUNS / "commands.log", "a") as f:
        f.write(line + "\n")


def _run(cmd: list[str], log: Path) -> None:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", COLUMNS="200")
    tic = time.time()
    with open(log, "a") as fh:
        rc = subprocess.call(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, env=env)
    shown = " ".join(shlex.quote(c if c != CLI else "octo-mlx") for c in cmd)
    _log(f"{time.strftime('%H:%M:%S')} rc={rc} {time.time() - tic:7.1f}s  {shown}")
    if rc:
        raise RuntimeError(f"failed ({rc}): {shown}; see {log}")


def run_job(job: Job, evaluate: bool = True) -> None:
    job.out.mkdir(parents=True, exist_ok=True)
    done = job.out / "train.json"
    if job.method is not None and done.is_file():  # finished before: only if it is this very run
        lr = next(o.split("=", 1)[1] for o in job.overrides if o.startswith("train.learning_rate="))
        if float(json.loads(done.read_text())["recipe"]["train"]["learning_rate"]) != float(lr):
            raise RuntimeError(f"{done} was trained at another learning rate than {lr}: remove it")
    elif job.method is not None:
        _run(job.train_cmd(), job.out / "train.log")
    if evaluate and not (job.out / "eval.json").is_file():
        _run(job.eval_cmd(), job.out / "eval.log")


def run_all(jobs: list[Job], evaluate: bool = True, workers: int = 2) -> None:
    with ThreadPoolExecutor(workers) as pool:
        for f in [pool.submit(run_job, j, evaluate) for j in jobs]:
            f.result()


def sweep_jobs() -> list[Job]:
    return [
        Job(
            f"sweep/{m}-lr{lr}",
            m,
            (
                f"data.path={DATA}",
                f"data.limit={SWEEP_LIMIT}",
                f"train.epochs={EPOCHS}",
                f"train.learning_rate={lr}",
                "train.seed=0",
            ),
        )
        for m, lrs in SWEEP.items()
        for lr in lrs
    ]


def chosen_lrs() -> dict[str, str]:
    """Per method, the swept learning rate with the lowest validation loss."""
    best: dict[str, tuple[float, str]] = {}
    for job in sweep_jobs():
        summary = json.loads((job.out / "train.json").read_text())
        lr = job.name.split("-lr")[-1]
        if job.method not in best or summary["best_val_loss"] < best[job.method][0]:
            best[job.method] = (summary["best_val_loss"], lr)
    return {m: lr for m, (_, lr) in best.items()}


def main_jobs(lrs: dict[str, str]) -> list[Job]:
    def job(m: str, n: int, seed: int) -> Job:
        name = f"{m}-n{n}-s{seed}"
        return Job(
            name,
            m,
            (
                f"data.path={DATA}",
                f"data.limit={n}",
                f"train.epochs={EPOCHS}",
                f"train.learning_rate={lrs[m]}",
                f"train.seed={seed}",
            ),
        )

    # seed by seed, so that a session cut short still has every setting once; within a seed the
    # longest first keeps both workers busy
    settings = [(m, 1000) for m in ("full", "lora-r64", "lora-r16")] + [("full", n) for n in (500, 250, 100)]
    return [Job("base", None)] + [job(m, n, s) for s in SEEDS for m, n in settings]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=["data", "sweep", "main", "report"])
    args = ap.parse_args()
    os.chdir(ROOT)
    if args.stage == "data":
        _run(
            [CLI, "data", "synth", "--offline", "--domain", "android", "--n", "1250", "--out", DATA],
            Path("/dev/null"),
        )
    elif args.stage == "sweep":
        run_all(sweep_jobs(), evaluate=False)
        print(json.dumps(chosen_lrs()))
    elif args.stage == "main":
        run_all(sweep_jobs(), evaluate=False)  # candidates added after a sweep ran
        run_all(main_jobs(chosen_lrs()))
    else:
        from report import write_report  # experiments/report.py

        write_report(ROOT, RUNS, chosen_lrs())
    return 0


if __name__ == "__main__":
    sys.exit(main())
