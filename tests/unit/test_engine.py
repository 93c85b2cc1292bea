"""The engine without a server: tokens, determinism, rule selection."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from llmfake.engine import Call, Engine, Message
from llmfake.engine._text import count_tokens, cut, embedding, tokenize
from llmfake.scenario import load_scenario, scenario_from_dict


@given(st.text())
def test_tokens_concatenate_to_the_text(text):
    tokens = tokenize(text)
    assert "".join(tokens) == text
    assert count_tokens(text) == len(tokens)
    assert all(tokens)


def test_token_estimate_examples():
    assert tokenize("Hello, world!") == ("Hello", ",", " world", "!")
    assert count_tokens("internationalization") == 2  # words longer than 10 letters split
    assert count_tokens("12345") == 2


@given(st.text(), st.lists(st.text(min_size=1), max_size=3), st.none() | st.integers(0, 50))
def test_cut_never_grows_the_text(text, stop, limit):
    out, tokens, limited, hit = cut(text, stop, limit)
    assert hit is None or (hit in stop and hit in text)
    assert text.startswith(out)
    assert "".join(tokens) == out
    assert not any(s in out for s in stop)
    if limit is not None:
        assert len(tokens) <= limit
    assert limited == (limit is not None and count_tokens(text if not any(
        s in text for s in stop) else out) > limit) or limited is False


def test_embedding_is_a_unit_vector_depending_on_input_only():
    a = embedding("x", 64)
    assert a == embedding("x", 64)
    assert a != embedding("y", 64)
    assert abs(sum(v * v for v in a) - 1) < 1e-5


def _call(text: str, **kw) -> Call:
    return Call("openai", "chat", kw.pop("model", "gpt-4o"), (Message("user", text),), **kw)


requests = st.lists(
    st.tuples(st.text(max_size=30), st.booleans(), st.integers(1, 3)), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), reqs=requests)
def test_same_seed_and_requests_give_the_same_plans(seed, reqs):
    doc = {"seed": seed, "freeze_time": True, "rules": [
        {"match": {"contains": "a"}, "chaos": [{"probability": 0.3, "error": 500}],
         "script": [{"reply": {"generate": {"words": 5}}}, {"error": "rate_limit"}],
         "then": "cycle"}]}
    plans = []
    for tenant in ("one", "two"):
        engine = Engine(scenario_from_dict(doc))
        plans.append([engine.decide(_call(text, stream=stream, n=n, tenant=tenant))
                      for text, stream, n in reqs])
    strip = [[(p.uid, p.request_id, p.created, p.choices, p.error, p.source) for p in ps]
             for ps in plans]
    assert strip[0] == strip[1]


def test_chaos_probability_is_roughly_honoured():
    engine = Engine(scenario_from_dict({"seed": 3, "rules": [
        {"chaos": [{"probability": 0.25, "error": 503}]}]}))
    errors = sum(engine.decide(_call("x")).error is not None for _ in range(2000))
    assert 400 < errors < 600


def test_rules_count_per_tenant():
    engine = Engine(scenario_from_dict({"rules": [
        {"script": [{"error": 500}, {"reply": "ok"}]}]}))
    assert engine.decide(_call("x", tenant="a")).error is not None
    assert engine.decide(_call("x", tenant="b")).error is not None
    assert engine.decide(_call("x", tenant="a")).error is None


def test_default_builtin_scenario_loads():
    sc = load_scenario()
    assert sc.name == "default"
    assert sc.rules == ()


def test_journal_keeps_the_newest_exchanges():
    from llmfake.journal import Exchange, Journal

    journal = Journal(limit=3)
    for seq in range(5):
        journal.add(Exchange(seq=seq, tenant="t", method="POST", path="/"))
    assert [e.seq for e in journal] == [2, 3, 4]
    assert journal.dropped == 2
    assert journal[-1].seq == 4
    journal.clear()
    assert len(journal) == 0
    assert journal.dropped == 0


def test_the_stop_sequence_that_ends_first_wins():
    assert cut("abcd", ["cd", "bc"], None) == ("a", ("a",), False, "bc")
    assert cut("hello STOP world END", ["END", "STOP"], None)[3] == "STOP"
    assert cut("one two three", ["x"], 2) == ("one two", ("one", " two"), True, None)
