"""The one home of durable writes, the cache root and fingerprints (octo_mlx.files)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import mlx.core as mx
import pytest

from octo_mlx import files
from octo_mlx.errors import OctoError


def test_write_atomic_syncs_the_file_and_its_folder(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real(fd))
    files.write_atomic(tmp_path / "a" / "report.json", "{}\n")
    assert (tmp_path / "a" / "report.json").read_text() == "{}\n"
    assert len(synced) == 2 and synced[1] == str(tmp_path / "a")  # the data first, then the rename
    assert Path(synced[0]).parent == tmp_path / "a" and Path(synced[0]).name.endswith(".tmp")


def test_a_write_that_fails_before_the_rename_keeps_the_old_file(tmp_path, monkeypatch):
    path = files.write_atomic(tmp_path / "summary.json", "old")

    def crash(fd):
        raise OSError("killed")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="killed"):
        files.write_atomic(path, "new")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_concurrent_writers_of_one_file_never_mix(tmp_path):
    """Threads of the teacher's pool write cache files at once: each temporary name is their own."""
    path = tmp_path / "shared.txt"
    payloads = [str(i) * 20000 for i in range(8)]
    threads = [threading.Thread(target=files.write_atomic, args=(path, p)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert path.read_text() in payloads and [p.name for p in tmp_path.iterdir()] == ["shared.txt"]


def test_replace_dir_swaps_a_whole_folder_in(tmp_path):
    final = tmp_path / "last"
    final.mkdir()
    (final / "weights").write_text("old")
    tmp = files.fresh_tmp(final)
    (tmp / "weights").write_text("new")
    assert (final / "weights").read_text() == "old"  # untouched while the new one is built
    files.replace_dir(tmp, final)
    assert (final / "weights").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["last"]


def test_record_log_cuts_only_a_torn_last_line(tmp_path):
    log = files.RecordLog(tmp_path / "a.jsonl")
    for i in range(5):
        log.append({"task": i})
    with (tmp_path / "a.jsonl").open("a") as f:
        f.write('{"task": 5, "que')  # killed mid-write
    log2 = files.RecordLog(tmp_path / "a.jsonl")
    assert [r["task"] for r in log2.load()] == list(range(5)) and log2.torn == 1
    log2.append({"task": 5})
    assert [r["task"] for r in files.RecordLog(tmp_path / "a.jsonl").load()] == list(range(6))
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    lines[2] = "{broken"
    (tmp_path / "a.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(OctoError, match=r"a\.jsonl:3"):
        files.RecordLog(tmp_path / "a.jsonl").load()


def test_the_cache_root_is_one_place(monkeypatch, tmp_path):
    monkeypatch.delenv(files.HOME_ENV, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert files.cache_root() == Path.home() / ".cache" / "octo-mlx"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert files.cache_root() == tmp_path / "xdg" / "octo-mlx"
    monkeypatch.setenv(files.HOME_ENV, str(tmp_path / "home"))
    assert files.cache_root() == tmp_path / "home"  # OCTO_MLX_HOME wins
    from octo_mlx.eval.judges import default_cache
    from octo_mlx.models.default import default_model_dir

    assert default_model_dir().parent.parent == default_cache().parent == tmp_path / "home"


def test_fingerprint_follows_the_bytes_not_the_time(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"abc")
    (tmp_path / "notes.txt").write_text("not weights")
    first = files.fingerprint(tmp_path)
    assert list(first["files"]) == ["model.safetensors"]
    os.utime(tmp_path / "model.safetensors", (1, 1))
    assert files.fingerprint(tmp_path) == first
    (tmp_path / "model.safetensors").write_bytes(b"abd")
    assert files.fingerprint(tmp_path)["sha256"] != first["sha256"]
    assert files.fingerprint(None) == {}


def test_safetensors_header_is_what_mlx_wrote(tmp_path):
    path = tmp_path / "w.safetensors"
    mx.save_safetensors(str(path), {"a": mx.zeros((2, 3), dtype=mx.float16)})
    header = files.safetensors_header(path)
    assert header["a"]["dtype"] == "F16" and header["a"]["shape"] == [2, 3]


# --- the one decoding path and the output checks ----------------------------------------------


def test_read_text_names_the_file_and_line_of_a_byte_that_is_not_utf8(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_bytes(b'{"a": 1}\n{"b": "caf\xe9"}\n')
    with pytest.raises(OctoError) as e:
        files.read_text(f)
    assert e.value.where == f"{f}:2"
    assert "0xe9" in e.value.message and "column 11" in e.value.message  # {"b": "caf = 10 bytes


def test_read_text_drops_a_bom_and_refuses_folders_and_missing_files(tmp_path):
    f = tmp_path / "bom.txt"
    f.write_bytes(b"\xef\xbb\xbfhello\nworld\n")
    assert files.read_lines(f) == ["hello", "world"]
    with pytest.raises(OctoError, match="is a folder"):
        files.read_text(tmp_path)
    with pytest.raises(OctoError, match="no such file"):
        files.read_text(tmp_path / "missing")


def test_check_output_paths_refuse_before_any_work(tmp_path):
    a_file = tmp_path / "f"
    a_file.write_text("x")
    with pytest.raises(OctoError, match="is a folder"):
        files.check_output_file(tmp_path, "--out")
    with pytest.raises(OctoError, match="is a file, not a folder"):
        files.check_output_file(a_file / "report.json", "--out")
    with pytest.raises(OctoError, match="is a file, expected a folder"):
        files.check_output_folder(a_file, "--out")
    with pytest.raises(OctoError, match="not empty"):
        files.check_output_folder(tmp_path, "--out")
    assert files.check_output_folder(tmp_path, "--out", overwrite=True) == tmp_path
    assert files.check_output_folder(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # checking creates nothing


def test_folder_lock_refuses_a_second_holder_at_once_and_frees_on_exit(tmp_path):
    with files.FolderLock(tmp_path / "run"):
        with pytest.raises(OctoError, match=f"in use by another octo-mlx run \\(pid {os.getpid()}\\)"):
            with files.FolderLock(tmp_path / "run"):
                pass
    with files.FolderLock(tmp_path / "run"):  # released: a later run takes it
        pass


def test_sha256_file_is_remembered_by_path_size_and_mtime_and_follows_changes(tmp_path, monkeypatch):
    import hashlib

    monkeypatch.setenv(files.HOME_ENV, str(tmp_path / "home"))
    f = tmp_path / "w.safetensors"
    f.write_bytes(b"a" * 1000)
    assert files.sha256_file(f) == hashlib.sha256(b"a" * 1000).hexdigest()
    assert len(list((tmp_path / "home" / "sha256").rglob("*"))) == 2  # one folder, one digest
    f.write_bytes(b"b" * 1001)  # new content, new size: a new key, never the old digest
    assert files.sha256_file(f) == hashlib.sha256(b"b" * 1001).hexdigest()
    link = tmp_path / "link.safetensors"
    link.symlink_to(f)
    assert files.sha256_file(link) == files.sha256_file(f)


def test_replace_dir_swaps_in_one_step_so_the_folder_exists_at_every_instant(tmp_path, monkeypatch):
    final = tmp_path / "data"
    final.mkdir()
    (final / "train.jsonl").write_text("old\n")
    tmp = files.fresh_tmp(final)
    (tmp / "train.jsonl").write_text("new\n")
    renames = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: renames.append((a, b)) or real_replace(a, b))
    files.replace_dir(tmp, final)
    assert (final / "train.jsonl").read_text() == "new\n" and not tmp.exists()
    assert renames == []  # one renameat2(RENAME_EXCHANGE), no window without the folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_a_kill_between_the_fallback_renames_is_recovered(tmp_path, monkeypatch):
    final = tmp_path / "data"
    final.mkdir()
    (final / "train.jsonl").write_text("old\n")
    tmp = files.fresh_tmp(final)
    (tmp / "train.jsonl").write_text("new\n")
    monkeypatch.setattr(files, "_exchange", lambda a, b: False)  # a file system without the swap
    real_replace, calls = os.replace, []

    def killed_after_first(a, b):
        calls.append(a)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the kill: the old folder is aside, the new not yet in place
        real_replace(a, b)

    monkeypatch.setattr(os, "replace", killed_after_first)
    with pytest.raises(KeyboardInterrupt):
        files.replace_dir(tmp, final)
    monkeypatch.setattr(os, "replace", real_replace)
    assert not final.exists()
    assert files.recover_dir(final) and (final / "train.jsonl").read_text() == "old\n"


def test_parse_json_refuses_a_key_given_twice_and_names_the_line_of_a_syntax_error(tmp_path):
    with pytest.raises(OctoError, match="key 'rank' given twice"):
        files.parse_json('{"rank": 4, "alpha": 8, "rank": 16}', "a.json")
    with pytest.raises(OctoError) as e:
        files.parse_json('{"a": 1,\n "b": }', "a.json")
    assert e.value.where == "a.json:2"
    f = tmp_path / "adapter_config.json"
    f.write_text('{"lora_parameters": {"rank": 4, "rank": 16}}')
    with pytest.raises(OctoError, match="given twice"):
        files.read_json_object(f)
