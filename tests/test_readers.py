"""One decoding path (#11): every reader of a text file octo-mlx did not just write itself goes
through ``octo_mlx.files.read_text``, so a byte that is not UTF-8 is one clear line naming the
file and its line, never ``UnicodeDecodeError``.

Each test writes a file that is whole and valid but for one Latin-1 byte on a known line.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import pytest

from octo_mlx.errors import OctoError
from tests.helpers.cli import run_octo


def _latin1(path: Path, text: str) -> int:
    """Write ``text`` as UTF-8 but its one 'é' as Latin-1 (byte 0xe9, not UTF-8 alone); return the
    1-based line of that byte."""
    assert text.count("\u00e9") == 1
    head, tail = text.split("\u00e9")
    path.write_bytes(head.encode() + "\u00e9".encode("latin-1") + tail.encode())
    return head.count("\n") + 1


def _refused(call, path: Path, line: int) -> OctoError:
    with pytest.raises(OctoError) as e:
        call()
    assert e.value.where == f"{path}:{line}" and "UTF-8" in e.value.message, str(e.value)
    return e.value


def test_checkpoint_pointer_and_state(tmp_path):
    from octo_mlx.train import checkpoint

    model, opt = nn.Linear(2, 2), optim.SGD(learning_rate=0.1)
    opt.init(model.trainable_parameters())
    mx.eval(model.parameters(), opt.state)
    ck = checkpoint.save_checkpoint(tmp_path, 3, model, opt, {"epoch": 0, "note": "x"})
    assert checkpoint.latest_checkpoint(tmp_path) == ck
    assert checkpoint.load_checkpoint(ck, model, opt)["step"] == 3

    state = ck / "state.json"
    line = _latin1(state, state.read_text().replace('"x"', '"caf\u00e9"'))
    _refused(lambda: checkpoint.load_checkpoint(ck, model, opt), state, line)

    pointer = tmp_path / checkpoint.CHECKPOINTS / checkpoint.LATEST
    _latin1(pointer, ck.name + "\u00e9\n")
    _refused(lambda: checkpoint.latest_checkpoint(tmp_path), pointer, 1)


def test_gguf_tokenizer_files(tmp_path):
    from octo_mlx.models.gguf.vocab import tokenizer_to_gguf
    from tests.helpers.tiny import build_tokenizer

    folder = build_tokenizer(tmp_path / "tok")
    config = folder / "tokenizer_config.json"
    good = config.read_text()
    assert tokenizer_to_gguf(folder, {}, 512)["tokenizer.chat_template"]

    line = _latin1(config, good.replace('"<|im_end|>"', '"<|im_end|>\u00e9"', 1))
    _refused(lambda: tokenizer_to_gguf(folder, {}, 512), config, line)

    no_template = json.loads(good)
    template = no_template.pop("chat_template")
    config.write_text(json.dumps(no_template, indent=2))
    jinja = folder / "chat_template.jinja"
    line = _latin1(jinja, "{# caf\u00e9 #}\n" + template)
    _refused(lambda: tokenizer_to_gguf(folder, {}, 512), jinja, line)

    tokenizer = folder / "tokenizer.json"
    text = tokenizer.read_text()
    line = _latin1(tokenizer, text.replace("\u00e9", "\\u00e9").replace('"version"', '"versi\u00e9n"', 1))
    _refused(lambda: tokenizer_to_gguf(folder, {}, 512), tokenizer, line)


def test_model_info_tokenizer_config_through_the_cli(tmp_path, tiny_llama):
    folder = tmp_path / "model"
    shutil.copytree(tiny_llama, folder)
    config = folder / "tokenizer_config.json"
    line = _latin1(config, config.read_text().replace('"<|im_end|>"', '"<|im_end|>\u00e9"', 1))
    out = run_octo("model", "info", str(folder), cwd=tmp_path, timeout=120)
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and f"{config}:{line}" in out.stderr and "Traceback" not in out.stderr


def test_a_default_model_marker_that_is_not_utf8_means_not_imported(tmp_path, tiny_llama):
    from octo_mlx.models.default import MARKER, is_finished_import

    folder = tmp_path / "model"
    shutil.copytree(tiny_llama, folder)
    fingerprint = {"source": "/x/caf\u00e9.gguf", "size": 1}
    (folder / MARKER).write_text(json.dumps(fingerprint, ensure_ascii=False))
    assert is_finished_import(folder, fingerprint)
    _latin1(folder / MARKER, json.dumps(fingerprint, ensure_ascii=False))
    assert not is_finished_import(folder, fingerprint)  # imported again, never a crash


def test_bench_markdown_section(tmp_path):
    from octo_mlx.bench.markdown import write_section

    path = tmp_path / "BENCHMARKS.md"
    line = _latin1(path, "# Benchmarks\n\nMeasured in the caf\u00e9.\n")
    _refused(lambda: write_section(path, "<!-- a -->\nx\n<!-- /a -->\n"), path, line)
    assert path.read_bytes().count(b"\xe9") == 1  # left as it was


def test_bench_worker_spec(tmp_path):
    from octo_mlx.bench.workers import main

    spec = tmp_path / "spec.json"
    line = _latin1(
        spec,
        json.dumps({"result": str(tmp_path / "r.json"), "note": "caf\u00e9"}, indent=1, ensure_ascii=False),
    )
    _refused(lambda: main(["worker-octo", str(spec)]), spec, line)


def test_bench_worker_result(tmp_path):
    import sys

    from octo_mlx.bench.train import _run_process

    result = tmp_path / "result.json"
    write = "import sys; open(sys.argv[1], 'wb').write(sys.argv[2].encode('latin-1'))"
    ok = _run_process([sys.executable, "-c", write, str(result), '{"a": 1}'], {}, tmp_path, result, 60)
    assert ok[0] == {"a": 1} and ok[1] == ""
    bad = _run_process(
        [sys.executable, "-c", write, str(result), '{"a":\n "\u00e9"}'], {}, tmp_path, result, 60
    )
    assert bad[0] is None and f"{result}:2" in bad[1] and "UTF-8" in bad[1]  # a failed peer, not a crash
