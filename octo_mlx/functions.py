"""Function domains: the tools the action model calls and the planner learns to plan over.

A function is a name, a description and JSON-schema ``parameters``: the OpenAI tools format,
so users paste what they already have. A domain is a named group of functions (one LoRA per
domain in the paper's multi-LoRA setup). Domains come from three places:

- the four bundled ones (``BUNDLED_DOMAINS``), written as typed Python functions in
  ``octo_mlx/domains/`` whose bodies are the simulated implementations;
- a JSON or YAML file in the OpenAI tools format (``load_domain("shop.yaml")``);
- typed Python functions (``domain_from_callables`` / ``@octo_function``): the signature and
  Google-style docstring become the schema, through pydantic.

Implementations receive the simulated device state: a first parameter named ``state`` is left
out of the schema and the simulator passes its ``DeviceState`` there (see simulator.py).
"""

from __future__ import annotations

import importlib
import inspect
import json
import keyword
import re
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from octo_mlx.errors import OctoError

BUNDLED_DOMAINS = ("android", "ecommerce", "video_streaming", "travel")
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


# --- loading ----------------------------------------------------------------------------------


def load_domain(name_or_path: str | Path) -> Domain:
    """A bundled domain by name, a JSON/YAML file of functions, or ``module:attribute``.

    Args:
        name_or_path: ``"android"`` etc.; a path to ``.json``/``.yaml``/``.yml`` in the OpenAI
            tools format; or ``"package.module:DOMAIN"`` naming a Domain object.

    Raises:
        OctoError: unknown name, unreadable or malformed file, invalid function.
    """
    spec = str(name_or_path)
    if spec in BUNDLED_DOMAINS:
        return importlib.import_module(f"octo_mlx.domains.{spec}").DOMAIN
    path = Path(spec)
    if path.suffix.lower() in (".json", ".yaml", ".yml") or path.exists():
        return load_domain_file(path)
    if ":" in spec:
        module, _, attr = spec.partition(":")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise OctoError(f"cannot import {spec}: {e}") from e
        if not isinstance(obj, Domain):
            raise OctoError(f"{spec} is a {type(obj).__name__}, not a Domain")
        return obj
    raise OctoError(
        f"unknown domain {spec!r}: bundled are {', '.join(BUNDLED_DOMAINS)}, or give a .json/.yaml file"
    )


def load_domains(names: Iterable[str | Path] | None = None) -> list[Domain]:
    """Several domains (all bundled ones by default), checking names stay unique across them."""
    domains = [load_domain(n) for n in (BUNDLED_DOMAINS if names is None else names)]
    check_unique(domains)
    return domains


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


def find_function(name: str, domains: Iterable[str | Path] | None = None) -> Function:
    """The function called ``name`` in the given domains (all bundled ones by default).

    Raises:
        OctoError: no such function (with the closest names as a hint).
    """
    import difflib

    loaded = load_domains(domains)
    for d in loaded:
        if name in d:
            return d[name]
    close = difflib.get_close_matches(name, [n for d in loaded for n in d.names], n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise OctoError(f"no function {name!r} in {', '.join(d.name for d in loaded)}{hint}")


def export_tools(domains: Iterable[str | Path] | None = None) -> list[dict]:
    """The OpenAI tools list for the given domains (all bundled ones by default)."""
    return [tool for d in load_domains(domains) for tool in d.to_tools()]


def load_domain_file(path: str | Path) -> Domain:
    """Read a domain from JSON or YAML.

    Accepted shapes: a list of tools; ``{"tools": [...]}`` or ``{"functions": [...]}`` with
    optional ``name`` and ``description``. Each tool is ``{"type": "function", "function":
    {...}}`` or the bare inner object; an optional ``side_effects`` boolean (our extension,
    default True: assume a call changes something unless told otherwise).
    """
    path = Path(path)
    if not path.is_file():
        raise OctoError("no such file", path)
    text = path.read_text(encoding="utf-8")
    data = _parse_text(text, path)
    name, description = path.stem, ""
    if isinstance(data, dict) and ("tools" in data or "functions" in data):
        unknown = set(data) - {"name", "description", "tools", "functions"}
        if unknown:
            raise OctoError(f"unknown top-level key {sorted(unknown)[0]!r}", path)
        name = str(data.get("name", name))
        description = str(data.get("description", ""))
        items = data.get("tools", data.get("functions"))
    elif isinstance(data, dict) and ("function" in data or "parameters" in data):
        items = [data]  # a single tool
    else:
        items = data
    if not isinstance(items, list):
        raise OctoError("expected a list of functions, or an object with 'tools' or 'functions'", path)
    functions = []
    for i, item in enumerate(items):
        functions.append(_function_from_tool(item, i, name, path))
    return make_domain(name, functions, description, where=path)


def _parse_text(text: str, path: Path) -> Any:
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise OctoError(f"malformed JSON: {e.msg} (column {e.colno})", f"{path}:{e.lineno}") from e
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise OctoError(f"malformed YAML: {problem}", where) from e


def _function_from_tool(item: Any, index: int, domain: str, path: Path) -> Function:
    label = f"function #{index + 1}"
    if not isinstance(item, dict):
        raise OctoError(f"{label}: expected an object, got {type(item).__name__}", path)
    side_effects = item.get("side_effects", True)
    if "function" in item:
        if item.get("type", "function") != "function":
            raise OctoError(f"{label}: type must be 'function', got {item.get('type')!r}", path)
        item = item["function"]
        if not isinstance(item, dict):
            raise OctoError(f"{label}: 'function' must be an object", path)
        side_effects = item.get("side_effects", side_effects)
    if "name" in item:
        label = f"function {item['name']!r}"
    unknown = set(item) - {"name", "description", "parameters", "side_effects", "strict", "type"}
    if unknown:
        raise OctoError(f"{label}: unknown key {sorted(unknown)[0]!r}", path)
    if not isinstance(side_effects, bool):
        raise OctoError(f"{label}: side_effects must be true or false", path)
    return Function(
        name=item.get("name", ""),
        description=item.get("description", ""),
        parameters=item.get("parameters", {"type": "object", "properties": {}}),
        domain=domain,
        side_effects=side_effects,
    )


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


# --- Python callables -> functions ------------------------------------------------------------


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


def _takes_state(fn: Callable) -> bool:
    params = list(inspect.signature(fn).parameters)
    return bool(params) and params[0] == STATE_PARAMETER
