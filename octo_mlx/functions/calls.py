"""A function call as data: what a step's gold call is, what the action model must produce.

A call is a function name and its arguments as a JSON object. Model output is parsed with
``json`` only (never ``eval``, never Python literals), keys given twice are refused, and the
arguments are checked against the function's JSON schema plus one rule JSON schema leaves to
``additionalProperties``: an argument the function does not declare is refused. Every failure
is a :class:`CallProblem` with a ``kind`` the agent can act on and one line to show.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from octo_mlx.functions.contract import Function

NO_CALL = "none"  # the "function" of a step no function serves (as the planner data's NO_FUNCTION)
MAX_ARGUMENTS_CHARS = 16_384  # a call's JSON arguments; the bundled functions need < 300
PROBLEM_KINDS = (
    "syntax",  # not one JSON object (unbalanced brackets, trailing text, a Python expression)
    "too_long",  # arguments longer than MAX_ARGUMENTS_CHARS
    "unterminated",  # the model stopped (token limit) before the call's end
    "unknown_function",  # no such function, or a functional token no function stands for
    "out_of_domain",  # a function outside the active domains
    "unknown_argument",  # an argument the function does not declare
    "missing_argument",  # a required argument left out
    "invalid_argument",  # a value of the wrong type, outside its enum, pattern, range or length
)


class CallProblem(Exception):
    """Why a call cannot be run, as ``kind`` (one of PROBLEM_KINDS) and one line."""

    def __init__(self, kind: str, message: str, function: str | None = None):
        if kind not in PROBLEM_KINDS:
            raise ValueError(f"unknown call problem kind {kind!r}")
        self.kind, self.message, self.function = kind, message, function
        super().__init__(f"{function}: {message}" if function else message)


@dataclass(frozen=True)
class Call:
    """One function call: ``function`` (a name, or NO_CALL) and its ``arguments``."""

    function: str
    arguments: dict = field(default_factory=dict, hash=False)

    @property
    def is_none(self) -> bool:
        return self.function == NO_CALL

    def to_dict(self) -> dict[str, Any]:
        return {"function": self.function, "arguments": dict(self.arguments)}

    def arguments_json(self) -> str:
        """The arguments as compact JSON, keys in the order given (what the model writes)."""
        return json.dumps(self.arguments, ensure_ascii=False, separators=(", ", ": "))

    @classmethod
    def from_dict(cls, value: Any) -> Call:
        """A call from its JSON form ``{"function": NAME, "arguments": {...}}``.

        Raises:
            CallProblem: "syntax" for any other shape.
        """
        if not isinstance(value, dict) or set(value) - {"function", "arguments"} or "function" not in value:
            raise CallProblem("syntax", 'a call is {"function": NAME, "arguments": {...}}')
        name, arguments = value["function"], value.get("arguments", {})
        if not isinstance(name, str) or not name:
            raise CallProblem("syntax", "'function' must be a non-empty string")
        if not isinstance(arguments, dict):
            raise CallProblem(
                "syntax", f"'arguments' must be an object, got {type(arguments).__name__}", name
            )
        return cls(name, arguments)


def _no_key_twice(pairs: list) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise CallProblem("syntax", f"argument {key!r} given twice")
        out[key] = value
    return out


def _no_constant(name: str) -> float:
    raise CallProblem("syntax", f"{name} is not a JSON number")


def parse_arguments(text: str, function: str | None = None) -> dict:
    """The arguments a model wrote, as a dict: one JSON object and nothing else.

    Args:
        text: the text between the functional token and the end of the call.
        function: the function's name, for the messages.

    Raises:
        CallProblem: "too_long" past MAX_ARGUMENTS_CHARS (checked before parsing), "syntax" for
            anything that is not exactly one JSON object (NaN and Infinity included).
    """
    if len(text) > MAX_ARGUMENTS_CHARS:
        raise CallProblem(
            "too_long", f"arguments of {len(text)} characters (at most {MAX_ARGUMENTS_CHARS})", function
        )
    stripped = text.strip()
    if not stripped:
        return {}
    try:
        value = json.loads(stripped, object_pairs_hook=_no_key_twice, parse_constant=_no_constant)
    except CallProblem as e:
        raise CallProblem(e.kind, e.message, function) from None
    except json.JSONDecodeError as e:
        raise CallProblem(
            "syntax", f"arguments are not one JSON object: {e.msg} at column {e.colno}", function
        ) from None
    except RecursionError:
        raise CallProblem("syntax", "arguments nest too deeply", function) from None
    if not isinstance(value, dict):
        raise CallProblem("syntax", f"arguments must be a JSON object, got {type(value).__name__}", function)
    return value


def check_call(call: Call, function: Function) -> Call:
    """``call`` if its arguments are valid for ``function``; else the first problem.

    Raises:
        CallProblem: "unknown_argument", "missing_argument" or "invalid_argument".
    """
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    declared = set(function.parameters.get("properties", {}))
    unknown = [k for k in call.arguments if k not in declared]
    if unknown:
        raise CallProblem(
            "unknown_argument",
            f"no argument {unknown[0]!r} (takes: {', '.join(sorted(declared)) or 'none'})",
            function.name,
        )
    for key, value in call.arguments.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise CallProblem("invalid_argument", f"{key}: {value} is not a number", function.name)
    error = best_match(Draft202012Validator(function.parameters).iter_errors(call.arguments))
    if error is None:
        return call
    if error.validator == "required":
        return _raise("missing_argument", error.message, function.name)
    where = ".".join(str(p) for p in error.absolute_path) or "arguments"
    return _raise("invalid_argument", f"{where}: {error.message}", function.name)


def _raise(kind: str, message: str, function: str) -> Call:
    raise CallProblem(kind, message, function)
