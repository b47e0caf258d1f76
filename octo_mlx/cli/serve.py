"""`octo-mlx serve`: OpenAI-compatible chat completions over one base and its resident adapters."""

from __future__ import annotations

import signal

from octo_mlx.cli.registry import at_least, between, check_numbers, command, lookup_argument


def _serve_args(p):
    p.add_argument(
        "--adapter",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="make an adapter folder resident under NAME, the `model` requests give (repeatable; "
        "'base' is the bare base)",
    )
    p.add_argument(
        "--model", help="the base model (default: the base the first adapter names, else the default model)"
    )
    p.add_argument(
        "--host",
        default=None,
        help="address to listen on (default 127.0.0.1). The server has no authentication: a "
        "non-loopback address such as 0.0.0.0 is refused unless given here explicitly",
    )
    p.add_argument("--port", type=int, default=8080, help="port to listen on (0: any free one)")
    p.add_argument(
        "--force", action="store_true", help="make resident an adapter trained on other base weights (warns)"
    )
    p.add_argument(
        "--agent-yes",
        action="store_true",
        help="model 'agent' (one planner and one action adapter resident) runs calls that change its "
        "simulated device; without it they are refused",
    )
    p.add_argument("--seed", type=int, default=0, help="the seed of model 'agent''s simulated device")
    lookup_argument(p, "greedy decoding")


def parse_adapters(values: list[str]) -> dict[str, str]:
    """``NAME=DIR`` flags -> {name: dir}, each name once."""
    from octo_mlx.errors import OctoError

    adapters: dict[str, str] = {}
    for value in values:
        name, sep, folder = value.partition("=")
        if not sep or not name.strip() or not folder:
            raise OctoError(f"expected NAME=DIR, got {value!r}", "--adapter")
        if name in adapters:
            raise OctoError(f"the name {name!r} is given twice", "--adapter")
        adapters[name] = folder
    return adapters


@command(
    "serve",
    "octo_mlx.serve.server:open_server",
    "OpenAI-compatible chat completions on 127.0.0.1, adapters switched per request",
    _serve_args,
)
def _serve(a):
    from octo_mlx import ui
    from octo_mlx.serve import server

    check_numbers(a, port=between(0, 65535), seed=between(0, 2**63 - 1), lookup=at_least(0))
    adapters = parse_adapters(a.adapter)
    with ui.status("loading the base and the adapters"):
        srv = server.open_server(
            a.model,
            adapters,
            host=a.host or "127.0.0.1",
            port=a.port,
            allow_remote=a.host is not None,
            force=a.force,
            on_request=ui.log_request,
            agent_yes=a.agent_yes,
            seed=a.seed,
            lookup=a.lookup,
        )
    ui.show_serving(srv)
    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop: the same clean exit as Ctrl-C
    # Ctrl-C too, explicitly: a process started in the background by a non-interactive shell
    # inherits SIGINT ignored, and Python then never raises KeyboardInterrupt (a fresh CI run hung)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        close_ignoring_signals(srv)
    ui.show_stopped()


def close_ignoring_signals(srv) -> None:
    """``srv.close()`` (every request already read is answered and logged before "stopped",
    bounded by its drain time) with a second Ctrl-C or SIGTERM ignored, so that neither cuts
    the drain short with a traceback."""
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        srv.close()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _interrupt(signum, frame):
    raise KeyboardInterrupt
