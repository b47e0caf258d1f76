#!/usr/bin/env bash
# System libraries octo-mlx wants on Linux: Debian's OpenBLAS (MLX's bundled BLAS is ~50x slower)
# and tmux (the terminal tests drive the REPL in a real terminal). macOS needs nothing.
set -euo pipefail
[ "$(uname -s)" = Linux ] || exit 0
need=()
[ -e /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 ] || need+=(libopenblas0-pthread)
command -v tmux >/dev/null || need+=(tmux)
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
    echo "setup: please install ${need[*]} with your package manager (OpenBLAS makes MLX ~50x faster)" >&2
    exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup: installing ${need[*]}" >&2
$sudo apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
