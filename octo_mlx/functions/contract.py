"""The tool contract: a Function (name, description, JSON-schema parameters) and a Domain of them.

A function is a name, a description and JSON-schema ``parameters``: the OpenAI tools format,
so users paste what they already have. A domain is a named group of functions (one LoRA per
domain in the paper's multi-LoRA setup). Domains come from three places:

- the four bundled ones, written as typed Python functions in ``octo_mlx/domains/`` whose bodies
  are the simulated implementations (listed by ``octo_mlx.domains.catalog``);
- a JSON or YAML file in the OpenAI tools format (``octo_mlx.functions.specs``);
- typed Python functions (``domain_from_callables`` / ``@octo_function``, in
  ``octo_mlx.functions.signatures``): the signature and Google-style docstring become the schema,
  through pydantic.

Implementations receive the simulated device state: a first parameter named ``state`` is left
out of the schema and the simulator passes its ``DeviceState`` there (see simulator.py).
"""

from __future__ import annotations

import inspect
import json
import keyword
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from octo_mlx.errors import OctoError

STATE_PARAMETER = "state"  # an implementation's first parameter with this name gets the DeviceState
_MAX_NAME = 64  # OpenAI's limit on a tool name


@dataclass(frozen=True)
class Function:
    """One callable tool.

    Args:
        name: a Python identifier, unique within its domain (and across combined domains).
        description: what it does and returns, in one or two sentences.
        parameters: JSON schema of type object for the arguments.
        domain: the domain it belongs to.
        side_effects: True when calling it changes the device (send, book, buy...).
        implementation: called as ``implementation(state, **arguments)`` when its first
            parameter is named ``state``, else ``implementation(**arguments)``; None for
            functions loaded from a file (the simulator then echoes the call).
    """

    name: str
    description: str
    parameters: dict = field(hash=False)
    domain: str = ""
    side_effects: bool = False
    implementation: Callable[..., Any] | None = field(default=None, compare=False, repr=False)

    @property
    def required(self) -> list[str]:
        return list(self.parameters.get("required", []))

    @property
    def examples(self) -> list[dict]:
        """Sample argument sets (the schema's top-level ``examples``), valid by construction."""
        return list(self.parameters.get("examples", []))

    def to_tool(self) -> dict:
        """The OpenAI tools format: ``{"type": "function", "function": {...}}``."""
        params = {k: v for k, v in self.parameters.items() if k != "examples"}
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": params},
        }

    def validate_arguments(self, arguments: Any) -> dict:
        """Check a call's arguments against the schema.

        Args:
            arguments: the decoded arguments (a dict) or their JSON text.

        Returns:
            the arguments as a dict.

        Raises:
            OctoError: one line naming the function and the offending field.
        """
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import best_match

        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError as e:
                raise OctoError(f"arguments are not valid JSON: {e.msg} (column {e.colno})", self.name) from e
        if not isinstance(arguments, dict):
            raise OctoError(f"arguments must be an object, got {type(arguments).__name__}", self.name)
        error = best_match(Draft202012Validator(self.parameters).iter_errors(arguments))
        if error is not None:
            where = _dotted(error.absolute_path) or "arguments"
            raise OctoError(f"{where}: {error.message}", self.name)
        return arguments

    def call(self, state: Any, arguments: dict) -> Any:
        """Run the implementation (arguments already validated)."""
        if self.implementation is None:
            raise OctoError("has no implementation", self.name)
        if _takes_state(self.implementation):
            return self.implementation(state, **arguments)
        return self.implementation(**arguments)


@dataclass(frozen=True)
class Domain:
    """A named group of functions with unique names."""

    name: str
    description: str
    functions: tuple[Function, ...]

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.functions]

    def __getitem__(self, name: str) -> Function:
        for f in self.functions:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no function {name!r}")

    def __contains__(self, name: object) -> bool:
        return any(f.name == name for f in self.functions)

    def __iter__(self) -> Iterator[Function]:
        return iter(self.functions)

    def __len__(self) -> int:
        return len(self.functions)

    def to_tools(self) -> list[dict]:
        return [f.to_tool() for f in self.functions]


