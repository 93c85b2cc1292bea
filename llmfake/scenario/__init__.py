"""Scenarios: what the fake does, loaded from YAML, JSON, dicts or Python helpers."""

from llmfake.scenario._helpers import error, fault, reply
from llmfake.scenario._load import (
    builtin_names,
    load_scenario,
    scenario_from_dict,
    scenario_from_text,
)
from llmfake.scenario._model import Scenario

__all__ = [
    "Scenario",
    "builtin_names",
    "error",
    "fault",
    "load_scenario",
    "reply",
    "scenario_from_dict",
    "scenario_from_text",
]
