"""Typed Python functions become tools: the signature and Google-style docstring give the schema.

``@octo_function`` marks a function (with its side effects and sample arguments);
``function_from_callable`` turns it into a :class:`octo_mlx.functions.contract.Function` through pydantic:
``Literal`` becomes an enum, ``Annotated[int, Field(ge=0)]`` a bound, a default makes a
parameter optional, and a first parameter named ``state`` (the simulator's device state) is left
out of the schema.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Iterable
from typing import Any

from octo_mlx.errors import OctoError
from octo_mlx.functions.contract import STATE_PARAMETER, Domain, Function, make_domain


def octo_function(
    fn: Callable | None = None,
    *,
    side_effects: bool = False,
    name: str | None = None,
    examples: list[dict] | None = None,
):
    """Mark a typed Python function as a tool; use bare or with keyword options.

    Args:
        side_effects: True when it changes the device (the simulator lets only these touch state).
        name: the tool name (default: the Python name).
        examples: sample argument sets, stored in the schema's ``examples`` and checked against it.
    """

    def mark(f: Callable) -> Callable:
        f.__octo__ = {"side_effects": side_effects, "name": name or f.__name__, "examples": examples or []}
        return f

    return mark(fn) if fn is not None else mark


def function_from_callable(fn: Callable, domain: str = "") -> Function:
    """Derive a Function from a signature and a Google-style docstring.

    ``Literal[...]`` becomes an enum, ``Annotated[int, Field(ge=0, le=10)]`` minimum/maximum,
    parameters with defaults are optional, the docstring's ``Args:`` gives descriptions (a
    pydantic ``Field(description=...)`` wins). A first parameter named ``state`` is skipped.
    """
    import pydantic

    meta = getattr(fn, "__octo__", {"side_effects": False, "name": fn.__name__, "examples": []})
    summary, arg_docs = parse_docstring(inspect.getdoc(fn) or "")
    hints = _type_hints(fn, meta["name"])
    fields: dict[str, Any] = {}
    for i, (pname, param) in enumerate(inspect.signature(fn).parameters.items()):
        if i == 0 and pname == STATE_PARAMETER:
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise OctoError(f"function {meta['name']!r}: *{pname} cannot become a JSON-schema parameter")
        hint = hints.get(pname, Any)
        default = ... if param.default is param.empty else param.default
        described = any(getattr(m, "description", None) for m in getattr(hint, "__metadata__", ()))
        doc = {} if described or pname not in arg_docs else {"description": arg_docs[pname]}
        fields[pname] = (hint, pydantic.Field(default, **doc))  # an explicit Field(description=...) wins
    try:
        # extra="forbid" -> additionalProperties: false, so a stray argument is a schema error,
        # not a TypeError inside the implementation
        config = pydantic.ConfigDict(extra="forbid")
        model = pydantic.create_model(f"{meta['name']}_args", __config__=config, **fields)
        schema = model.model_json_schema()
    except (pydantic.PydanticUserError, pydantic.errors.PydanticSchemaGenerationError) as e:
        raise OctoError(f"function {meta['name']!r}: cannot derive a schema: {e}".splitlines()[0]) from e
    cleaned = _clean_schema(schema)
    params = {"type": "object", "properties": cleaned.pop("properties", {})}
    params.update(cleaned)  # required, additionalProperties, $defs
    if meta["examples"]:
        params["examples"] = list(meta["examples"])
    return Function(
        name=meta["name"],
        description=summary,
        parameters=params,
        domain=domain,
        side_effects=meta["side_effects"],
        implementation=fn,
    )


def _type_hints(fn: Callable, name: str) -> dict[str, Any]:
    """Resolved annotations; the ``state`` and return annotations may name types that are only
    imported under TYPE_CHECKING, so on a NameError resolve the parameters one by one."""
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except NameError:
        pass
    hints = {}
    for pname, param in inspect.signature(fn).parameters.items():
        if pname == STATE_PARAMETER or param.annotation is param.empty:
            continue
        ann = param.annotation
        try:
            hints[pname] = eval(ann, fn.__globals__) if isinstance(ann, str) else ann
        except NameError as e:
            raise OctoError(f"function {name!r}: parameter {pname!r}: cannot resolve its type: {e}") from e
    return hints


def domain_from_callables(name: str, functions: Iterable[Callable], description: str = "") -> Domain:
    """A validated Domain from typed Python functions (decorated with @octo_function or not)."""
    return make_domain(name, [function_from_callable(f, name) for f in functions], description)


def domain_from_module(name: str, module: Any, description: str = "") -> Domain:
    """All @octo_function-decorated functions of a module (or its ``globals()``), in source order."""
    namespace = module if isinstance(module, dict) else vars(module)
    fns = [v for v in namespace.values() if inspect.isfunction(v) and hasattr(v, "__octo__")]
    fns.sort(key=lambda f: f.__code__.co_firstlineno)
    return domain_from_callables(name, fns, description)


def _clean_schema(node: Any) -> Any:
    """Drop pydantic's ``title`` noise and collapse ``X | None`` into X (optional by default)."""
    if isinstance(node, list):
        return [_clean_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k == "title" and isinstance(v, str):
            continue
        out[k] = (
            {pk: _clean_schema(pv) for pk, pv in v.items()}
            if k in ("properties", "$defs")
            else _clean_schema(v)
        )
    any_of = out.get("anyOf")
    if isinstance(any_of, list) and len(any_of) == 2 and {"type": "null"} in any_of:
        (inner,) = [s for s in any_of if s != {"type": "null"}]
        out.pop("anyOf")
        out = {**inner, **out}
        if out.get("default", 0) is None:
            out.pop("default")
    return out


_SECTION = re.compile(
    r"^(Args|Arguments|Parameters|Returns|Return|Yields|Raises|Examples?|Notes?|Attributes):\s*$"
)
_ARG = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into (summary, {arg: description}).

    The summary is the text before the first section; ``Returns:`` text is appended to it so
    the tool description says what comes back.
    """
    summary: list[str] = []
    returns: list[str] = []
    args: dict[str, str] = {}
    section, current, indent = None, None, None
    for raw in doc.splitlines():
        line = raw.strip()
        m = _SECTION.match(line)
        if m and raw == raw.lstrip():
            section, current, indent = m.group(1).lower(), None, None
            continue
        if section is None:
            summary.append(line)
        elif section in ("args", "arguments", "parameters") and line:
            lead = len(raw) - len(raw.lstrip())
            am = _ARG.match(line)
            if am and (indent is None or lead <= indent):
                indent, current = lead, am.group(1).lstrip("*")
                args[current] = am.group(2).strip()
            elif current:
                args[current] = f"{args[current]} {line}".strip()
        elif section in ("returns", "return") and line:
            returns.append(line)
    text = " ".join(" ".join(summary).split())
    if returns:
        ret = " ".join(returns)
        text = f"{text} Returns {ret[0].lower()}{ret[1:]}" if text else f"Returns {ret}"
    return text.strip(), args
