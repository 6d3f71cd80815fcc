"""Chat messages and tool calls, in the OpenAI chat-completions shapes.

`Message`, `ToolCall` and `Usage` are also exported from `agentkit`; this
module adds the parts they are built from (`FunctionCall`, `Role`) and the
`ToolSchema` a `Model` receives.
"""

from agentkit._messages import FunctionCall, Message, Role, ToolCall, ToolSchema, Usage

__all__ = ["FunctionCall", "Message", "Role", "ToolCall", "ToolSchema", "Usage"]
