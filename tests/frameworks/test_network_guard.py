"""The guard the framework drills run under catches a call home, even one the caller swallows."""

from __future__ import annotations

SWALLOWED = '''
import httpx


def test_phones_home_quietly(llmfake):
    try:
        httpx.get("https://telemetry.example.com/ping", timeout=1)
    except httpx.HTTPError:
        pass  # as a framework that falls back to a bundled copy does


def test_stays_local(llmfake):
    assert httpx.get(llmfake.url + "/v1/models").status_code == 200
'''


def test_a_swallowed_call_home_fails_the_test(drill):
    result = drill.run_modules([("test_guarded", SWALLOWED)])
    result.assert_outcomes(passed=2, errors=1)  # the call passes; its teardown fails
    assert "tried to reach ['telemetry.example.com']" in result.stdout.str()
