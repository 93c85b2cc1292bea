"""The engine: turns a provider-neutral ``Call`` into a ``Plan``."""

from llmfake.engine._call import Call, Message, ToolSpec
from llmfake.engine._engine import Engine, TenantState
from llmfake.engine._plan import Choice, Plan, Timing, ToolCall, Usage

__all__ = [
    "Call",
    "Choice",
    "Engine",
    "Message",
    "Plan",
    "TenantState",
    "Timing",
    "ToolCall",
    "ToolSpec",
    "Usage",
]
