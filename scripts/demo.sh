#!/usr/bin/env bash
# The main job: the agent with the shipped adapters (adapters/) on the embedded default model.
# In a terminal it opens the REPL; otherwise it runs three example requests, every call approved.
set -euo pipefail
cd "$(dirname "$0")/.."
octo=.venv/bin/octo-mlx
$octo model default  # installs and imports the default model once; later runs reuse it
if [ -t 0 ] && [ -t 1 ]; then
    exec $octo chat
fi
printf '%s\n' \
    "Text Alice that I'm running late and set an alarm for 7:30 am" \
    "Check the weather in Lisbon and turn the ring volume down to 2" \
    "Search for wireless earbuds under \$100 and add the cheapest one to my cart" |
    $octo chat --yes
