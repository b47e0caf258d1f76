"""The agent loop (octo_mlx.agent): plan once, act per step on the previous observation, confirm
side effects, re-plan after a failure, trace everything. Logic with scripted planner/action
stand-ins (tests/helpers/agent.py); the whole loop with tiny trained adapters on one pool."""

from __future__ import annotations

import json

import pytest

from octo_mlx.agent import Agent, append_trace, open_session
from octo_mlx.agent.loop import DECLINED, NO_FUNCTION
from octo_mlx.domains.android import DOMAIN as ANDROID
from octo_mlx.domains.world import new_state
from octo_mlx.errors import OctoError
from octo_mlx.functions.calls import NO_CALL, Call, CallProblem
from octo_mlx.functions.signatures import domain_from_callables, octo_function
from octo_mlx.syntax import RETRY_NOTE, action_messages, replan_query
from tests.helpers.agent import (
    CALLS,
    CREATE_STEP,
    NO_CONTACT,
    OTHER_ERROR,
    PLAN,
    RECOVERY,
    REPLANS,
    REQUEST,
    TYPO_REQUEST,
    TYPO_STEP,
    NoRetryAction,
    ScriptedAction,
    ScriptedPlanner,
    failed_observation,
    replan_prompt,
)


def approve(event) -> bool:
    return True


def scripted(plans, answers, domains=(ANDROID,), action=ScriptedAction, **kw):
    planner = ScriptedPlanner(plans)
    actor = action(answers, list(domains))
    kw.setdefault("confirm", approve)
    return Agent(planner, actor, new_state(0), **kw), planner, actor


def kinds(events) -> list[str]:
    return [e.kind for e in events if e.kind != "plan_token"]


# --- the loop, with scripted models ---------------------------------------------------------------


def test_each_step_acts_on_the_previous_observation_and_runs_on_the_device():
    agent, planner, action = scripted({REQUEST: PLAN}, dict(zip(PLAN, CALLS)))
    events = []
    trace = agent.run(REQUEST, events.append)
    assert kinds(events) == ["plan", "call", "confirm", "result", "call", "confirm", "result", "done"]
    assert "".join(e.text for e in events if e.kind == "plan_token") == "<nexa_split>".join(PLAN)
    assert trace.status == "done" and trace.plan == PLAN
    assert [c["function"] for c in trace.calls] == ["send_text_message", "set_timer_alarm"]
    (s1, o1, _), (s2, o2, _) = action.seen
    assert (s1, o1) == (PLAN[0], None)  # the first step reads nothing
    assert s2 == PLAN[1] and o2 == trace.steps[0].observation and o2["ok"] and o2["result"]["to"]
    phone = agent.state.phone
    assert phone.messages[-1]["message"] == "I'm running late" and phone.alarms[-1]["time"] == "07:30"
    assert planner.queries == [REQUEST]  # nothing failed: planned once


def test_a_denied_call_is_an_observation_nothing_runs_and_the_run_goes_on():
    asked = []

    def deny_texts(event) -> bool:
        asked.append(event.function)
        return event.function != "send_text_message"

    agent, planner, action = scripted({REQUEST: PLAN}, dict(zip(PLAN, CALLS)), confirm=deny_texts)
    events = []
    trace = agent.run(REQUEST, events.append)
    assert asked == ["send_text_message", "set_timer_alarm"]
    confirms = [e for e in events if e.kind == "confirm"]
    assert [c.approved for c in confirms] == [False, True]
    first = trace.steps[0]
    assert first.status == "denied" and first.confirmed is False
    assert first.observation["error"] == DECLINED and not first.observation["ok"]
    assert agent.state.phone.messages == [] and len(agent.state.phone.alarms) == 1
    assert action.seen[1][1] == first.observation  # the next step reads the denial
    assert trace.status == "denied" and planner.queries == [REQUEST]  # the user's choice: no re-plan
    assert [c["function"] for c in trace.calls] == ["set_timer_alarm"]


def test_without_a_confirm_callback_side_effects_are_refused_and_readers_still_run():
    steps = ["Get the weather in Paris", "Text Alice the forecast"]
    answers = {
        steps[0]: Call("get_weather_forecast", {"location": "Paris"}),
        steps[1]: Call("send_text_message", {"contact_name": "Alice", "message": "sunny"}),
    }
    agent, _, _ = scripted({"q": steps}, answers, confirm=None)
    trace = agent.run("q")
    assert [s.status for s in trace.steps] == ["ok", "denied"]
    assert trace.steps[0].confirmed is None and trace.steps[0].observation["result"]
    assert agent.state.phone.messages == []


