"""Real PEFT against octo-mlx on the same base and input: our export loaded by PEFT, and an adapter
PEFT wrote imported by us, must give the same logits (octo_mlx.adapters.peft, docs/adapters.md).

Runs from octo-mlx's environment and calls the optional PyTorch one (never a dependency of
octo-mlx; the one benchmarks/peft_train.py uses):

    python3 -m venv .venv-torch
    .venv-torch/bin/pip install torch==2.13.0 transformers peft safetensors
    bash scripts/with-openblas.sh .venv/bin/python benchmarks/peft_logits.py [--adapter DIR ...]

Without --adapter it checks tiny random llama (tied head), phi3 (fused qkv/gate_up, untied head)
and gemma (tied) models, float32, in both directions:
- export: an adapter as `octo-mlx train` writes it (random LoRA factors and the trained row of
  <nexa_split> on the extended base, or DoRA) -> `adapters export --format peft` ->
  PeftModel.from_pretrained -> logits, beside mlx_lm.load(base, adapter_path=ADAPTER);
- import: PEFT's get_peft_model (random factors, init_lora_weights=False; rsLoRA with a
  rank_pattern, DoRA, an embedding LoRA with ensure_weight_tying) -> save_pretrained ->
  `adapters import` -> mlx_lm.load(base, adapter_path=...) logits, beside PEFT's.
With --model DIR the same random cases run on that model (e.g. the default model, the folder
`octo-mlx model default` prints); with --adapter DIR (a trained adapter, e.g. runs/x/last) it
checks that adapter's export on its own base. The base alone is compared too: what differs
there (kernels, float order) is no adapter's doing. Exit code 1 when an adapted difference
exceeds float32 rounding (TOLERANCE, relative to the largest logit) or the argmax differs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TORCH_PYTHON = ROOT / ".venv-torch" / "bin" / "python"
# max |logit difference| / max(1, max |logit|). float32 rounding over SmolLM2's 30 blocks reaches
# 1e-5 of the largest logit (the base alone: 2e-6); a wrong mapping (a transpose, a lost row, a
# wrong scale) moves logits by the adapter's effect, >= 1 in every case here.
TOLERANCE = 1e-4


# --- the PyTorch side (runs in .venv-torch: torch, transformers, peft; no mlx) ----------------------


def torch_side(spec_path: str) -> None:
    import numpy as np
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    spec = json.loads(Path(spec_path).read_text())
    torch.manual_seed(spec.get("seed", 0))
    model = AutoModelForCausalLM.from_pretrained(spec["base"], dtype=torch.float32)
    model.eval()
    ids = torch.tensor(spec["ids"])
    with torch.no_grad():
        base = model(ids).logits.numpy()
    if spec["task"] == "load":
        model = PeftModel.from_pretrained(model, spec["peft_dir"])
    else:  # "make": a PEFT adapter with random factors, saved as PEFT saves it
        model = get_peft_model(model, LoraConfig(**spec["config"], init_lora_weights=False))
        if spec["config"].get("use_dora"):  # magnitudes away from |W|, so that DoRA does something
            for name, p in model.named_parameters():
                if "lora_magnitude_vector" in name:
                    p.data *= 1 + 0.1 * torch.randn_like(p)
        model.save_pretrained(spec["peft_dir"])
    model.eval()
    with torch.no_grad():
        adapted = model(ids).logits.numpy()
    np.save(spec["out"] + ".base.npy", base)
    np.save(spec["out"] + ".adapted.npy", adapted)
    import peft

    print(json.dumps({"peft": peft.__version__, "torch": torch.__version__}))


# --- octo-mlx's side ----------------------------------------------------------------------------------


def run_torch(python: str, spec: dict, work: Path) -> tuple:
    import numpy as np

    path = work / f"spec-{spec['name']}.json"
    spec = dict(spec, out=str(work / spec["name"]))
    path.write_text(json.dumps(spec))
    res = subprocess.run([python, __file__, "--torch-side", str(path)], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{spec['name']}: the PyTorch side failed:\n{res.stderr[-3000:]}")
    versions = json.loads(res.stdout.strip().splitlines()[-1])
    return np.load(spec["out"] + ".base.npy"), np.load(spec["out"] + ".adapted.npy"), versions


def mlx_logits(base: Path, adapter: Path | None, ids) -> tuple:
    import mlx.core as mx
    import numpy as np
    from mlx_lm.utils import load

    model, _ = load(str(base))
    model.set_dtype(mx.float32)  # as the PyTorch side: float32 whatever the stored dtype
    plain = np.array(model(mx.array(ids)))
    if adapter is None:
        return plain, None
    model, _ = load(str(base), adapter_path=str(adapter))
    model.set_dtype(mx.float32)
    return plain, np.array(model(mx.array(ids)))


def tiny_base(work: Path, arch: str) -> Path:
    from tests.helpers.tiny import build_tiny_model

    folder = build_tiny_model(work / f"{arch}-src", arch, seed={"llama": 0, "phi3": 1, "gemma": 2}[arch])
    if arch == "gemma":  # mlx-lm's gemma: the exact GELU; transformers reads "gelu" as tanh's
        cfg = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps(dict(cfg, hidden_act="gelu_python")))
    return folder


def tiny_adapter(work: Path, src: Path, dora: bool) -> Path:
    """An adapter as `octo-mlx train` writes it, random factors (and the <nexa_split> row for LoRA)."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.utils import load

    from octo_mlx.adapters.folder import save_adapter
    from octo_mlx.adapters.lora import LoraConfig, adapter_weights, apply_lora
    from octo_mlx.adapters.rows import trained_rows
    from octo_mlx.models.folder import weights_sha256
    from octo_mlx.models.tokens import SPLIT, TABLE, extend_base

    model, tok = load(str(extend_base(src)))
    new = trained_rows(tok, [] if dora else [SPLIT])
    lora = LoraConfig(rank=4, alpha=8.0)
    cfg = apply_lora(model, lora, dora, 0, new)
    mx.random.seed(1)
    params = {}
    for k, v in tree_flatten(model.trainable_parameters()):
        noise = mx.random.normal(v.shape)
        params[k] = v * (1 + 0.1 * noise) if k.endswith(".m") else 0.05 * noise
    model.load_weights(list(params.items()), strict=False)
    cfg = dict(cfg, model=str(src), base_fingerprint=weights_sha256(src), table=TABLE.to_dict())
    out = work / f"{src.name}-{'dora' if dora else 'lora'}"
    save_adapter(out, adapter_weights(model, lora, dora, new), dict(cfg, tokens=list(new.tokens)), "")
    return out


