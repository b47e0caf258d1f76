"""Domains from JSON or YAML files in the OpenAI tools format (what users already have)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from octo_mlx.errors import OctoError
from octo_mlx.files import parse_json, parse_yaml, read_text
from octo_mlx.functions.contract import Domain, Function, make_domain


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
    data = _parse_text(read_text(path), path)
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
        return parse_json(text, path, "malformed JSON")  # a key given twice refused
    return parse_yaml(text, path, "malformed YAML")  # a key given twice refused; line and column


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
