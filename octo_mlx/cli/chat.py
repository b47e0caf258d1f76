"""`octo-mlx chat`: the agent in a REPL (a terminal), or one request per line of stdin.

The agent (octo_mlx.agent) plans, acts and re-plans; this module reads lines, runs the slash
commands, and hands the agent's events to ui.ChatView. Ctrl-C during a request sets a flag the
agent polls between tokens and stages (never an exception in the middle of a generation or of an
adapter switch), so the session and its device stay intact.
"""

from __future__ import annotations

import signal
import sys
import threading

from octo_mlx.cli.registry import at_least, check_numbers, command, lookup_argument

COMMANDS = {
    "/help": "this list",
    "/plan": "/plan REQUEST: only the plan, nothing runs",
    "/functions": "the functions of the active domains",
    "/domains": "the active domains",
    "/adapters": "the resident adapters and the base",
    "/state": "what the requests changed on the simulated device (/state full: all of it)",
    "/reset": "a freshly seeded device; the session's traces are forgotten",
    "/timings": "show or hide tokens/s and ms per stage",
    "/trace": "the last request's JSON trace",
    "/save": "/save FILE: the session (device and traces) to a JSON file",
    "/load": "/load FILE: continue a saved session's device",
    "/quit": "leave (Ctrl-D too)",
}


def _chat_args(p):
    p.add_argument("--planner", metavar="DIR", help="the planner adapter folder (default: adapters/planner)")
    p.add_argument("--action", metavar="DIR", help="the action adapter folder (default: adapters/action)")
    p.add_argument("--model", help="the base model (default: the one the action adapter names)")
    p.add_argument(
        "--domain",
        action="append",
        default=None,
        metavar="NAME_OR_SPEC",
        help="an active domain: bundled name, tool file, or module:DOMAIN of Python functions, "
        "which run for real (repeatable; default: every domain the action adapter serves)",
    )
    p.add_argument(
        "--yes",
        action="store_true",
        help="run calls that change the device without asking (else they "
        "are asked about in a terminal, and refused when stdin is not one)",
    )
    p.add_argument("--trace", metavar="FILE", help="append each request's JSON trace to FILE (JSON Lines)")
    p.add_argument(
        "--json", action="store_true", help="stdin not a terminal: print each trace as a JSON line"
    )
    p.add_argument("--seed", type=int, default=0, help="the simulated device's seed")
    p.add_argument("--max-replans", type=int, default=1, help="re-plans per request after a failed step")
    p.add_argument("--max-plan-tokens", type=int, default=128, help="most tokens per plan")
    lookup_argument(p, "the planner and the action model")
    p.add_argument("--force", action="store_true", help="use adapters trained on other base weights (warns)")


@command(
    "chat",
    "octo_mlx.agent.session:open_session",
    "the agent: plan a request, run each step on the simulated device, re-plan after a failure",
    _chat_args,
)
def _chat(a):
    from octo_mlx import ui
    from octo_mlx.agent import session as sessions

    check_numbers(
        a, seed=at_least(0), max_replans=at_least(0), max_plan_tokens=at_least(1), lookup=at_least(0)
    )
    interactive = sys.stdin.isatty()
    view = ui.ChatView(plain=not interactive)
    read = ui.line_reader(COMMANDS, _history_file()) if interactive else None
    cancel = threading.Event()
    confirm = None  # stdin not a terminal: calls with side effects are refused (fail closed)
    if a.yes:
        confirm = _approve_all
    elif interactive:
        confirm = _asker(view, read, cancel)
    with ui.status("loading the base and the adapters"):
        session = sessions.open_session(
            a.planner,
            a.action,
            a.model,
            a.domain,
            confirm,
            seed=a.seed,
            max_replans=a.max_replans,
            max_plan_tokens=a.max_plan_tokens,
            force=a.force,
            lookup=a.lookup,
        )
    if interactive:
        return repl(session, view, read, cancel, a.trace)
    return run_lines(session, view, sys.stdin, a.trace, a.json)


def _approve_all(event) -> bool:
    return True


def _asker(view, read, cancel: threading.Event):
    """The confirmation asked at the terminal; Ctrl-C or Ctrl-D there denies and cancels the run."""

    def ask(event) -> bool:
        try:
            return view.ask(event, read)
        except (KeyboardInterrupt, EOFError):
            cancel.set()
            return False

    return ask


