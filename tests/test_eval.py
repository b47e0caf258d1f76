"""`octo-mlx eval`: Wilson intervals, metrics, the report, bad input, and the run end to end on a
tiny planner taught real plans (and behind a real LLM-judge server)."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
from pathlib import Path

import jsonschema
import mlx.core as mx
import pytest

from octo_mlx.domains.catalog import load_domain
from octo_mlx.errors import OctoError
from octo_mlx.eval.judges import LLMJudgeConfig, Verdict
from octo_mlx.eval.plots import plot_report
from octo_mlx.eval.run import EvalConfig, ExampleResult, compute_metrics, run_eval, write_report
from octo_mlx.runtime.blas import openblas_env
from octo_mlx.stats import cohen_kappa, wilson_interval
from tests.helpers.datasets import UNTAUGHT, make_dataset
from tests.helpers.servers import MLXServer, cached_replies
from tests.helpers.teach import PLANS
from tests.helpers.tiny import build_tiny_model

# --- metrics ------------------------------------------------------------------------------------


def _result(i, n_steps, domains, det, llm=None, exact=False):
    return ExampleResult(
        f"e{i}",
        "q",
        ["s"] * n_steps,
        ["f"] * n_steps,
        domains,
        "",
        [],
        1,
        1,
        0.1,
        "stop",
        exact,
        Verdict(True, det, ""),
        llm,
    )


def test_metrics_break_down_by_steps_and_domain_and_agree_with_kappa():
    rng = random.Random(1)
    results = []
    for i in range(60):
        det = rng.random() < 0.6
        llm = (
            Verdict(False, None, "unparseable")
            if i % 7 == 0
            else Verdict(True, det if rng.random() < 0.8 else not det, "")
        )
        results.append(
            _result(
                i,
                1 + i % 5,
                ["android", "travel"][: 1 + i % 2] if i % 9 else [],
                det,
                llm,
                exact=det and i % 3 == 0,
            )
        )
    m = compute_metrics(results)
    assert m.accuracy.k == sum(r.deterministic.correct for r in results) and m.accuracy.n == 60
    assert (
        sum(r.n for r in m.by_steps.values()) == 60 and sum(r.k for r in m.by_steps.values()) == m.accuracy.k
    )
    for steps, rate in m.by_steps.items():
        group = [r for r in results if len(r.gold_steps) == steps]
        assert (rate.k, rate.n) == (sum(r.deterministic.correct for r in group), len(group))
    travel = [r for r in results if "travel" in r.domains]
    assert m.by_domain["travel"].n == len(travel) and m.by_domain["(none)"].n == sum(
        not r.domains for r in results
    )
    assert m.llm_not_judged == sum(1 for i in range(60) if i % 7 == 0)
    assert m.llm_accuracy.n == 60 - m.llm_not_judged  # not judged is never counted as incorrect
    both = [r for r in results if r.llm.judged]
    assert m.kappa == cohen_kappa([r.deterministic.correct for r in both], [r.llm.correct for r in both])
    assert m.kappa_n == len(both)
    assert m.exact_match.k == sum(r.exact for r in results)
    for rate in [m.accuracy, m.exact_match, *m.by_steps.values(), *m.by_domain.values()]:
        assert (rate.low, rate.high) == wilson_interval(rate.k, rate.n)


def test_metrics_count_errors_by_kind_and_the_argument_faithful_rate():
    from octo_mlx.eval.judges import StepVerdict

    def verdict(correct, n):
        return Verdict(True, correct, "", tuple(StepVerdict(k + 1, "s", "f", "f", correct) for k in range(n)))

    results = [_result(i, 2, ["android"], True) for i in range(6)]
    for r, kept in zip(results, [True, True, True, False, None, None]):
        r.values_kept = kept
    results += [
        _result(6, 2, ["android"], False),
        _result(7, 2, ["android"], False),
        _result(8, 2, [], False),
    ]
    results[6].deterministic, results[6].values_kept = verdict(False, 1), False  # a step merged or dropped
    results[7].deterministic, results[7].values_kept = verdict(False, 3), False  # a step split
    results[8].deterministic, results[8].values_kept = verdict(False, 2), False  # right count, wrong function
    m = compute_metrics(results)
    assert m.errors == {"correct": 6, "fewer steps": 1, "more steps": 1, "wrong function": 1}
    # over the 7 examples with gold calls: 3 correct with every value, 1 correct that changed one
    assert (m.faithful.k, m.faithful.n, m.values_changed) == (3, 7, 1)


# --- a dataset folder and the run ---------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def report(dataset, taught_planner):
    return run_eval(
        EvalConfig(data=str(dataset / "test.jsonl"), model=str(taught_planner), batch_size=4, max_tokens=64)
    )


def test_taught_plans_are_judged_correct_and_the_report_is_complete(report, taught_planner):
    taught = {q for q, _ in PLANS}
    for r in report.examples:
        if r.query in taught:  # the model learned these plans token for token
            assert r.exact and r.deterministic.correct, r
            assert [s.resolved for s in r.deterministic.steps] == r.gold_functions
    assert report.resolver.accuracy == 1.0 and report.trusted and not report.warnings
    assert report.metrics.accuracy.k >= len(PLANS) and report.metrics.accuracy.n == len(PLANS) + len(UNTAUGHT)
    weights = taught_planner / "model.safetensors"
    assert (
        report.fingerprints["model"]["files"]["model.safetensors"]
        == hashlib.sha256(weights.read_bytes()).hexdigest()
    )
    t = report.throughput
    assert t["queries"] == len(report.examples) and t["gen_tokens"] == sum(
        r.gen_tokens for r in report.examples
    )
    assert t["gen_tps"] > 0 and t["prompt_tps"] >= 0 and t["peak_memory_gb"] > 0


REPORT_SCHEMA = {
    "type": "object",
    "required": [
        "schema",
        "trusted",
        "config",
        "fingerprints",
        "resolver",
        "metrics",
        "throughput",
        "examples",
        "warnings",
    ],
    "properties": {
        "trusted": {"type": "boolean"},
        "config": {
            "type": "object",
            "required": ["data", "model_path", "judge", "batch_size", "max_tokens", "greedy", "domains"],
        },
        "fingerprints": {"type": "object", "required": ["model", "adapter"]},
        "resolver": {"type": "object", "required": ["accuracy", "correct", "total", "trusted", "errors"]},
        "metrics": {
            "type": "object",
            "required": ["accuracy", "exact_match", "by_steps", "by_domain", "kappa"],
            "properties": {
                "accuracy": {"$ref": "#/$defs/rate"},
                "by_steps": {"type": "object", "additionalProperties": {"$ref": "#/$defs/rate"}},
            },
        },
        "examples": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "query", "gold_steps", "gold_functions", "text", "steps", "deterministic"],
                "properties": {
                    "deterministic": {"type": "object", "required": ["judged", "correct", "reason", "steps"]}
                },
            },
        },
    },
    "$defs": {
        "rate": {
            "type": "object",
            "required": ["k", "n", "p", "low", "high"],
            "properties": {"p": {"type": "number", "minimum": 0, "maximum": 1}},
        }
    },
}


def test_report_json_and_plots(report, tmp_path):
    path = write_report(report, tmp_path / "report.json")
    data = json.loads(path.read_text())
    jsonschema.validate(data, REPORT_SCHEMA)
    assert data["metrics"]["accuracy"]["k"] == report.metrics.accuracy.k
    assert len(data["examples"]) == len(report.examples)
    pngs = plot_report(report.metrics, tmp_path / "plots", "tiny")
    assert {p.name for p in pngs} == {"accuracy_by_steps.png", "accuracy_by_domain.png"}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 2000 for p in pngs)


def test_a_resolver_that_fails_validation_makes_the_report_untrusted(tmp_path, taught_planner):
    data = make_dataset(tmp_path / "d")
    make_dataset(tmp_path / "bad", shuffle_train_labels=True)
    rep = run_eval(
        EvalConfig(
            data=str(data / "test.jsonl"),
            model=str(taught_planner),
            max_tokens=48,
            resolver_data=str(tmp_path / "bad" / "train.jsonl"),
            limit=3,
        )
    )
    assert rep.resolver.accuracy < 0.98 and not rep.trusted and not rep.to_json()["trusted"]
    assert any("cannot be trusted" in w for w in rep.warnings)


# --- bad input ----------------------------------------------------------------------------------


def test_malformed_line_names_file_and_line(tmp_path, taught_planner):
    data = make_dataset(tmp_path / "d")
    lines = (data / "test.jsonl").read_text().splitlines()
    lines[2] = lines[2][:-5]
    (data / "test.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(OctoError) as e:
        run_eval(EvalConfig(data=str(data / "test.jsonl"), model=str(taught_planner)))
    assert str(e.value).startswith(f"{data / 'test.jsonl'}:3: bad JSON")


def test_function_unknown_to_the_domain_is_refused(tmp_path, taught_planner):
    data = make_dataset(tmp_path / "d")
    text = (data / "test.jsonl").read_text().replace('"make_phone_call"', '"teleport_me"', 1)
    (data / "test.jsonl").write_text(text)
    with pytest.raises(OctoError, match="unknown function.*teleport_me"):
        run_eval(EvalConfig(data=str(data / "test.jsonl"), model=str(taught_planner)))


def _save_lora_adapter(model_dir: Path, out: Path, num_layers: int = 2) -> Path:
    """An mlx-lm LoRA adapter made for the model at model_dir (random, nonzero B)."""
    import mlx_lm
    from mlx.utils import tree_flatten
    from mlx_lm.tuner.utils import linear_to_lora_layers

    model, _ = mlx_lm.load(str(model_dir))
    model.freeze()
    params = {"rank": 4, "scale": 2.0, "dropout": 0.0, "keys": ["self_attn.q_proj", "self_attn.v_proj"]}
    linear_to_lora_layers(model, num_layers, params)
    weights = {
        k: (mx.random.normal(v.shape) if k.endswith("lora_b") else v)
        for k, v in tree_flatten(model.trainable_parameters())
    }
    out.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(out / "adapters.safetensors"), weights)
    (out / "adapter_config.json").write_text(
        json.dumps(
            {
                "fine_tune_type": "lora",
                "num_layers": num_layers,
                "lora_parameters": params,
                "model": str(model_dir),
            }
        )
    )
    return out


def test_adapter_for_another_base_model_is_a_clear_error(tmp_path, dataset, taught_planner):
    other = build_tiny_model(tmp_path / "other", "llama", hidden=32)
    adapter = _save_lora_adapter(other, tmp_path / "adapter")
    with pytest.raises(OctoError, match=r"adapter does not fit the model .*trained on .*other.*shape"):
        run_eval(
            EvalConfig(data=str(dataset / "test.jsonl"), model=str(taught_planner), adapter=str(adapter))
        )
    deeper = build_tiny_model(tmp_path / "deeper", "llama", layers=4)
    adapter = _save_lora_adapter(deeper, tmp_path / "adapter4", num_layers=4)
    with pytest.raises(OctoError, match="adapter covers 4 layers but the model has 2"):
        run_eval(
            EvalConfig(data=str(dataset / "test.jsonl"), model=str(taught_planner), adapter=str(adapter))
        )


def test_matching_adapter_changes_the_model_and_is_fingerprinted(tmp_path, dataset, taught_planner):
    adapter = _save_lora_adapter(taught_planner, tmp_path / "adapter")
    cfg = EvalConfig(
        data=str(dataset / "test.jsonl"),
        model=str(taught_planner),
        adapter=str(adapter),
        max_tokens=24,
        limit=3,
    )
    rep = run_eval(cfg)
    digest = hashlib.sha256((adapter / "adapters.safetensors").read_bytes()).hexdigest()
    assert rep.fingerprints["adapter"]["files"]["adapters.safetensors"] == digest
    plain = run_eval(EvalConfig(data=cfg.data, model=cfg.model, max_tokens=24, limit=3))
    assert [r.text for r in rep.examples] != [r.text for r in plain.examples]


# --- the LLM judge inside an evaluation, over real HTTP ----------------------------------------------


def test_both_judges_with_a_weak_judge_counts_not_judged_and_never_incorrect(
    dataset, taught_planner, tiny_llama, tmp_path
):
    # The random tiny model answers garbage: every plan must come back "not judged", with a reason.
    with MLXServer(tiny_llama, log_path=tmp_path / "server.log") as server:
        llm = LLMJudgeConfig(
            base_url=server.base_url, model="default_model", max_tokens=8, cache_dir=tmp_path / "c"
        )
        rep = run_eval(
            EvalConfig(
                data=str(dataset / "test.jsonl"),
                model=str(taught_planner),
                judge="both",
                llm=llm,
                max_tokens=48,
                limit=4,
            )
        )
    assert all(r.llm is not None and not r.llm.judged and r.llm.reason for r in rep.examples)
    assert rep.metrics.llm_not_judged == 4 and rep.metrics.llm_accuracy.n == 0
    assert rep.metrics.kappa is None and rep.metrics.kappa_n == 0 and rep.judge_stats["requests"] == 4
    assert any("not judged" in w for w in rep.warnings)
    assert rep.metrics.accuracy.n == 4  # the deterministic judge still judged them all


# --- the command --------------------------------------------------------------------------------


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "octo_mlx", *args],
        capture_output=True,
        text=True,
        env=openblas_env(),
        timeout=600,
    )


def test_cli_eval_writes_report_and_plots(dataset, taught_planner, tmp_path):
    out = _cli(
        "eval",
        "--model",
        str(taught_planner),
        "--data",
        str(dataset / "test.jsonl"),
        "--batch-size",
        "4",
        "--max-tokens",
        "64",
        "--out",
        str(tmp_path / "r.json"),
        "--plots",
        str(tmp_path / "plots"),
    )
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    jsonschema.validate(data, REPORT_SCHEMA)
    assert f"{data['metrics']['accuracy']['k']}/{data['metrics']['accuracy']['n']}" in out.stdout
    assert (tmp_path / "plots" / "accuracy_by_steps.png").is_file()


def test_cli_eval_bad_data_is_one_line_exit_2(tmp_path, taught_planner):
    (tmp_path / "test.jsonl").write_text('{"id": "x"}\n')
    out = _cli("eval", "--model", str(taught_planner), "--data", str(tmp_path / "test.jsonl"))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "test.jsonl:1: missing field" in out.stderr


def test_both_judges_use_parseable_answers_and_report_kappa(tmp_path, taught_planner, tiny_llama):
    """A judge taught to answer this evaluation's own rubric prompts, served over real HTTP."""
    from octo_mlx.eval.judges import rubric_prompt
    from tests.helpers.teach import teach

    # A small domain (the PLANS' functions, one-line descriptions) keeps each rubric prompt short.
    names = sorted({f for _, steps in PLANS + UNTAUGHT for _, f in steps} - {"none"})
    tools = [
        {
            "type": "function",
            "function": {
                "name": n,
                "description": n.replace("_", " ") + ".",
                "parameters": {"type": "object", "properties": {}},
            },
        }
        for n in names
    ]
    (tmp_path / "mini.json").write_text(json.dumps(tools))
    data = make_dataset(tmp_path / "d")
    for split in ("train", "test"):
        path = data / f"{split}.jsonl"
        path.write_text(path.read_text().replace('"domains": ["android"]', '"domains": ["mini"]'))
    manifest = json.loads((data / "dataset.json").read_text())
    # as `data synth` records a spec file: the domain's name, and the spec under config.domains
    spec = {"domains": [str(tmp_path / "mini.json")]}
    (data / "dataset.json").write_text(json.dumps(dict(manifest, domains=["mini"], config=spec)))
    base = EvalConfig(data=str(data / "test.jsonl"), model=str(taught_planner), max_tokens=48, limit=4)
    first = run_eval(base)
    functions = load_domain(tmp_path / "mini.json").functions  # what the evaluation lists
    prompts = [rubric_prompt(r.query, r.steps, functions, r.gold_steps) for r in first.examples]
    # The judge agrees with the deterministic verdict except on the first plan.
    answers = [
        json.dumps({"correct": bool(r.deterministic.correct) != (i == 0), "reason": f"r{i}"})
        for i, r in enumerate(first.examples)
    ]
    judge = teach(tiny_llama, tmp_path / "judge", list(zip(prompts, answers)), steps=40)
    with MLXServer(judge, log_path=tmp_path / "server.log") as server:
        llm = LLMJudgeConfig(base_url=server.base_url, model="default_model", cache_dir=tmp_path / "cache")
        rep = run_eval(EvalConfig(**{**base.__dict__, "judge": "both", "llm": llm}))
    assert [r.text for r in rep.examples] == [r.text for r in first.examples]
    judged = [r for r in rep.examples if r.llm.judged]
    assert len(judged) >= 3, [r.llm.reason for r in rep.examples]
    served = cached_replies(tmp_path / "cache")
    for r in judged:
        assert json.dumps({"correct": r.llm.correct, "reason": r.llm.reason}) in served
    m = rep.metrics
    assert (
        m.llm_accuracy.n == len(judged) and m.llm_not_judged == 4 - len(judged) and m.kappa_n == len(judged)
    )
    assert m.kappa == cohen_kappa([r.deterministic.correct for r in judged], [r.llm.correct for r in judged])


