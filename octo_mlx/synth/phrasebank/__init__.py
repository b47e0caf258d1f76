"""Hand-written phrasing for the offline synthesizer: one module per bundled domain.

``bank(domain_name)`` returns the domain's entries by function name (None for a domain we have
no phrases for: the synthesizer then falls back to generic templates, see generic.py).
"""

from __future__ import annotations

import importlib

from octo_mlx.synth.phrasebank.spec import FunctionPhrases

BANKS = ("android", "ecommerce", "video_streaming", "travel")  # one module each, same names as the domains


def bank(domain_name: str) -> dict[str, FunctionPhrases] | None:
    """The phrase entries of a bundled domain, by function name; None when there is no bank."""
    if domain_name not in BANKS:
        return None
    module = importlib.import_module(f"octo_mlx.synth.phrasebank.{domain_name}")
    return {p.name: p for p in module.PHRASES}
