"""Every domain by name: a bundled one, a user's JSON/YAML spec file, or ``module:DOMAIN``."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path

from octo_mlx.errors import OctoError
from octo_mlx.functions.contract import Domain, Function, check_unique
from octo_mlx.functions.specs import load_domain_file

BUNDLED_DOMAINS = ("android", "ecommerce", "video_streaming", "travel")


def load_domain(name_or_path: str | Path, imports: bool = True) -> Domain:
    """A bundled domain by name, a JSON/YAML file of functions, or ``module:attribute``.

    Args:
        name_or_path: ``"android"`` etc.; a path to ``.json``/``.yaml``/``.yml`` in the OpenAI
            tools format; or ``"package.module:DOMAIN"`` naming a Domain object.
        imports: whether ``module:attribute`` may import Python code. True only for what the
            user names on the command line or in a recipe; a name read from a data file
            (a manifest, an example's ``domains``) is loaded with False: data never runs code.

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
        if not imports:
            raise OctoError(
                f"domain {spec!r} names Python code; a data file may name only bundled domains "
                "and JSON/YAML tool files (give the module on the command line: --domain)"
            )
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


def load_domains(names: Iterable[str | Path] | None = None, imports: bool = True) -> list[Domain]:
    """Several domains (all bundled ones by default), checking names stay unique across them.

    Args:
        names: bundled names, tool files or ``module:attribute`` (see :func:`load_domain`).
        imports: False when the names come from a data file (no Python import then).
    """
    domains = [load_domain(n, imports) for n in (BUNDLED_DOMAINS if names is None else names)]
    check_unique(domains)
    return domains


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
