"""`octo-mlx chat` (octo_mlx/cli/chat.py, ui.ChatView): the REPL driven in a real pseudo-terminal,
requests piped through stdin, and the slash commands with an injected console and input."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import time

import pexpect  # the test extra: a real pseudo-terminal
from rich.console import Console

from octo_mlx import ui
from octo_mlx.agent import Agent, Session
from octo_mlx.cli import chat
from octo_mlx.domains.android import DOMAIN as ANDROID
from octo_mlx.domains.world import new_state
from tests.helpers.agent import (
    CALLS,
    LONG_REQUEST,
    PLAN,
    REQUEST,
    ScriptedAction,
    ScriptedPlanner,
)
from tests.helpers.cli import OCTO

PROMPT = r"(?m)^>"  # prompt_toolkit draws the space after it as a cursor move
ANSI = re.compile(r"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][A-Za-z0-9]|[=>78M])")


def _env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(OCTO_MLX_HOME=str(tmp_path / "home"), NO_COLOR="1", TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1")
    return env


def chat_args(adapters, *extra) -> list[str]:
    planner, action = adapters
    return ["chat", "--planner", str(planner), "--action", str(action), *extra]


# --- without a terminal: one request per line ------------------------------------------------------


def _pipe(adapters, tmp_path, text: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(OCTO), *chat_args(adapters, *extra)],
        input=text,
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=300,
    )


def test_piped_requests_run_end_to_end_with_yes(agent_adapters, tmp_path):
    trace_file = tmp_path / "traces.jsonl"
    res = _pipe(agent_adapters, tmp_path, f"{REQUEST}\n/state\n", "--yes", "--trace", str(trace_file))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert (
        "1. Send a text message to Alice saying I'm running late" in out
        and "2. Set an alarm for 07:30" in out
    )
    assert 'step 1: send_text_message(contact_name="Alice", message="I\'m running late") ->' in out
    assert 'step 2: set_timer_alarm(time="07:30", label="alarm") ->' in out
    assert "done in" in out and "phone.alarms" in out  # /state ran after the request
    (line,) = trace_file.read_text().splitlines()
    trace = json.loads(line)
    assert trace["status"] == "done" and [s["call"] for s in trace["steps"]] == [c.to_dict() for c in CALLS]


def test_piped_requests_refuse_side_effects_without_yes_and_json_is_one_line_each(agent_adapters, tmp_path):
    res = _pipe(agent_adapters, tmp_path, f"{REQUEST}\n\n{REQUEST}\n", "--json")
    assert res.returncode == 1, res.stderr  # not done: fail closed, and the exit code says so
    traces = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(traces) == 2
    for trace in traces:
        assert trace["status"] == "denied" and [s["status"] for s in trace["steps"]] == ["denied", "denied"]
        assert all(s["confirmed"] is False for s in trace["steps"])


# --- in a real pseudo-terminal -----------------------------------------------------------------------


class Screen:
    """A pexpect child read through an ANSI filter: ``wait(text)`` until the plain text shows."""

    def __init__(self, child):
        self.child = child
        self.text = ""
        self.seen = 0

    def wait(self, pattern: str, timeout: float = 60) -> str:
        """Wait for ``pattern`` (a regex) after what was matched last; the text up to its end."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.compile(pattern).search(self.text, self.seen)
            if match:
                shown, self.seen = self.text[self.seen : match.end()], match.end()
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{pattern!r} not shown in {timeout} s; after the last match:\n{self.text[self.seen :]}"
                )
            try:
                self.text += ANSI.sub("", self.child.read_nonblocking(4096, timeout=0.2)).replace("\r", "")
            except pexpect.TIMEOUT:
                pass


def test_a_full_session_in_a_pseudo_terminal(agent_adapters, tmp_path):
    """A request, the plan shown, a call confirmed and one denied, the request again with both
    confirmed and run, slash commands, Ctrl-C during generation, quit."""
    trace_file = tmp_path / "traces.jsonl"
    args = chat_args(agent_adapters, "--trace", str(trace_file), "--max-plan-tokens", "1500")
    child = pexpect.spawn(
        str(OCTO), args, env=_env(tmp_path), encoding="utf-8", dimensions=(50, 200), timeout=120
    )
    screen = Screen(child)
    try:
        screen.wait(r"/help for commands")
        screen.wait(PROMPT)
        child.sendline(REQUEST)
        shown = screen.wait(r"send_text_message changes the device")
        assert "planning: " in shown  # streamed as it was written
        assert f"1. {PLAN[0]}" in shown and f"2. {PLAN[1]}" in shown  # then numbered
        shown = screen.wait(r"run it\? \[y/N\]")
        assert 'send_text_message(contact_name="Alice", message="I\'m running late")' in shown
        child.sendline("y")
        shown = screen.wait(r"set_timer_alarm changes the device")
        assert "Alice Miller" in shown  # step 1's result panel
        screen.wait(r"run it\? \[y/N\]")
        child.sendline("n")  # deny the alarm: an observation, the session goes on
        shown = screen.wait(r"denied in [\d.]+ s")
        assert "denied: the user declined this call" in shown
        screen.wait(PROMPT)
        child.sendline("/state")
        shown = screen.wait(PROMPT)
        assert "phone.messages" in shown and "phone.alarms" not in shown
        child.sendline(REQUEST)  # again, both calls confirmed: both run on the simulated phone
        screen.wait(r"run it\? \[y/N\]")
        child.sendline("y")
        screen.wait(r"set_timer_alarm changes the device")
        screen.wait(r"run it\? \[y/N\]")
        child.sendline("y")
        shown = screen.wait(r"done in [\d.]+ s")
        assert "ALARM-" in shown  # step 2's result panel
        screen.wait(PROMPT)
        child.sendline("/state")
        shown = screen.wait(PROMPT)
        assert "phone.alarms" in shown
        child.sendline(LONG_REQUEST)
        screen.wait(r"planning: Tell a story that goes on")
        child.sendintr()  # Ctrl-C while the plan is being written
        shown = screen.wait(r"cancelled")
        assert "1. Tell a story" not in shown  # no plan was finished
        screen.wait(PROMPT)
        child.sendline("/timings")
        screen.wait(r"timings on")
        child.sendline("/quit")
        child.expect(pexpect.EOF, timeout=60)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, screen.text[-2000:]
    traces = [json.loads(line) for line in trace_file.read_text().splitlines()]
    assert [t["status"] for t in traces] == ["denied", "done", "cancelled"]
    assert [s["confirmed"] for s in traces[0]["steps"]] == [True, False]
    assert [s["confirmed"] for s in traces[1]["steps"]] == [True, True]
    assert [s["call"]["function"] for s in traces[1]["steps"]] == ["send_text_message", "set_timer_alarm"]
    assert traces[2]["steps"] == [] and traces[2]["plan"] == []
    assert (tmp_path / "home" / "chat_history").is_file()  # prompt_toolkit kept the history


