"""`octo-mlx functions ...`: the function domains: list, show one, export as OpenAI tools."""

from __future__ import annotations

from octo_mlx.cli.registry import command


def _functions_domain_arg(p):
    p.add_argument(
        "--domain",
        action="append",
        default=None,
        metavar="NAME_OR_FILE",
        help="bundled domain name, JSON/YAML file or module:DOMAIN; repeat (default: all bundled)",
    )


def _functions_show_args(p):
    p.add_argument("name", nargs="?", help="function name, e.g. send_email")
    _functions_domain_arg(p)


@command(
    "functions list",
    "octo_mlx.domains.catalog:load_domains",
    "table of the functions in each domain (all bundled domains by default)",
    _functions_domain_arg,
)
def _functions_list(a):
    from octo_mlx import ui
    from octo_mlx.domains import catalog

    ui.show_functions(catalog.load_domains(a.domain))


@command(
    "functions show",
    "octo_mlx.domains.catalog:find_function",
    "one function's full JSON schema",
    _functions_show_args,
)
def _functions_show(a):
    from octo_mlx import ui
    from octo_mlx.domains import catalog
    from octo_mlx.errors import OctoError

    if not a.name:
        raise OctoError("give a function name, e.g. `octo-mlx functions show send_email`")
    ui.show_function(catalog.find_function(a.name, a.domain))


@command(
    "functions export",
    "octo_mlx.domains.catalog:export_tools",
    "OpenAI tools JSON of the domains on stdout",
    _functions_domain_arg,
)
def _functions_export(a):
    from octo_mlx import ui
    from octo_mlx.domains import catalog

    ui.print_json(catalog.export_tools(a.domain))
