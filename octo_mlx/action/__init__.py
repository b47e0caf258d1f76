"""The action model: one step in, one function call out (Octopus v2's functional tokens).

- :mod:`octo_mlx.syntax` (below this stage, so training and datasets use it too): the call
  syntax ``<nexa_K>{JSON arguments}<nexa_end>`` (or ``<nexa_none><nexa_end>``), the slot map
  (slot K <-> function name) an action adapter records, writing a call as training text and
  parsing model output without ever evaluating it.
- :mod:`octo_mlx.action.constrain`: decoding that can only produce a valid call, on the
  ``llguidance`` grammar library, as a logits processor over MLX arrays, with jump-forward
  decoding of the tokens the grammar forces; every call ends within its token budget.
- :mod:`octo_mlx.action.closing`: how to finish a call from any state of its grammar (the plan
  the budget falls back on).
- :mod:`octo_mlx.action.model`: an action adapter (or full model) loaded with its slot map and
  domains, ``act(step, observation)`` -> a valid call or a typed problem.
"""
