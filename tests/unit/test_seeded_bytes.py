"""Same seed, same bytes, in every release: generated text and whole bodies are pinned here.

A change to the word list, to how words are drawn, or to how a reply is rendered changes what
users' recorded expectations compare against; this test fails first, on purpose.
"""

from __future__ import annotations

import hashlib
import json
import random
import urllib.request

import pytest

import llmfake
from llmfake.engine._text import generated_text
from llmfake.engine._words import WORDS


def test_the_word_list_is_fixed():
    assert len(WORDS) == 971
    assert len(set(WORDS)) == len(WORDS)
    assert hashlib.sha256(" ".join(WORDS).encode()).hexdigest()[:16] == "3d11958c06f4356f"


def test_generated_text_for_a_seed_never_changes():
    assert generated_text(random.Random("0:content:0")) == (
        "Yard think certain them learn region have peace little.")
    assert generated_text(random.Random("7:content:3")) == (
        "Prepare friend do weight moment majority. Main way often beautiful expect establish "
        "bill.")
    assert generated_text(random.Random("42"), words=12) == (
        "Matter lose property father bill woman around book year play look three.")


def test_a_chat_body_for_a_seed_never_changes():
    with llmfake.serve({"seed": 7, "freeze_time": True}) as server:
        request = urllib.request.Request(
            f"{server.openai_base_url}/chat/completions", method="POST",
            data=json.dumps({"model": "gpt-4o",
                             "messages": [{"role": "user", "content": "hi"}]}).encode(),
            headers={"content-type": "application/json"})
        with urllib.request.urlopen(request) as response:
            body = response.read()
    assert json.loads(body)["choices"][0]["message"]["content"] == (
        "Kind interesting fine they heart party stay. Specific little beat voice might president "
        "human couple list add. Although any realize american staff well year occur save.")
    assert hashlib.sha256(body).hexdigest() == (
        "245a5eaebc7009c0b162e251aaea4b7f215d315faa3be3da9f1a4fe464ed5ffa")


def _by_choice(rng: random.Random, sentences: int | None = None, words: int | None = None
               ) -> str:
    """generated_text as first written, with rng.choice and rng.randint."""
    if words is not None:
        return " ".join([rng.choice(WORDS) for _ in range(words)]).capitalize() + "."
    count = sentences if sentences is not None else rng.randint(1, 3)
    return " ".join(" ".join([rng.choice(WORDS) for _ in range(rng.randint(4, 12))])
                    .capitalize() + "." for _ in range(count))


@pytest.mark.parametrize("shape", [{}, {"sentences": 4}, {"words": 9}])
def test_inlined_draws_give_what_choice_and_randint_give(shape):
    # generated_text inlines CPython's rejection sampling; if a Python release changes
    # choice() or randint(), this says so before the pinned bytes above do.
    for seed in range(500):
        a, b = random.Random(f"seed-{seed}"), random.Random(f"seed-{seed}")
        assert generated_text(a, **shape) == _by_choice(b, **shape)
        assert a.getrandbits(32) == b.getrandbits(32)  # and left the generator in step