# --- hardening (#11): output paths and bad input refused before the work ------------------------


def test_every_output_path_is_checked_before_the_evaluation_starts(tmp_path):
    """`eval --out FOLDER` failed after the whole evaluation and lost it. Each output is now
    refused first: the test data named here does not even exist, yet the error is the output's."""
    from tests.helpers.cli import run_octo

    (tmp_path / "a_folder").mkdir()
    (tmp_path / "a_file").write_text("keep me")
    (tmp_path / "plots" / "accuracy_by_steps.png").mkdir(parents=True)
    missing = str(tmp_path / "no-such" / "test.jsonl")
    judge = ["--judge", "llm", "--base-url", "http://127.0.0.1:9/v1", "--judge-model", "m"]
    cases = [
        (["--out", str(tmp_path / "a_folder")], "--out", "a_folder"),
        (["--out", str(tmp_path / "a_file" / "r.json")], "--out", "a_file"),
        (["--plots", str(tmp_path / "a_file")], "--plots", "a_file"),
        (["--plots", str(tmp_path / "plots")], "--plots", "accuracy_by_steps.png"),
        ([*judge, "--judge-cache", str(tmp_path / "a_file")], "--judge-cache", "a_file"),
    ]
    for extra, flag, named in cases:
        out = run_octo("eval", "--data", missing, *extra, cwd=tmp_path)
        assert out.returncode == 2, (extra, out)
        assert out.stderr.count("\n") == 1 and out.stderr.startswith("octo-mlx: error: "), out.stderr
        assert flag in out.stderr and named in out.stderr and "no-such" not in out.stderr, out.stderr
    assert (tmp_path / "a_file").read_text() == "keep me"


def test_limit_temperature_and_seed_out_of_range_are_refused_by_the_api(dataset):
    for bad in ({"limit": -1}, {"limit": 0}, {"temperature": -0.5, "greedy": False}, {"seed": -1}):
        with pytest.raises(OctoError):
            EvalConfig(data=str(dataset / "test.jsonl"), **bad)


def test_a_binary_data_file_is_one_line_naming_file_and_line(tmp_path):
    """A GGUF or random bytes given as --data: one line `file:line: not UTF-8 ...`, exit 2."""
    from tests.helpers.cli import run_octo

    gguf = tmp_path / "model.gguf"
    mx.save_gguf(str(gguf), {"w": mx.ones((64,))}, {"general.architecture": "llama"})
    noise = tmp_path / "noise.jsonl"
    noise.write_bytes(random.Random(0).randbytes(4096))
    for path in (gguf, noise):
        out = run_octo("eval", "--data", str(path), cwd=tmp_path)
        assert out.returncode == 2, out
        assert out.stderr.count("\n") == 1 and "not UTF-8" in out.stderr, out.stderr
        assert f"error: {path}:" in out.stderr and "Traceback" not in out.stderr, out.stderr
