"""The bundled function domains, one module each, plus ``world`` (the seeded simulated world) and
``catalog`` (every domain by name: bundled, a spec file, or module:DOMAIN).

Each domain module defines typed Python functions decorated with ``@octo_function``: the
signature and docstring are the schema the planner and action model learn, the body is the
simulated implementation. ``DOMAIN`` at the bottom of each module collects them.
"""
