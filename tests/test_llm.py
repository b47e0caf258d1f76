"""The one OpenAI-compatible client's cache keys and secrets (its retries run against real servers
in test_teacher.py and test_judges.py)."""

from __future__ import annotations

from octo_mlx.llm import RequestCache, request_key, safe_base_url, scrub


def test_request_key_ignores_credentials_and_changes_with_what_matters():
    params = {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "temperature": 1.0,
        "seed": 1,
        "attempt": 0,
    }
    k = request_key("https://api.example.com/v1", params)
    assert k == request_key("https://user:sk-SECRET@api.example.com/v1/?key=sk-SECRET", params)
    for change in ({"seed": 2}, {"attempt": 1}, {"temperature": 0.5}, {"model": "n"}):
        assert request_key("https://api.example.com/v1", {**params, **change}) != k
    assert "SECRET" not in safe_base_url("https://u:SECRET@h:8080/v1?token=SECRET#SECRET")
    assert scrub("key sk-abcdef in text sk-abcdef", ["sk-abcdef"]) == "key *** in text ***"


def test_cache_round_trip_and_partial_file_is_a_miss(tmp_path):
    cache = RequestCache(tmp_path)
    cache.put("ab" * 32, {"model": "m"}, {"choices": [1]})
    assert cache.get("ab" * 32) == {"choices": [1]}
    path = next(tmp_path.rglob("*.json"))
    path.write_text(path.read_text()[:10])
    assert cache.get("ab" * 32) is None and cache.get("cd" * 32) is None
