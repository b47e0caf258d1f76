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


# --- hardening (#11): what cannot succeed fails at once -----------------------------------------


def _client(base_url: str, **kw):
    from octo_mlx.llm import ChatClient, Endpoint, Usage

    # the defaults of `data synth`: 6 retries from 0.5 s, doubling (~30-60 s of back-off in all)
    endpoint = Endpoint(base_url, "m", timeout=120.0, max_retries=6, backoff=0.5, **kw)
    return ChatClient(endpoint, None, Usage())


def test_nothing_listening_fails_at_once_without_retries():
    import time

    import pytest

    from octo_mlx.llm import EndpointUnreachable
    from tests.helpers.servers import free_port

    client = _client(f"http://127.0.0.1:{free_port()}/v1")  # a port bound, then closed: nothing listens
    t0 = time.perf_counter()
    with pytest.raises(EndpointUnreachable) as e:
        client.complete([{"role": "user", "content": "hi"}], temperature=0.0, max_tokens=8)
    assert time.perf_counter() - t0 < 2.0
    assert "refused" in str(e.value).lower() and not client.usage.retries


def test_a_base_url_that_is_not_an_url_is_a_clear_error_before_any_request():
    import pytest

    from octo_mlx.errors import OctoError
    from octo_mlx.llm import check_base_url

    for bad in (
        "not a url",
        "localhost:8080/v1",
        "ftp://host/v1",
        "http://",
        "http://h:99999/v1",
        "http//h/v1",
    ):
        with pytest.raises(OctoError, match="http"):
            _client(bad)
        with pytest.raises(OctoError) as e:
            check_base_url(bad, "--base-url")
        assert e.value.where == "--base-url"
    assert check_base_url("https://api.example.com/v1", "--base-url") == "https://api.example.com/v1"
    assert check_base_url("http://127.0.0.1:8080/v1", "--base-url")


def test_cache_file_that_is_not_utf8_is_a_miss(tmp_path):
    cache = RequestCache(tmp_path)
    cache.put("ef" * 32, {"model": "m"}, {"choices": [1]})
    path = next(tmp_path.rglob("*.json"))
    path.write_bytes(b'{"response": "\xff"}')
    assert cache.get("ef" * 32) is None