def input_ids(base: Path) -> list[list[int]]:
    from mlx_lm.utils import load

    _, tok = load(str(base))
    split = tok.encode("<nexa_split>", add_special_tokens=False)
    return [[3, 17, *split, 40, 5, 9, *split, 2]] if len(split) == 1 else [[3, 17, 40, 5, 9, 2]]


def check_export(name: str, adapter: Path, python: str, work: Path) -> dict:
    from octo_mlx.adapters.peft import export_peft

    exported = export_peft(adapter, work / f"{name}-peft")
    base = Path(exported.base)
    ids = input_ids(base)
    spec = {"name": name, "task": "load", "base": str(base), "peft_dir": str(exported.out), "ids": ids}
    t_base, t_adapted, versions = run_torch(python, spec, work)
    m_base, m_adapted = mlx_logits(base, adapter, ids)
    return _row(name, "export", t_base, m_base, t_adapted, m_adapted, versions)


IMPORTS = {  # name -> (arch, PEFT LoraConfig)
    "llama-rslora": (
        "llama",
        dict(r=4, lora_alpha=8, use_rslora=True, target_modules="all-linear", rank_pattern={"v_proj": 2}),
    ),
    "phi3-dora": (
        "phi3",
        dict(r=4, lora_alpha=8, use_dora=True, target_modules=["qkv_proj", "gate_up_proj"]),
    ),
    "gemma-tied-embedding": (
        "gemma",
        dict(r=4, lora_alpha=16, target_modules=["q_proj", "embed_tokens"], ensure_weight_tying=True),
    ),
    "phi3-embedding-head": (
        "phi3",
        dict(r=4, lora_alpha=8, target_modules=["o_proj", "embed_tokens", "lm_head"]),
    ),
}