def test_a_failed_step_is_replanned_from_its_observation():
    plans = {TYPO_REQUEST: [TYPO_STEP], replan_prompt(NO_CONTACT): REPLANS[NO_CONTACT]}
    answers = {TYPO_STEP: RECOVERY[0][1], CREATE_STEP: RECOVERY[1][1]}
    agent, planner, action = scripted(plans, answers)
    events = []
    trace = agent.run(TYPO_REQUEST, events.append)
    step = ["call", "confirm", "result"]
    assert kinds(events) == ["plan", *step, "replan", *step, *step, "done"]
    assert trace.steps[0].status == "failed" and trace.steps[0].observation["error"] == NO_CONTACT
    # the planner read the request, the failed step and the error the simulator gave
    assert planner.queries[1] == replan_prompt(NO_CONTACT) == trace.replans[0].prompt
    assert NO_CONTACT in planner.queries[1] and TYPO_STEP in planner.queries[1]
    assert [e for e in events if e.kind == "replan"][0].steps == tuple(REPLANS[NO_CONTACT])
    assert action.seen[1] == (CREATE_STEP, trace.steps[0].observation, None)  # acts on the failure
    assert trace.status == "done" and [s.status for s in trace.steps] == [
        "ok" if i else "failed" for i in range(3)
    ]
    assert any(c["name"] == "Alicia" for c in agent.state.phone.contacts)
    assert agent.state.phone.messages[-1]["to"] == "Alicia"


def test_a_replan_prompt_carries_each_observation_so_the_plan_can_change_with_it():
    plans = {TYPO_REQUEST: [TYPO_STEP], **{replan_prompt(e): s for e, s in REPLANS.items()}}
    answers = {TYPO_STEP: RECOVERY[0][1], CREATE_STEP: RECOVERY[1][1], REPLANS[OTHER_ERROR][0]: Call(NO_CALL)}
    agent, planner, _ = scripted(plans, answers)
    agent.run(TYPO_REQUEST)
    assert planner.queries[1] == replan_prompt(NO_CONTACT)
    assert replan_prompt(NO_CONTACT) != replan_prompt(OTHER_ERROR)  # one error, one prompt, one plan
    done = [
        ("Get the weather in Paris", {"function": "get_weather_forecast", "ok": True, "result": ["sunny"]})
    ]
    text = replan_query("q", done, (TYPO_STEP, failed_observation(NO_CONTACT)))
    assert text == (
        'q\n\nStep 1: Get the weather in Paris\nResult of get_weather_forecast: ["sunny"]\n'
        f"Step 2: {TYPO_STEP}\nsend_text_message failed: {NO_CONTACT}\n\nPlan the remaining steps."
    )


@pytest.mark.parametrize("max_replans", [0, 1, 2])
def test_replanning_is_bounded(max_replans):
    failing = "Text Alicia hello"
    call = Call("send_text_message", {"contact_name": "Alicia", "message": "hello"})

    class AlwaysTheSame(ScriptedPlanner):
        def stream(self, query):
            self.queries.append(query)
            yield type("Out", (), {"steps": (failing,)})()

    agent = Agent(
        AlwaysTheSame({}), ScriptedAction({failing: call}, [ANDROID]), new_state(0), approve, max_replans
    )
    trace = agent.run("q")
    assert trace.status == "failed"
    assert len(trace.replans) == max_replans and len(trace.steps) == max_replans + 1


def test_an_invalid_call_is_retried_once_with_the_error_in_the_prompt():
    step = PLAN[1]
    bad = Call("set_timer_alarm", {"time": "7:30"})  # the pattern wants HH:MM: the agent checks it
    agent, _, action = scripted({"q": [step]}, {step: [bad, CALLS[1]]})
    events = []
    trace = agent.run("q", events.append)
    assert [e.attempt for e in events if e.kind == "call"] == [1, 2]
    (error,) = [e for e in events if e.kind == "error"]
    assert error.retrying and "invalid_argument" in error.message and "time" in error.message
    assert action.seen[0][2] is None and action.seen[1][2] == trace.steps[0].attempts[0].problem
    assert trace.status == "done" and agent.state.phone.alarms[-1]["time"] == "07:30"
    assert len(trace.steps[0].attempts) == 2
    # what the action model reads on its retry: the step, then why its call was refused
    turn = action_messages(step, None, error.message)[0]["content"]
    assert turn.endswith(RETRY_NOTE.format(error=error.message)) and turn.startswith(step)