# --- the loop and its commands, with an injected console and input ----------------------------------


def _session() -> Session:
    agent = Agent(
        ScriptedPlanner({REQUEST: PLAN}),
        ScriptedAction(dict(zip(PLAN, CALLS)), [ANDROID]),
        new_state(0),
        confirm=lambda e: True,
    )
    return Session(agent, seed=0)


def _reader(lines):
    pending = list(lines)

    def read(prompt: str) -> str:
        if not pending:
            raise EOFError  # Ctrl-D
        line = pending.pop(0)
        if line is KeyboardInterrupt:
            raise KeyboardInterrupt
        return line

    return read


def test_slash_commands_and_ctrl_d_with_injected_input():
    session = _session()
    out = io.StringIO()
    view = ui.ChatView(Console(file=out, width=120, no_color=True), timings=False)
    lines = [
        "/help",
        REQUEST,
        "/state",
        "/timings",
        REQUEST,
        "/trace",
        KeyboardInterrupt,
        "/bogus",
        "/reset",
        "/state",
    ]
    code = chat.repl(session, view, _reader(lines), chat.threading.Event())
    text = out.getvalue()
    assert code == 0  # Ctrl-D at the prompt quits
    for name in chat.COMMANDS:
        assert name in text
    assert text.count("done in") == 2 and "phone.messages" in text
    assert "stages: plan" in text and "action" in text  # /timings on for the second request
    assert '"query": "Text Alice' in text  # /trace
    assert "unknown command /bogus" in text
    assert text.rstrip().endswith("the simulated device is as it was seeded (/state full shows all of it)")
    assert session.traces == [] and session.state.phone.messages == []  # /reset


def test_quit_ends_the_loop_before_the_next_line():
    session = _session()
    view = ui.ChatView(Console(file=io.StringIO()), plain=True)
    assert chat.repl(session, view, _reader(["/quit", REQUEST]), chat.threading.Event()) == 0
    assert session.traces == []


def test_a_ctrl_c_at_the_confirmation_denies_and_cancels_the_request():
    session = _session()
    view = ui.ChatView(Console(file=io.StringIO()))
    cancel = chat.threading.Event()
    session.agent.confirm = chat._asker(view, _reader([KeyboardInterrupt]), cancel)
    trace = chat.run_request(session, REQUEST, cancel, view)
    assert trace.status == "cancelled" and [s.status for s in trace.steps] == ["denied"]
    assert session.state.phone.messages == []


def test_plan_functions_domains_adapters_save_and_load(tmp_path):
    session = _session()
    session.seed = 7  # the saved session's seed, which /load must bring back
    out = io.StringIO()
    view = ui.ChatView(Console(file=out, width=160, no_color=True))
    saved = tmp_path / "session.json"
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema": "octo-mlx/chat-session/1", "seed": 1, "traces": 3}')
    lines = [f"/plan {REQUEST}", "/functions", "/domains", "/adapters", REQUEST, f"/save {saved}", "/reset"]
    chat.repl(session, view, _reader(lines), chat.threading.Event())
    session.seed = 3  # another session's seed: /load must bring back the saved one, and say it
    lines = [f"/load {saved}", f"/load {tmp_path / 'missing.json'}", f"/load {broken}", "/save"]
    chat.repl(session, view, _reader(lines), chat.threading.Event())
    text = out.getvalue()
    before_request = text.split("send_text_message")[0]  # /plan's output: no call was shown yet
    assert "plan (nothing ran)" in before_request and all(step in before_request for step in PLAN)
    assert len(session.traces) == 0  # /load starts the traces afresh
    for f in ANDROID.functions:
        assert f.name in text
    assert "android: " in text and "functions" in text
    body = json.loads(saved.read_text())
    assert body["traces"][0]["query"] == REQUEST and body["state"]["phone"]["messages"]
    # /load brought back the device as the request had left it (after /reset had cleared it)
    assert session.state.phone.messages and session.state.to_dict() == body["state"]
    assert "seed 7; it had run 1 requests" in text and session.seed == 7
    assert "missing.json" in text and "no such file" in text  # a bad file is a message
    assert "/save FILE" in text
    assert "not an octo-mlx chat session" in text and session.seed == 7  # refused whole, nothing changed
