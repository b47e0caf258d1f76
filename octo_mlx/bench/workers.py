"""The peers of `octo-mlx bench train`, each run in a fresh process by octo_mlx.bench.train.

A worker reads its spec (JSON: the model, the examples, the method, the batch, where to write),
trains, and writes what it measured (each epoch's step seconds, peak memory) to the spec's
``result`` file. The PyTorch + PEFT peer follows the same protocol from its own environment
(benchmarks/peft_train.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from octo_mlx.files import read_json_object, write_atomic
from octo_mlx.runtime.device import peak_rss_bytes


def worker_octo(spec: dict) -> dict:
    """Our loop: each epoch's step seconds from the trainer's own timing, via its callback."""
    from octo_mlx.train.loop import train
    from octo_mlx.train.recipe import load_recipe

    spe = spec["n_examples"] // spec["batch_size"]
    overrides = [
        f"model.path={spec['model']}",
        "model.new_tokens=[]",  # the same token ids as the other peers
        f"data.path={spec['data']}",
        "data.valid_limit=1",
        f"output.dir={spec['out']}",
        "output.save_best=false",
        f"train.method={spec['method']}",
        f"train.epochs={spec['epochs']}",
        f"train.batch_size={spec['batch_size']}",
        f"train.learning_rate={spec['learning_rate']}",
        "train.warmup_ratio=0",
        f"train.log_every={spe}",  # one step event per epoch: its tokens/s covers that epoch
        f"train.save_every={10**6}",
        f"lora.rank={spec['rank']}",
        f"lora.alpha={spec['alpha']}",
        *spec.get("octo_overrides", ()),
    ]
    recipe = load_recipe(None, overrides)
    events = []
    result = train(recipe, callback=events.append, resume=False)
    per_epoch = result.useful_tokens / max(1, spec["epochs"])
    epochs = [
        dict(seconds=per_epoch / e.tokens_per_s, last_loss=e.loss)
        for e in events
        if e.kind == "step" and e.step % spe == 0 and e.tokens_per_s
    ]
    return dict(
        epochs=epochs,
        peak_mlx=int(result.peak_memory_gb * 1e9),
        max_rss=peak_rss_bytes(),
        own_tokens=int(per_epoch),
    )


def mlx_lm_config(spec: dict) -> dict:
    """mlx_lm.lora's YAML config for the same run."""
    nb = spec["n_examples"] // spec["batch_size"]
    return {
        "model": spec["model"],
        "train": True,
        "data": spec["data"],
        "fine_tune_type": spec["method"],
        "optimizer": "adamw",
        "mask_prompt": True,
        "num_layers": -1,  # every layer ("all-linear"); mlx-lm's default is the last 16
        "batch_size": spec["batch_size"],
        "iters": nb * spec["epochs"],
        "val_batches": 1,
        "steps_per_report": nb,  # one report per epoch: it covers exactly that epoch's batches
        "steps_per_eval": 10**6,
        "save_every": 10**6,
        "adapter_path": spec["out"],
        "learning_rate": spec["learning_rate"],
        "lora_parameters": {"rank": spec["rank"], "scale": spec["alpha"] / spec["rank"], "dropout": 0.0},
        "max_seq_length": 2048,
        "seed": 0,
    }


def worker_mlx_lm(spec: dict) -> dict:
    """mlx_lm.lora's own main() on a YAML config; its training callback reports each epoch.

    mlx_lm.lora builds its callback from --report-to (wandb/swanlab only), so we hand it ours
    by replacing that factory: the loop, the batching and the compiled step are mlx-lm's.
    """
    import yaml
    from mlx_lm import lora
    from mlx_lm.tuner.callbacks import TrainingCallback

    reports: list[dict] = []

    class Collect(TrainingCallback):
        def on_train_loss_report(self, info):
            reports.append({k: (v.item() if hasattr(v, "item") else v) for k, v in info.items()})

    cfg = Path(spec["out"] + ".yaml")
    Path(spec["out"]).mkdir(parents=True, exist_ok=True)
    cfg.write_text(yaml.safe_dump(mlx_lm_config(spec)))
    lora.get_reporting_callbacks = lambda *a, **k: Collect()
    argv = sys.argv
    sys.argv = ["mlx_lm.lora", "-c", str(cfg)]
    try:
        lora.main()
    finally:
        sys.argv = argv
    nb = spec["n_examples"] // spec["batch_size"]
    epochs = [dict(seconds=nb / r["iterations_per_second"], last_loss=r["train_loss"]) for r in reports]
    return dict(
        epochs=epochs,
        peak_mlx=int(max(r["peak_memory"] for r in reports) * 1e9),
        max_rss=peak_rss_bytes(),
        loss_tokens=[r["trained_tokens"] for r in reports],
    )


WORKERS = {"worker-octo": worker_octo, "worker-mlx-lm": worker_mlx_lm}


def main(argv: list[str]) -> None:
    """``python -m octo_mlx.bench.workers KIND SPEC.json``: run one peer, write what it measured to
    the spec's ``result`` file (stdout is the peer's own: mlx_lm.lora logs there)."""
    kind, spec_path = argv
    spec = read_json_object(spec_path)
    write_atomic(spec["result"], json.dumps(WORKERS[kind](spec)))


if __name__ == "__main__":
    main(sys.argv[1:])