def test_an_action_model_that_cannot_retry_gets_its_invalid_call_reported():
    step = PLAN[1]
    problem = CallProblem("unterminated", "no <nexa_end>", "set_timer_alarm")
    agent, _, action = scripted(
        {"q": [step]}, {step: [problem, CALLS[1]]}, action=NoRetryAction, max_replans=0
    )
    events = []
    trace = agent.run("q", events.append)
    (error,) = [e for e in events if e.kind == "error"]
    assert not error.retrying and "unterminated" in error.message
    assert len(action.seen) == 1 and trace.steps[0].status == "invalid" and trace.status == "failed"
    assert agent.state.phone.alarms == []


def test_only_functions_of_the_active_domains_are_called_and_no_function_is_a_failure():
    steps = ["Buy a chair", "Answer directly"]
    answers = {steps[0]: Call("add_to_cart", {"product_id": "P1001"}), steps[1]: Call(NO_CALL)}
    agent, _, _ = scripted({"q": steps}, answers, action=NoRetryAction, max_replans=0)
    trace = agent.run("q")
    assert trace.steps[0].status == "invalid" and "out_of_domain" in trace.steps[0].observation["error"]
    assert agent.state.shop.cart == {} and trace.status == "failed" and len(trace.steps) == 1
    agent, _, _ = scripted({"q": steps[1:]}, answers, max_replans=0)
    trace = agent.run("q")
    assert trace.steps[0].status == "no_function" and trace.steps[0].observation["error"] == NO_FUNCTION
    with pytest.raises(OctoError, match="does not serve"):
        Agent(ScriptedPlanner({}), ScriptedAction({}, [ANDROID]), new_state(0), domains=[_mine([])])


def _mine(log: list):
    @octo_function(side_effects=True)
    def water_plants(minutes: int) -> str:
        """Waters the garden.

        Args:
            minutes: How long.
        """
        if minutes > 60:
            raise ValueError("the pump overheats")
        log.append(minutes)
        return f"watered {minutes} min"

    return domain_from_callables("garden", [water_plants])


@pytest.mark.parametrize("approved", [True, False])
def test_a_registered_python_function_runs_for_real_only_after_confirmation(approved):
    log: list = []
    garden = _mine(log)
    step = "Water the plants for 5 minutes"
    answers = {step: Call("water_plants", {"minutes": 5}), "long": Call("water_plants", {"minutes": 90})}
    agent, _, _ = scripted(
        {"q": [step], "q2": ["long"]}, answers, domains=[garden], confirm=lambda e: approved, max_replans=0
    )
    trace = agent.run("q")
    assert log == ([5] if approved else [])
    assert trace.steps[0].observation["result"] == ("watered 5 min" if approved else None)
    trace = agent.run("q2")  # a function that raises: an observation, never a crash
    if approved:
        assert trace.steps[0].status == "failed" and "pump overheats" in trace.steps[0].observation["error"]
    assert log == ([5] if approved else [])


def test_cancel_stops_the_plan_mid_stream_and_nothing_runs():
    agent, _, action = scripted({REQUEST: PLAN}, dict(zip(PLAN, CALLS)))
    events = []
    trace = agent.run(REQUEST, events.append, cancel=lambda: any(e.kind == "plan_token" for e in events))
    assert trace.status == "cancelled" and action.seen == [] and trace.steps == []
    assert kinds(events) == ["done"] and agent.state.phone.messages == []


def test_a_plan_with_no_steps_is_reported():
    agent, _, _ = scripted({}, {})
    events = []
    trace = agent.run("nothing to do", events.append)
    assert trace.status == "no_plan" and kinds(events) == ["plan", "error", "done"]


