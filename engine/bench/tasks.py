"""The benchmark prompts: the decode tasks, the long grounded prompt, the speculation tasks.

`TASK_PROMPTS` (four short chats) and `long_prompt` (about 500 tokens of policy
clauses, for time to first token) are what `engine.bench.decode` times against
llama.cpp; `SPEC_TASKS` are the tasks of `engine.bench.speculative`, whose
customer-service turn quotes a policy, so that lookup drafting has text to copy.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["LONG_TASK", "SPEC_TASKS", "TASK_PROMPTS", "long_prompt", "tagged"]

TASK_PROMPTS: dict[str, list[dict[str, str]]] = {
    "customer_service": [
        {"role": "system", "content": "You are a support agent for Acme Store. Policy: refunds "
         "within 30 days with receipt; shipping takes 3-5 business days; order status at "
         "acme.example/orders."},
        {"role": "user", "content": "My order #4521 hasn't arrived after a week. "
         "Can I get a refund?"},
    ],
    "code_edit": [
        {"role": "user", "content": "Rename the variable `total` to `subtotal` in this code and "
         "return the full code:\n\ndef price(items):\n    total = 0\n    for it in items:\n"
         "        total += it.price * it.qty\n    tax = total * 0.2\n    return total + tax\n"},
    ],
    "math": [{"role": "user", "content": "A train travels 120 km in 1.5 hours. What is its "
              "average speed in km/h? Explain step by step."}],
    "open_chat": [{"role": "user", "content": "What are some fun things to do on a rainy "
                   "weekend?"}],
}  # fmt: skip

LONG_TASK = "long_prompt"
_CLAUSES = (
    "Refunds are issued to the original payment method within 5 to 7 business days.",
    "A card reported lost is blocked at once and a replacement arrives in 3 to 5 days.",
    "International transfers above 10,000 EUR need a second approval from the account owner.",
    "Disputed card payments are answered within 10 business days; the amount is credited "
    "provisionally after 5.",
    "Monthly fees are waived when the average balance stays above 2,500 EUR.",
    "Standing orders can be changed until 22:00 on the day before they run.",
)


def long_prompt(
    tokens: int = 500, count: Callable[[list[dict[str, str]]], int] | None = None
) -> list[dict[str, str]]:
    """A grounded support prompt of about ``tokens`` tokens (policy clauses, then a question).

    Args:
        tokens: the target length.
        count: ``messages -> token count`` (the engine's chat template and
            tokenizer); without it, 4 characters a token are assumed.
    """
    measure = count or (lambda m: sum(len(x["content"]) for x in m) // 4)
    clauses: list[str] = []
    while True:
        clause = f"{len(clauses) + 1}. {_CLAUSES[len(clauses) % len(_CLAUSES)]}"
        messages = [
            {"role": "system", "content": "You are a bank's support agent. Policy:\n"
             + "\n".join([*clauses, clause])},
            {"role": "user", "content": "My card was stolen yesterday and someone paid 240 EUR "
             "with it. What happens now and when do I get the money back?"},
        ]  # fmt: skip
        if measure(messages) > tokens:
            return messages
        clauses.append(clause)


_POLICY = (
    "Refund policy: Refunds are available within 30 days of purchase with a receipt. "
    "Refunds go back to the original payment method within 5 to 7 business days. "
    "Items marked final sale cannot be refunded. Shipping fees are not refundable unless the "
    "item arrived damaged. To request a refund, open Orders, choose the order, and select "
    "Request refund."
)

SPEC_TASKS: dict[str, list[dict[str, str]]] = {
    "customer_service": [
        {"role": "system", "content": f"You are a support agent. Answer from this policy, "
         f"quoting it where you can.\n\n{_POLICY}"},
        {"role": "user", "content": "I bought headphones 12 days ago and have the receipt. "
         "Can I get a refund, and how long will it take?"},
    ],
    "code_edit": TASK_PROMPTS["code_edit"],
    "open_chat": TASK_PROMPTS["open_chat"],
    "math": TASK_PROMPTS["math"],
}  # fmt: skip


def tagged(messages: list[dict[str, str]], tag: str) -> list[dict[str, str]]:
    """``messages`` with ``[tag] `` before the first message's text.

    A tag per round keeps every server's prompt cache from skipping a repeated
    prefill; the HTTP benchmark gives every server the same tag in a round, so
    all of them still get the very same prompt.
    """
    first = {**messages[0], "content": f"[{tag}] {messages[0]['content']}"}
    return [first, *messages[1:]]
