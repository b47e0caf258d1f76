"""`octo-mlx plan`: break requests into steps with a planner."""

from __future__ import annotations

from octo_mlx.cli.registry import at_least, check_numbers, command


def _plan_args(p):
    p.add_argument("queries", nargs="*", metavar="QUERY", help="requests to plan (one plan each)")
    p.add_argument("--model", help="model folder (default: the adapter's base, else the default model)")
    p.add_argument("--adapter", help="adapter folder from `octo-mlx train`")
    p.add_argument(
        "--force", action="store_true", help="use the adapter on a base other than its own (warns)"
    )
    p.add_argument("--max-tokens", type=int, default=128, help="most tokens per plan")


@command("plan", "octo_mlx.planner:plan_queries", "break requests into steps with a planner", _plan_args)
def _plan(a):
    from octo_mlx import planner, ui
    from octo_mlx.errors import OctoError

    if not a.queries:
        raise OctoError("give at least one QUERY to plan")
    check_numbers(a, max_tokens=at_least(1))
    ui.show_plans(a.queries, planner.plan_queries(a.queries, a.model, a.adapter, a.max_tokens, a.force))