def _history_file() -> str | None:
    from octo_mlx.files import cache_root

    try:
        root = cache_root()
        root.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # a read-only home: history for this session only
    return str(root / "chat_history")


def run_request(session, text: str, cancel: threading.Event, on_event=None, trace_path: str | None = None):
    """One request with Ctrl-C setting ``cancel`` (polled by the agent) instead of raising."""
    from octo_mlx.agent import append_trace

    cancel.clear()
    previous = signal.signal(signal.SIGINT, lambda signum, frame: cancel.set())
    try:
        trace = session.run(text, on_event, cancel.is_set)
    finally:
        signal.signal(signal.SIGINT, previous)
    if trace_path:
        append_trace(trace_path, trace)
    return trace


def slash(session, view, line: str) -> bool:
    """Run one slash command; False when it asks to quit."""
    name, _, rest = line.partition(" ")
    if name in ("/quit", "/exit"):
        return False
    if name == "/help":
        view.help(COMMANDS)
    elif name == "/state":
        view.state(session.changes(), session.state.to_dict() if rest.strip() == "full" else None)
    elif name == "/reset":
        session.reset()
        view.note(f"a freshly seeded device (seed {session.seed})")
    elif name == "/timings":
        view.timings = not view.timings
        view.note(f"timings {'on' if view.timings else 'off'}")
    elif name == "/plan":
        if not rest.strip():
            view.note("/plan REQUEST")
        else:
            _plan_only(session, view, rest.strip())
    elif name == "/functions":
        view.functions(session.agent.domains)
    elif name == "/domains":
        for d in session.agent.domains:
            view.note(f"{d.name}: {len(d.functions)} functions")
    elif name == "/adapters":
        for role, folder in session.agent.adapters.items():
            view.note(f"{role}: {folder}")
    elif name in ("/save", "/load"):
        if not rest.strip():
            view.note(f"{name} FILE")
        else:
            _save_or_load(session, view, name, rest.strip())
    elif name == "/trace":
        last = session.traces[-1].to_json() if session.traces else "no request yet"
        view.note(last)
    else:
        view.note(f"unknown command {name}; /help lists them")
    return True


def _plan_only(session, view, query: str) -> None:
    """``/plan``: Ctrl-C stops the plan, and a request that does not fit is a message."""
    from octo_mlx.errors import OctoError

    cancel = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda signum, frame: cancel.set())
    try:
        steps = session.plan(query, cancel.is_set)
    except OctoError as e:
        view.note(f"/plan: {e}")
        return
    finally:
        signal.signal(signal.SIGINT, previous)
    if cancel.is_set():
        view.cancelled()
    else:
        view.plan_only(steps)


def _save_or_load(session, view, name: str, path: str) -> None:
    from octo_mlx.errors import OctoError

    try:
        if name == "/save":
            view.note(f"saved the session to {session.save(path)}")
        else:
            count = session.load(path)
            view.note(f"loaded {path}: its device (seed {session.seed}; it had run {count} requests)")
    except (OctoError, OSError) as e:  # a bad file is a message, never the end of the session
        view.note(f"{name}: {e}")


def repl(session, view, read, cancel: threading.Event, trace_path: str | None = None) -> int:
    """The interactive loop: a request or a slash command per line until /quit or Ctrl-D."""
    from octo_mlx import ui

    ui.chat_banner(session, view.console)
    while True:
        try:
            line = read("> ").strip()
        except KeyboardInterrupt:  # at the prompt: drop the line, ask again
            continue
        except EOFError:
            return 0
        if not line:
            continue
        if line.startswith("/"):
            if not slash(session, view, line):
                return 0
            continue
        try:
            run_request(session, line, cancel, view, trace_path)  # a cancelled one says so itself
        except KeyboardInterrupt:  # between our handler's install and removal: nothing ran half
            view.cancelled()


def run_lines(session, view, lines, trace_path: str | None = None, as_json: bool = False) -> int:
    """stdin not a terminal: each non-empty line a request (or a slash command); 0 when every
    request's status is "done", else 1."""
    from octo_mlx import ui

    cancel = threading.Event()
    failed = 0
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("/"):
            if not slash(session, view, line):
                break
            continue
        if not as_json:
            view.note(f"> {line}")
        trace = run_request(session, line, cancel, None if as_json else view, trace_path)
        if as_json:
            ui.print_json_line(trace.to_dict())
        failed += trace.status != "done"
    return 1 if failed else 0