def test_the_trace_is_json_with_plan_calls_results_timings_and_adapters(tmp_path):
    agent, _, _ = scripted(
        {TYPO_REQUEST: [TYPO_STEP], replan_prompt(NO_CONTACT): REPLANS[NO_CONTACT]},
        {TYPO_STEP: RECOVERY[0][1], CREATE_STEP: RECOVERY[1][1]},
        adapters={"planner": "p", "action": "a"},
    )
    trace = agent.run(TYPO_REQUEST)
    path = trace.write(tmp_path / "trace.json")
    data = json.loads(path.read_text())
    assert data["version"] == 1 and data["query"] == TYPO_REQUEST and data["status"] == "done"
    assert data["adapters"] == {"planner": "p", "action": "a"} and data["domains"] == ["android"]
    assert data["plan"] == [TYPO_STEP] and data["replans"][0]["steps"] == REPLANS[NO_CONTACT]
    assert data["replans"][0]["prompt"] == replan_prompt(NO_CONTACT)
    first = data["steps"][0]
    assert first["call"] == RECOVERY[0][1].to_dict() and first["observation"]["error"] == NO_CONTACT
    assert first["confirmed"] is True and first["side_effects"] is True
    assert first["attempts"][0]["text"].startswith("send_text_message")
    assert set(first["timings"]) == {"action_seconds", "execute_seconds", "confirm_seconds"}
    assert data["steps"][1]["observation"]["result"]["name"] == "Alicia"
    assert set(data["timings"]["stages_seconds"]) == {"plan", "action", "execute", "confirm"}
    assert data["timings"]["total_seconds"] >= data["timings"]["plan"]["seconds"] >= 0
    append_trace(tmp_path / "runs.jsonl", trace)
    append_trace(tmp_path / "runs.jsonl", trace)
    lines = (tmp_path / "runs.jsonl").read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1]) == data


# --- the whole loop on tiny trained adapters (one resident base) ----------------------------------


@pytest.fixture(scope="module")
def session(agent_adapters):
    planner, action = agent_adapters
    return open_session(planner, action, confirm=approve)


def test_tiny_adapters_plan_and_run_the_request_on_one_pool(session, agent_adapters):
    session.reset()
    events = []
    trace = session.run(REQUEST, events.append)
    assert trace.plan == PLAN and trace.status == "done"
    assert trace.calls == [c.to_dict() for c in CALLS]
    changes = session.changes()
    assert changes["phone.messages"]["added"][0]["message"] == "I'm running late"
    assert changes["phone.alarms"]["added"][0]["time"] == "07:30"
    planner, action = agent_adapters
    assert trace.adapters["planner"] == str(planner) and trace.adapters["action"] == str(action)
    plan = trace.plan_timing
    assert plan.prompt_tokens > 0 and plan.gen_tokens > 0 and plan.prompt_tps and plan.gen_tps
    assert all(a.timing.gen_tokens for s in trace.steps for a in s.attempts)
    calls = [a.timing for s in trace.steps for a in s.attempts]
    assert trace.token_counts() == (
        plan.prompt_tokens + sum(t.prompt_tokens for t in calls),
        plan.gen_tokens + sum(t.gen_tokens for t in calls),
    )
    assert session.pool.active in ("planner", "action") and len(session.pool.adapters) == 2


def test_tiny_adapters_recover_from_an_unknown_contact_by_replanning(session):
    session.reset()
    trace = session.run(TYPO_REQUEST)
    assert [s.status for s in trace.steps] == ["failed", "ok", "ok"]
    assert trace.replans[0].prompt == replan_prompt(NO_CONTACT)
    assert trace.replans[0].steps == REPLANS[NO_CONTACT] and trace.status == "done"
    assert session.state.phone.messages[-1]["to"] == "Alicia"
    session.agent.max_replans = 0
    try:
        session.reset()
        assert session.run(TYPO_REQUEST).status == "failed"  # without re-planning it fails
    finally:
        session.agent.max_replans = 1


def test_the_tiny_planner_plans_differently_for_a_different_observation(session):
    plans = {}
    for error in (NO_CONTACT, OTHER_ERROR):
        *_, out = session.agent.planner.stream(replan_prompt(error))
        plans[error] = list(out.steps)
    assert plans == REPLANS and plans[NO_CONTACT] != plans[OTHER_ERROR]


def test_the_tiny_action_model_reads_the_refusal_on_a_retry(session):
    actor = session.agent.action
    plain, retry = actor.prompts([(PLAN[1], None)] * 2, [None, "time: '7:30' does not match"])
    assert plain != retry
    assert RETRY_NOTE.format(error="time: '7:30' does not match") in session.pool.tokenizer.decode(retry)
    assert actor.act(PLAN[1], error="time: '7:30' does not match").call is not None  # still a valid call
