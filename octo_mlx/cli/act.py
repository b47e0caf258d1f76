"""`octo-mlx act`: turn steps into function calls with an action model (ours, a local tools-aware
chat model, or any OpenAI-compatible endpoint)."""

from __future__ import annotations

import os

from octo_mlx.cli.registry import above, at_least, check_numbers, command


def _act_args(p):
    p.add_argument("steps", nargs="*", metavar="STEP", help="steps to turn into calls (one call each)")
    which = p.add_argument_group("the action model (name one)")
    which.add_argument("--adapter", help="our action adapter (or full action model) from `octo-mlx train`")
    which.add_argument(
        "--tools-model", help="a local chat model whose chat template takes tools (folder or hub id)"
    )
    which.add_argument("--base-url", help="an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1")
    which.add_argument(
        "--model",
        help="with --adapter: its base (default: its own); with --base-url: the model name there "
        "(mlx_lm.server: default_model)",
    )
    p.add_argument(
        "--domain",
        action="append",
        default=None,
        metavar="NAME_OR_SPEC",
        help="with --adapter: the active domains (default: all it serves); else the domains whose "
        "functions are offered, bundled names or tool files (default: the bundled ones)",
    )
    p.add_argument(
        "--observation", default=None, metavar="JSON", help="the previous call's outcome, a JSON object"
    )
    p.add_argument("--max-tokens", type=int, default=None, help="most tokens per call")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="env var holding the key (never logged)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request to the endpoint")
    p.add_argument(
        "--force", action="store_true", help="use the adapter on a base other than its own (warns)"
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")


@command("act", "octo_mlx.action.backends:act_steps", "turn steps into function calls", _act_args)
def _act(a):
    import json

    from octo_mlx import ui
    from octo_mlx.action import backends
    from octo_mlx.errors import OctoError

    if not a.steps:
        raise OctoError("give at least one STEP")
    check_numbers(a, max_tokens=at_least(1), timeout=above(0))
    observation = None
    if a.observation is not None:
        try:
            observation = json.loads(a.observation)
        except ValueError as e:
            raise OctoError(f"not JSON: {e}", "--observation") from None
        if not isinstance(observation, dict):
            raise OctoError('a JSON object, e.g. {"function": "f", "result": {...}}', "--observation")
    results = backends.act_steps(
        [(s, observation) for s in a.steps],
        adapter=a.adapter,
        model=a.model,
        tools_model=a.tools_model,
        base_url=a.base_url,
        domains=a.domain,
        api_key=os.environ.get(a.api_key_env, "") if a.base_url else "",
        max_tokens=a.max_tokens,
        timeout=a.timeout,
        force=a.force,
    )
    if a.json:
        ui.print_json([ui.call_record(s, r) for s, r in zip(a.steps, results)])
    else:
        ui.show_calls(a.steps, results)
