"""The PyTorch + PEFT peer of `octo-mlx bench train`: the same tokens, batches, LoRA and optimizer.

Runs in its own optional environment (never a dependency of octo-mlx):

    python3 -m venv .venv-torch
    .venv-torch/bin/pip install torch==2.13.0 transformers peft safetensors
    .venv-torch/bin/python benchmarks/peft_train.py SPEC.json

SPEC.json is written by octo_mlx.bench.train: the model folder (config.json + safetensors +
tokenizer.json, which transformers loads as is), the examples already tokenized by mlx-lm's
chat template as [tokens, prompt_len] pairs, and the run's settings. Batching follows mlx-lm's
(sort by length, fixed batches of ``batch_size``, a fresh batch order each epoch) but pads to
the longest example of each batch, as Hugging Face's collators do. The loss is on the
completion only (labels -100 on the prompt and the padding). What it measured goes to the spec's
``result`` file, as the other peers' workers (octo_mlx.bench.workers) write theirs.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def main(spec_path: str) -> None:
    spec = json.loads(open(spec_path).read())
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(spec.get("threads", 2))
    torch.manual_seed(spec.get("seed", 0))
    try:
        model = AutoModelForCausalLM.from_pretrained(spec["model"], dtype=torch.float32)
    except TypeError:  # transformers < 4.56 names it torch_dtype
        model = AutoModelForCausalLM.from_pretrained(spec["model"], torch_dtype=torch.float32)
    if spec["method"] == "lora":
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=spec["rank"],
            lora_alpha=spec["alpha"],
            lora_dropout=0.0,
            target_modules="all-linear",  # every linear layer of every block, not the LM head
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, config)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    trainable = sum(p.numel() for p in params)
    opt = torch.optim.AdamW(params, lr=spec["learning_rate"], weight_decay=0.0)

    examples = spec["examples"]  # [[tokens, prompt_len], ...]
    bs = spec["batch_size"]
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))
    batches = [order[i : i + bs] for i in range(0, len(order) - bs + 1, bs)]
    pad = spec.get("pad_id", 0)
    rng = np.random.default_rng(spec.get("seed", 0))

    def tensors(batch):
        rows = [examples[i] for i in batch]
        width = max(len(t) for t, _ in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        att = torch.zeros((len(rows), width), dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        for r, (toks, prompt_len) in enumerate(rows):
            ids[r, : len(toks)] = torch.tensor(toks)
            att[r, : len(toks)] = 1
            labels[r, prompt_len : len(toks)] = torch.tensor(toks[prompt_len:])
        return ids, att, labels

    epochs = []
    for _ in range(spec["epochs"]):
        seconds, losses, useful = 0.0, [], 0
        for b in rng.permutation(len(batches)):
            ids, att, labels = tensors(batches[b])
            tic = time.perf_counter()
            out = model(input_ids=ids, attention_mask=att, labels=labels)
            out.loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            seconds += time.perf_counter() - tic
            losses.append(float(out.loss))
            useful += int(att.sum())
        epochs.append(dict(seconds=seconds, useful_tokens=useful, first_loss=losses[0], last_loss=losses[-1]))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS, KiB elsewhere
    rss = rss if sys.platform == "darwin" else rss * 1024  # (octo_mlx is not installed in this env)
    result = dict(
        epochs=epochs,
        max_rss=rss,
        trainable=trainable,
        torch=torch.__version__,
        threads=torch.get_num_threads(),
    )
    Path(spec["result"]).write_text(json.dumps(result))  # read by octo_mlx.bench.train once we exit


if __name__ == "__main__":
    main(sys.argv[1])