def check_import(name: str, src: Path, config: dict, python: str, work: Path) -> dict:
    from octo_mlx.adapters.peft import import_peft

    ids = [[3, 17, 40, 5, 9, 2]]
    peft_dir = work / f"{name}-peft"
    spec = {"name": name, "task": "make", "base": str(src), "peft_dir": str(peft_dir), "config": config}
    t_base, t_adapted, versions = run_torch(python, dict(spec, ids=ids), work)
    imported = import_peft(peft_dir, work / f"{name}-imported", model=src)
    m_base, m_adapted = mlx_logits(src, imported.out, ids)
    return _row(name, "import", t_base, m_base, t_adapted, m_adapted, versions)


def _row(name, direction, t_base, m_base, t_adapted, m_adapted, versions) -> dict:
    import numpy as np

    effect = float(np.abs(t_adapted - t_base).max())  # how much the adapter moves the logits
    return {
        "case": name,
        "direction": direction,
        "base_max_abs_diff": float(np.abs(t_base - m_base).max()),
        "adapted_max_abs_diff": float(np.abs(t_adapted - m_adapted).max()),
        "adapter_effect": effect,
        "logit_scale": float(np.abs(t_adapted).max()),
        "same_argmax": bool((t_adapted.argmax(-1) == m_adapted.argmax(-1)).all()),
        **versions,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--adapter", nargs="*", default=[], help="adapter folders to check (default: tiny cases)")
    p.add_argument(
        "--model",
        default=None,
        help="run the random-adapter cases on this model folder (e.g. the default model), not tiny ones",
    )
    p.add_argument("--torch-python", default=str(TORCH_PYTHON), help="python of the PyTorch + PEFT env")
    p.add_argument("--json", default=None, help="also write the rows here")
    p.add_argument("--torch-side", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.torch_side:
        return torch_side(a.torch_side)
    if not Path(a.torch_python).exists():
        raise SystemExit(f"no PyTorch environment at {a.torch_python}: see this script's docstring")
    sys.path.insert(0, str(ROOT))  # tests.helpers: the tiny models
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not a.adapter and not a.model:  # the tiny models' extended bases: here, not in the user's cache
            os.environ["OCTO_MLX_HOME"] = str(work / "home")
        if a.adapter:
            for i, adapter in enumerate(a.adapter):
                rows.append(check_export(f"adapter{i}", Path(adapter), a.torch_python, work))
        else:
            if a.model:
                src = Path(a.model).resolve()
                bases = {json.loads((src / "config.json").read_text())["model_type"]: src}
            else:
                bases = {arch: tiny_base(work, arch) for arch in ("llama", "phi3", "gemma")}
            for arch, src in bases.items():
                for dora in (False, True):
                    adapter = tiny_adapter(work, src, dora)
                    rows.append(check_export(adapter.name, adapter, a.torch_python, work))
            for name, (arch, config) in IMPORTS.items():
                if arch in bases:
                    rows.append(check_import(name, bases[arch], config, a.torch_python, work))
    head = f"{'case':28} {'dir':7} {'base diff':>10} {'adapted diff':>13} {'max |logit|':>12}"
    print(f"{head} {'adapter effect':>15} argmax")
    for r in rows:
        same = "same" if r["same_argmax"] else "DIFFERS"
        print(
            f"{r['case']:28} {r['direction']:7} {r['base_max_abs_diff']:10.2e} "
            f"{r['adapted_max_abs_diff']:13.2e} {r['logit_scale']:12.2e} {r['adapter_effect']:15.2e} {same}"
        )
    print(f"peft {rows[0]['peft']}, torch {rows[0]['torch']}; tolerance {TOLERANCE:g} x max(1, max |logit|)")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2) + "\n")
    bad = [
        r["case"]
        for r in rows
        if r["adapted_max_abs_diff"] > TOLERANCE * max(1.0, r["logit_scale"]) or not r["same_argmax"]
    ]
    if bad:
        raise SystemExit(f"logits differ beyond the tolerance: {', '.join(bad)}")


if __name__ == "__main__":
    main()
