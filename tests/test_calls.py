"""Calls as data: parsed with json only, checked against the schema, every failure typed."""

from __future__ import annotations

import json

import pytest

from octo_mlx.domains.catalog import find_function
from octo_mlx.functions.calls import MAX_ARGUMENTS_CHARS, Call, CallProblem, check_call, parse_arguments


@pytest.fixture(scope="module")
def send_email():
    return find_function("send_email")


def _kind(fn, *args) -> str:
    with pytest.raises(CallProblem) as e:
        fn(*args)
    assert "\n" not in str(e.value)
    return e.value.kind


@pytest.mark.parametrize(
    "text",
    [
        '{"to": "bob@example.com"',  # unbalanced
        '{"to": "bob@example.com"}}',  # trailing text
        "__import__('os').system('touch /tmp/pwned')",  # code
        "{'to': 'bob@example.com'}",  # a Python literal, not JSON
        '["bob@example.com"]',  # not an object
        '{"n": NaN}',
        '{"to": "a", "to": "b"}',  # a key given twice
        "[" * 100_000 + "]" * 100_000,  # too deep for any parser
    ],
)
def test_anything_but_one_json_object_is_a_syntax_problem(text):
    kind = _kind(parse_arguments, text[:MAX_ARGUMENTS_CHARS], "send_email")
    assert kind in ("syntax", "too_long")


def test_code_in_a_string_is_data_never_run(tmp_path, send_email):
    marker = tmp_path / "pwned"
    code = f"__import__('os').system('touch {marker}')"
    text = json.dumps({"recipient": code, "title": "s", "content": "b"})
    args = parse_arguments(text)
    assert isinstance(args["recipient"], str) and not marker.exists()
    assert _kind(check_call, Call("send_email", args), send_email) == "invalid_argument"  # not an email


def test_a_megabyte_of_arguments_is_refused_before_parsing():
    assert _kind(parse_arguments, '{"body": "' + "x" * 1_000_000 + '"}') == "too_long"


def test_schema_problems_are_typed(send_email):
    good = {name: ex for name, ex in send_email.examples[0].items()}
    assert check_call(Call("send_email", good), send_email).arguments == good
    assert _kind(check_call, Call("send_email", {**good, "cc": "x"}), send_email) == "unknown_argument"
    missing = {k: v for k, v in good.items() if k != send_email.required[0]}
    assert _kind(check_call, Call("send_email", missing), send_email) == "missing_argument"
    wrong = {**good, send_email.required[0]: 12}
    assert _kind(check_call, Call("send_email", wrong), send_email) == "invalid_argument"


def test_call_from_dict_accepts_only_its_shape():
    assert Call.from_dict({"function": "f", "arguments": {"a": 1}}) == Call("f", {"a": 1})
    for bad in ({"function": ""}, {"name": "f"}, {"function": "f", "arguments": []}, ["f"]):
        assert _kind(Call.from_dict, bad) == "syntax"
