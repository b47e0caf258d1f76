"""The action model end to end on a tiny model: action data -> `octo-mlx train` -> ActionModel."""

from __future__ import annotations

import json

import pytest

from octo_mlx.action.model import ActionModel, read_task
from octo_mlx.errors import OctoError
from octo_mlx.functions.simulator import TODAY
from octo_mlx.syntax import DATES, SlotMap, action_messages, action_tokens, render_observation
from octo_mlx.train.loop import train
from octo_mlx.train.recipe import load_recipe
from octo_mlx.train.setup import read_examples
from tests.helpers.datasets import tiny_overrides


def _args(model, data, out, *extra):
    return tiny_overrides(model, data, out, "model.new_tokens=[]", "lora.rank=2", "lora.alpha=4", *extra)


def test_an_action_dataset_teaches_calls_in_the_slot_maps_tokens(tiny_llama, action_data, tmp_path):
    examples = read_examples(load_recipe(None, _args(tiny_llama, action_data, tmp_path / "r")))
    assert examples.task == "action" and examples.slots.names[0] == "take_a_photo"  # Octopus v2's order
    for e in examples.train:
        turns = examples.messages(e)
        assert turns[:-1] == action_messages(e.step, e.observation, today=TODAY, languages=True)
        target = turns[-1]["content"]
        if e.call.is_none:
            assert target == "<nexa_none><nexa_end>"
        else:
            assert target.startswith(examples.slots.token(e.call.function)) and target.endswith("<nexa_end>")
            assert (
                json.loads(target[len(examples.slots.token(e.call.function)) : -len("<nexa_end>")])
                == e.call.arguments
            )
    dependent = [e for e in examples.train if e.observation]
    assert (
        dependent
        and render_observation(dependent[0].observation) in examples.messages(dependent[0])[0]["content"]
    )


def test_imported_steps_are_taught_as_written_and_the_simulators_steps_with_iso_dates(
    tiny_llama, action_data, tmp_path
):
    """An imported dataset's gold dates were written against a today it does not record: its
    steps get no annotation; offline and teacher steps are resolved against the simulated today."""
    import dataclasses

    examples = read_examples(load_recipe(None, _args(tiny_llama, action_data, tmp_path / "r")))
    step = dataclasses.replace(examples.train[0], step="Set an alarm for 07:30 next Friday", observation=None)
    imported = dataclasses.replace(step, generator="import:xlam")
    assert "next Friday (2025-06-13)" in examples.messages(step)[0]["content"]
    assert examples.messages(imported)[0]["content"] == action_messages(imported.step, None)[0]["content"]
    news = dataclasses.replace(step, step="Get trending news about the Nobel Prize in Japanese")
    assert examples.messages(news)[0]["content"].endswith("in Japanese (ja)")  # a code to copy, not to recall


@pytest.mark.parametrize("method", ["lora", "full"])
def test_a_trained_action_model_records_its_slots_and_only_emits_valid_calls(
    tiny_llama, action_data, tmp_path, method
):
    result = train(
        load_recipe(
            None,
            _args(tiny_llama, action_data, tmp_path / "run", "train.max_steps=2", f"train.method={method}"),
        )
    )
    task = read_task(result.last_dir)
    slots = SlotMap.from_json({"slots": task["slots"]})
    assert task["domains"] == ["android"] and len(slots) == 20 and task["dates"] == DATES
    if method == "lora":
        cfg = json.loads((result.last_dir / "adapter_config.json").read_text())
        assert cfg["tokens"] == action_tokens(slots)  # the rows it trained: 20 slots, none, end
        assert cfg["lora_parameters"]["rank"] == 22 and cfg["lora_parameters"]["trained_rank"] == 2
    model = ActionModel.load(result.last_dir, max_tokens=96)
    steps = [("Take a photo with the front camera", None), ("Turn the volume down to 2", None)]
    calls = model.act_many(steps)
    if method == "lora":  # folded into the weights (the default) or kept apart: the same calls
        assert not any(hasattr(m, "lora_a") for _, m in model.model.named_modules())
        apart = ActionModel.load(result.last_dir, max_tokens=96, fuse=False)
        assert any(hasattr(m, "lora_a") for _, m in apart.model.named_modules())
        assert [c.text for c in apart.act_many(steps)] == [c.text for c in calls]
    for c in calls:  # a barely trained tiny model: under the grammar every call is still valid
        assert c.valid and c.problem is None, (c.text, c.problem)
        assert c.call.is_none or c.call.function in slots


def test_an_action_model_refuses_a_domain_it_does_not_serve_and_a_planner_folder(
    tiny_llama, action_data, tmp_path
):
    result = train(load_recipe(None, _args(tiny_llama, action_data, tmp_path / "run", "train.max_steps=1")))
    model = ActionModel.load(result.last_dir, max_tokens=64)
    with pytest.raises(OctoError, match="does not serve"):
        model.act("Book a flight to Lisbon", active=["travel"])
    (tmp_path / "planner").mkdir()
    (tmp_path / "planner" / "adapter_config.json").write_text(json.dumps({"fine_tune_type": "lora"}))
    with pytest.raises(OctoError, match="not an action model"):
        read_task(tmp_path / "planner")


def test_a_model_is_asked_about_dates_the_way_it_was_trained(tiny_llama, action_data, tmp_path):
    """Trained on annotated dates and language names: its prompts carry them (dates against the
    simulated today); a model whose record predates an annotation gets the step without it."""
    result = train(load_recipe(None, _args(tiny_llama, action_data, tmp_path / "run", "train.max_steps=1")))
    step = [("Set an alarm for 07:30 next Friday", None), ("Get the news about Messi in Portuguese", None)]
    model = ActionModel.load(result.last_dir, max_tokens=64)
    annotated = [model.tokenizer.decode(p) for p in model.prompts(step)]
    assert model.today == TODAY and "next Friday (2025-06-13)" in annotated[0]
    assert model.languages and "in Portuguese (pt)" in annotated[1]
    cfg = json.loads((result.last_dir / "adapter_config.json").read_text())
    del cfg["dates"], cfg["languages"]
    (result.last_dir / "adapter_config.json").write_text(json.dumps(cfg))
    old = ActionModel.load(result.last_dir, max_tokens=64)
    decoded = [old.tokenizer.decode(p) for p in old.prompts(step)]
    assert old.today is None and "next Friday (" not in decoded[0]
    assert not old.languages and "Portuguese (" not in decoded[1]
