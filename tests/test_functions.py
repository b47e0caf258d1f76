"""Function domains: schema derivation, OpenAI-format loading, validation errors, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Annotated, Literal

import pytest
import yaml
from jsonschema import Draft202012Validator
from pydantic import Field

from octo_mlx.domains.catalog import BUNDLED_DOMAINS, load_domain, load_domains
from octo_mlx.errors import OctoError
from octo_mlx.functions.contract import validate_function
from octo_mlx.functions.signatures import (
    domain_from_callables,
    function_from_callable,
    octo_function,
    parse_docstring,
)

# The names other modules (paraphrase templates, data, evaluation) are written against.
PAPER_TEN = [
    "get_trending_news",
    "get_weather_forecast",
    "send_email",
    "search_youtube_videos",
    "find_route_google_maps",
    "send_text_message",
    "create_contact",
    "set_timer_alarm",
    "create_calendar_event",
    "set_volume",
]
CONTRACT = {
    "ecommerce": [
        "search_products",
        "get_product_details",
        "add_to_cart",
        "remove_from_cart",
        "view_cart",
        "apply_coupon",
        "checkout",
        "track_order",
        "return_item",
    ],
    "video_streaming": [
        "search_videos",
        "play_video",
        "pause_playback",
        "add_to_watchlist",
        "remove_from_watchlist",
        "get_recommendations",
        "rate_video",
        "download_video",
        "set_subtitles",
    ],
    "travel": [
        "search_flights",
        "book_flight",
        "check_flight_status",
        "search_hotels",
        "book_hotel",
        "rent_car",
        "get_travel_advisory",
        "convert_currency",
        "cancel_booking",
    ],
}


# --- schema from typed Python ------------------------------------------------------------------


@octo_function(side_effects=True, examples=[{"level": 3, "volume_type": "ring"}])
def _set_level(
    state,
    level: Annotated[int, Field(ge=0, le=10)],
    volume_type: Literal["ring", "media"],
    label: str = "default label",
    note: Annotated[str, Field(description="from Field")] = "",
) -> dict:
    """Sets a level.

    Longer explanation that stays in the summary.

    Args:
        level: How loud, from 0 to 10,
            on two lines.
        volume_type (str): Which volume.
        label: A label.
        note: from the docstring (Field wins).

    Returns:
        The new level.
    """
    return {"level": level}


def test_schema_from_typed_function():
    f = function_from_callable(_set_level, "demo")
    p = f.parameters
    Draft202012Validator.check_schema(p)
    assert "state" not in p["properties"]
    assert p["properties"]["volume_type"]["enum"] == ["ring", "media"]
    assert (p["properties"]["level"]["minimum"], p["properties"]["level"]["maximum"]) == (0, 10)
    assert p["properties"]["level"]["type"] == "integer"
    assert sorted(p["required"]) == ["level", "volume_type"]  # defaults make label and note optional
    assert p["properties"]["label"]["default"] == "default label"
    assert p["properties"]["level"]["description"] == "How loud, from 0 to 10, on two lines."
    assert p["properties"]["volume_type"]["description"] == "Which volume."
    assert p["properties"]["note"]["description"] == "from Field"
    assert f.description.startswith("Sets a level. Longer explanation")
    assert "new level" in f.description  # Returns: folds into the description
    assert f.side_effects and f.name == "_set_level" and f.examples == [{"level": 3, "volume_type": "ring"}]
    assert not any("title" in v for v in p["properties"].values())


def test_derived_schema_checks_calls():
    f = function_from_callable(_set_level)
    assert f.validate_arguments('{"level": 10, "volume_type": "media"}') == {
        "level": 10,
        "volume_type": "media",
    }
    for bad, field in [
        ({"level": 11, "volume_type": "ring"}, "level"),
        ({"level": 1, "volume_type": "loud"}, "volume_type"),
        ({"level": "3", "volume_type": "ring"}, "level"),
        ({"level": 1, "volume_type": "ring", "extra": 1}, "extra"),
        ({"volume_type": "ring"}, "level"),
    ]:
        with pytest.raises(OctoError) as e:
            f.validate_arguments(bad)
        assert field in str(e.value) and "_set_level" in str(e.value)
        assert "\n" not in str(e.value)


def test_domain_from_callables_and_state_parameter():
    def greet(name: str, polite: bool = True) -> str:
        """Greets someone.

        Args:
            name: Who.
            polite: Whether to be polite.
        """
        return ("Dear " if polite else "Hi ") + name

    d = domain_from_callables("demo", [greet, _set_level], description="a demo")
    assert d.names == ["greet", "_set_level"] and "greet" in d and d["greet"].domain == "demo"
    assert d["greet"].call(None, {"name": "Ann"}) == "Dear Ann"  # no state parameter: called without it
    assert d["_set_level"].call(object(), {"level": 2, "volume_type": "ring"}) == {"level": 2}
    with pytest.raises(OctoError, match="duplicate name"):
        domain_from_callables("demo", [greet, greet])


def test_bad_example_is_rejected():
    @octo_function(examples=[{"n": -1}])
    def count(n: Annotated[int, Field(ge=0)]) -> int:
        """Counts."""
        return n

    with pytest.raises(OctoError, match=r"function 'count': parameters\.examples\[0\]\.n"):
        domain_from_callables("demo", [count])


def test_parse_docstring_sections():
    summary, args = parse_docstring(
        "Do it.\n\nArgs:\n    a (int): first\n        more\n    b: second\n\nRaises:\n    X"
    )
    assert summary == "Do it." and args == {"a": "first more", "b": "second"}


# --- the bundled domains ------------------------------------------------------------------------


def test_bundled_domains_keep_the_contract_names():
    domains = {d.name: d for d in load_domains()}
    assert tuple(domains) == BUNDLED_DOMAINS
    android = domains["android"].names
    assert len(android) == 20 and len(set(android)) == 20
    assert set(PAPER_TEN) <= set(android)
    for name, names in CONTRACT.items():
        assert domains[name].names == names


def test_bundled_functions_are_valid_and_documented():
    for d in load_domains():
        assert d.description
        for f in d:
            validate_function(f)  # raises on any problem
            assert f.domain == d.name and f.implementation is not None
            assert 15 <= len(f.description) <= 300, f.name
            for pname, schema in f.parameters["properties"].items():
                assert schema.get("description"), f"{f.name}.{pname} has no description"
            tool = f.to_tool()
            assert tool["type"] == "function" and tool["function"]["name"] == f.name
            assert "examples" not in tool["function"]["parameters"]


def test_paper_parameter_constraints():
    android = load_domain("android")
    v = android["set_volume"]
    assert v.parameters["properties"]["volume_type"]["enum"] == ["ring", "media", "alarm"]
    assert android["find_route_google_maps"].parameters["properties"]["mode"]["enum"] == [
        "driving",
        "walking",
        "bicycling",
        "transit",
    ]
    with pytest.raises(OctoError):
        android["create_contact"].validate_arguments({"name": "A B", "phone_number": "555-1234"})
    with pytest.raises(OctoError):
        android["set_timer_alarm"].validate_arguments({"time": "25:00"})
    with pytest.raises(OctoError):
        load_domain("travel")["convert_currency"].validate_arguments(
            {"amount": 5, "from_currency": "usd", "to_currency": "EUR"}
        )


# --- loading the OpenAI tools format ------------------------------------------------------------


def _write(path, data):
    if path.suffix == ".json":
        path.write_text(json.dumps(data))
    else:
        path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
@pytest.mark.parametrize("shape", ["list_wrapped", "list_bare", "tools", "functions"])
def test_round_trip_of_the_openai_tools_format(tmp_path, suffix, shape):
    source = load_domain("ecommerce")
    tools = source.to_tools()
    bare = [t["function"] for t in tools]
    data = {
        "list_wrapped": tools,
        "list_bare": bare,
        "tools": {"name": "shop", "description": "my shop", "tools": tools},
        "functions": {"name": "shop", "functions": bare},
    }[shape]
    d = load_domain(_write(tmp_path / f"ecommerce{suffix}", data))
    assert d.name == ("ecommerce" if shape.startswith("list") else "shop")
    assert d.names == source.names
    for f in d:
        assert f.parameters == source[f.name].to_tool()["function"]["parameters"]
        assert f.description == source[f.name].description
        assert f.implementation is None and f.side_effects  # no hint in the file: assume it changes things


def test_side_effects_extension_and_cross_domain_duplicates(tmp_path):
    a = _write(tmp_path / "a.yaml", [{"name": "look", "description": "Looks.", "side_effects": False}])
    b = _write(
        tmp_path / "b.json", [{"type": "function", "function": {"name": "look", "description": "Again."}}]
    )
    assert load_domain(a)["look"].side_effects is False
    assert load_domain(a)["look"].parameters == {"type": "object", "properties": {}}
    with pytest.raises(OctoError, match="'look' is in both domains 'a' and 'b'"):
        load_domains([a, b])
    with pytest.raises(OctoError, match="given twice"):
        load_domains(["travel", "travel"])
    with pytest.raises(OctoError, match="'send_email' is in both"):
        load_domains(
            ["android", _write(tmp_path / "mail.json", [{"name": "send_email", "description": "x"}])]
        )


def test_unknown_domain_lists_the_bundled_ones():
    with pytest.raises(OctoError, match="android, ecommerce, video_streaming, travel"):
        load_domain("shopping")


# Each bad file: (name, text, substrings the one-line error must contain)
BAD_FILES = [
    (
        "typo.yaml",
        "tools:\n  - type: function\n    function:\n      name: add_to_cart\n      description: Add.\n"
        "      parameters:\n        type: object\n        properties:\n          quantity: {type: integr}\n",
        [
            "typo.yaml",
            "function 'add_to_cart'",
            "parameters.properties.quantity.type",
            "'integr' is not valid",
        ],
    ),
    (
        "dup.json",
        '[{"name": "a", "description": "x"}, {"name": "a", "description": "y"}]',
        ["dup.json", "function 'a'", "duplicate"],
    ),
    (
        "syntax.json",
        '[{"name": "a",\n "description": "x" "parameters": {}}]',
        ["syntax.json:2", "malformed JSON"],
    ),
    ("syntax.yaml", "tools:\n  - name: a\n    description: [open\n", ["syntax.yaml:", "malformed YAML"]),
    (
        "required.json",
        '[{"name": "a", "description": "x", "parameters": {"type": "object", "required": ["q"]}}]',
        ["required.json", "function 'a'", "parameters.required", "'q'"],
    ),
    (
        "name.json",
        '[{"name": "send-email", "description": "x"}]',
        ["name.json", "'send-email'", "identifier"],
    ),
    ("desc.json", '[{"name": "a", "description": "  "}]', ["desc.json", "function 'a'", "description"]),
    (
        "type.json",
        '[{"name": "a", "description": "x", "parameters": {"type": "array"}}]',
        ["type.json", "function 'a'", "parameters.type"],
    ),
    (
        "key.json",
        '[{"name": "a", "description": "x", "paramters": {}}]',
        ["key.json", "function 'a'", "'paramters'"],
    ),
    ("shape.json", '{"name": "a"}', ["shape.json", "expected a list"]),
]


@pytest.mark.parametrize("name,text,parts", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_input_gives_one_clear_line(tmp_path, name, text, parts):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(OctoError) as e:
        load_domain(path)
    message = str(e.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, (part, message)


# --- the real CLI ----------------------------------------------------------------------------------


def _cli(*args, cwd=None):
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run(
        [sys.executable, "-m", "octo_mlx", *args], capture_output=True, text=True, env=env, cwd=cwd
    )


def test_cli_bad_files_exit_2_with_one_line(tmp_path):
    for name, text, parts in [BAD_FILES[0], BAD_FILES[2]]:
        path = tmp_path / name
        path.write_text(text)
        out = _cli("functions", "list", "--domain", str(path))
        assert out.returncode == 2, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("octo-mlx: error: ")
        assert all(p in lines[0] for p in parts) and "Traceback" not in out.stderr


def test_cli_list_show_export(tmp_path):
    out = _cli("functions", "list")
    assert out.returncode == 0, out.stderr
    for d in load_domains():
        for name in d.names:
            assert name in out.stdout
    out = _cli("functions", "export", "--domain", "travel")
    assert out.returncode == 0 and json.loads(out.stdout) == load_domain("travel").to_tools()
    exported = tmp_path / "travel_tools.json"
    exported.write_text(out.stdout)
    assert load_domain(exported).names == load_domain("travel").names
    out = _cli("functions", "show", "set_volume")
    assert out.returncode == 0 and '"volume_type"' in out.stdout
    out = _cli("functions", "show", "send_mail")
    assert out.returncode == 2 and "send_email" in out.stderr


def test_state_type_only_known_to_type_checkers(tmp_path, monkeypatch):
    # a user module with `from __future__ import annotations` that imports DeviceState only for typing
    (tmp_path / "user_tools.py").write_text(
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING, Literal\n"
        "if TYPE_CHECKING:\n"
        "    from octo_mlx.functions.simulator import DeviceState\n"
        "def water(state: DeviceState, zone: Literal['front', 'back']) -> Result:\n"
        '    """Waters a zone.\n\n    Args:\n        zone: Which garden zone.\n    """\n'
        "    return zone\n"
        "from octo_mlx.functions import domain_from_callables\n"
        "DOMAIN = domain_from_callables('garden', [water])\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    d = load_domain("user_tools:DOMAIN")
    assert d["water"].parameters["properties"]["zone"]["enum"] == ["front", "back"]
    assert d["water"].call(None, {"zone": "back"}) == "back"
    with pytest.raises(OctoError, match="not a Domain"):
        load_domain("user_tools:water")


def test_a_domain_named_by_data_never_imports_python(tmp_path, tiny_llama):
    """dataset.json and the examples' `domains` may name bundled domains and tool files only:
    `module:ATTR` from data is refused, while the same name on the command line is imported."""
    from tests.helpers.cli import run_octo
    from tests.helpers.datasets import write_planner_data

    marker = tmp_path / "IMPORTED"
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "evil_dom.py").write_text(
        f"open({str(marker)!r}, 'a').write('x')\nfrom octo_mlx.domains.android import DOMAIN\n"
    )
    data = write_planner_data(tmp_path / "data", n_train=3, n_valid=3)
    spec = "evil_dom:DOMAIN"
    for split in ("train", "valid"):
        path = data / f"{split}.jsonl"
        records = [json.loads(line) for line in path.read_text().splitlines()]
        path.write_text("".join(json.dumps(dict(r, domains=[spec])) + "\n" for r in records))
    (data / "dataset.json").write_text(json.dumps({"domains": [spec], "config": {"domains": [spec]}}))
    env = {"PYTHONPATH": str(mods)}

    for args in (
        ("data", "validate", data),
        ("data", "stats", data),
        ("eval", "--data", data / "valid.jsonl", "--model", tiny_llama),
    ):
        res = run_octo(*args, cwd=tmp_path, env=env)
        assert not marker.exists(), f"octo-mlx {args[:2]} imported a module named by data"
        assert "Traceback" not in res.stderr
    assert res.returncode == 2 and "names Python code" in res.stderr  # eval says why it stops

    res = run_octo("functions", "list", "--domain", spec, cwd=tmp_path, env=env)  # the user names it
    assert res.returncode == 0 and marker.exists(), res.stderr


# --- hardening (#11): tool files with bad bytes, YAML errors, keys given twice ---------------------


def test_tools_yaml_error_gives_line_and_column(tmp_path):
    text = "tools:\n  - name: a\n    description: x: y\n"
    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(OctoError) as e:
        load_domain(path)
    assert e.value.where == f"{path}:3"
    assert f"column {text.splitlines()[2].index(': y') + 1}" in e.value.message


def test_tools_yaml_key_given_twice_is_refused(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("tools:\n  - name: a\n    description: first\n    description: second\n")
    with pytest.raises(OctoError) as e:
        load_domain(path)
    assert e.value.where == f"{path}:4" and "'description' given twice" in e.value.message


@pytest.mark.parametrize("name", ["bad.yaml", "bad.json"])
def test_tools_file_that_is_not_utf8_is_one_line_exit_2_through_the_cli(tmp_path, name):
    from tests.helpers.cli import run_octo

    path = tmp_path / name
    good = (
        "tools:\n  - name: a\n    description: caf\u00e9\n"
        if name.endswith(".yaml")
        else '[{"name": "a",\n  "description": "caf\u00e9"}]'
    )
    path.write_bytes(good.encode("latin-1"))
    out = run_octo("functions", "list", "--domain", str(path), cwd=tmp_path, timeout=120)
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert f"{path}:3" in out.stderr if name.endswith(".yaml") else f"{path}:2" in out.stderr


def test_tools_json_key_given_twice_is_refused(tmp_path):
    path = tmp_path / "tools.json"
    path.write_text('[{"name": "a", "description": "x", "name": "b", "parameters": {"type": "object"}}]')
    with pytest.raises(OctoError, match="key 'name' given twice"):
        load_domain(path)
