"""The tool contract: what a function and a domain are (contract), typed Python functions as tools
(signatures), domains from OpenAI-tools JSON/YAML files (specs), and how a call runs against the
simulated device (simulator).

This face hands on what a user writes a tool module with::

    from octo_mlx.functions import domain_from_module, octo_function
"""

from octo_mlx.functions.contract import Domain, Function
from octo_mlx.functions.signatures import domain_from_callables, domain_from_module, octo_function

__all__ = ["Domain", "Function", "domain_from_callables", "domain_from_module", "octo_function"]
