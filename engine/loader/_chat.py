"""Chat templates (Jinja2, as in HF ``tokenizer_config.json``), rendered in a sandbox."""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping, Sequence
from typing import Any

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine._errors import ChatTemplateError

__all__ = ["ChatTemplate", "ChatTemplateError"]

# Used when a checkpoint ships no template: ChatML, which SmolLM2 and Qwen2 speak.
_CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _raise_exception(message: str) -> None:
    raise ChatTemplateError(message)


def _tojson(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


def _strftime_now(fmt: str) -> str:
    return datetime.datetime.now().strftime(fmt)


class ChatTemplate:
    """A compiled chat template.

    Args:
        source: the Jinja2 template text, or None for ChatML.
        bos_token, eos_token: strings the template may reference.
    """

    def __init__(self, source: str | None, bos_token: str = "", eos_token: str = "") -> None:
        """Compile ``source`` in an immutable sandbox (templates come with downloaded models).

        Raises:
            ChatTemplateError: the template does not compile.
        """
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = _strftime_now
        env.filters["tojson"] = _tojson
        self.source = source or _CHATML
        try:
            self._template = env.from_string(self.source)
        except TemplateError as e:
            raise ChatTemplateError(f"chat template does not compile: {e}") from e
        self._bos, self._eos = bos_token, eos_token

    def render(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
        add_generation_prompt: bool = True,
    ) -> str:
        """Render OpenAI-shaped ``messages`` (and ``tools`` JSON schemas) to a prompt string.

        Raises:
            ChatTemplateError: the template rejected the conversation or failed.
        """
        try:
            return self._template.render(
                messages=[dict(m) for m in messages],
                tools=list(tools) if tools else None,
                add_generation_prompt=add_generation_prompt,
                bos_token=self._bos,
                eos_token=self._eos,
            )
        except ChatTemplateError:
            raise
        except TemplateError as e:
            raise ChatTemplateError(f"chat template failed: {e}") from e
        except (TypeError, ValueError, LookupError, ArithmeticError) as e:
            # e.g. ``'...' + message['content']`` with a null content: the template
            # cannot render this conversation, which is the caller's to fix
            raise ChatTemplateError(f"chat template failed: {type(e).__name__}: {e}") from e