def check_unique(domains: Iterable[Domain]) -> None:
    """Raise OctoError when two combined domains share a domain or function name."""
    seen_domains: set[str] = set()
    owner: dict[str, str] = {}
    for d in domains:
        if d.name in seen_domains:
            raise OctoError(f"domain {d.name!r} given twice")
        seen_domains.add(d.name)
        for f in d.functions:
            if f.name in owner:
                raise OctoError(f"function {f.name!r} is in both domains {owner[f.name]!r} and {d.name!r}")
            owner[f.name] = d.name


# --- validation -------------------------------------------------------------------------------


def make_domain(name: str, functions: Iterable[Function], description: str = "", where: Any = None) -> Domain:
    """Validate functions and group them into a Domain (functions get ``domain=name``).

    Raises:
        OctoError: ``where: function 'x': field: reason`` for the first problem found.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise OctoError(f"domain name {name!r} must be an identifier (letters, digits, _)", where)
    out: list[Function] = []
    seen: set[str] = set()
    for f in functions:
        validate_function(f, where)
        if f.name in seen:
            raise OctoError(f"function {f.name!r}: duplicate name in domain {name!r}", where)
        seen.add(f.name)
        out.append(f if f.domain == name else _replace_domain(f, name))
    if not out:
        raise OctoError(f"domain {name!r} has no functions", where)
    return Domain(name, description, tuple(out))


def _replace_domain(f: Function, domain: str) -> Function:
    from dataclasses import replace

    return replace(f, domain=domain)


def validate_function(f: Function, where: Any = None) -> None:
    """Check name, description and parameter schema; raise OctoError naming the field."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    name = f.name
    if not isinstance(name, str) or not name:
        raise OctoError("function without a name", where)
    label = f"function {name!r}"
    if not (name.isidentifier() and name.isascii()) or keyword.iskeyword(name) or len(name) > _MAX_NAME:
        raise OctoError(f"{label}: name must be an identifier of at most {_MAX_NAME} ASCII characters", where)
    if not isinstance(f.description, str) or not f.description.strip():
        raise OctoError(f"{label}: description is empty", where)
    p = f.parameters
    if not isinstance(p, dict):
        raise OctoError(f"{label}: parameters must be an object (a JSON schema)", where)
    if p.get("type") != "object":
        raise OctoError(f"{label}: parameters.type must be 'object', got {p.get('type')!r}", where)
    try:
        Draft202012Validator.check_schema(p)
    except SchemaError as e:
        raise OctoError(f"{label}: {_schema_error(e)}", where) from e
    props = p.get("properties", {})
    for req in p.get("required", []):
        if req not in props:
            raise OctoError(f"{label}: parameters.required names {req!r}, which is not in properties", where)
    for pname in props:
        if not (isinstance(pname, str) and pname.isidentifier()):
            raise OctoError(f"{label}: parameters.properties: {pname!r} is not an identifier", where)
    validator = Draft202012Validator(p)
    for i, example in enumerate(p.get("examples", [])):
        error = next(iter(validator.iter_errors(example)), None)
        if error is not None:
            at = _dotted(["examples", i, *error.absolute_path])
            raise OctoError(f"{label}: parameters.{at}: {error.message}", where)


_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")


def _schema_error(e: Any) -> str:
    path = _dotted(["parameters", *e.absolute_path])
    if path.endswith(".type") or e.validator in ("anyOf", "oneOf") and list(e.absolute_path)[-1:] == ["type"]:
        return f"{path}: {e.instance!r} is not valid (types: {', '.join(_TYPES)})"
    return f"{path}: {e.message}"


def _dotted(parts: Iterable[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _takes_state(fn: Callable) -> bool:
    params = list(inspect.signature(fn).parameters)
    return bool(params) and params[0] == STATE_PARAMETER
