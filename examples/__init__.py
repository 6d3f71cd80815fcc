"""Flagship examples, each a small package runnable as ``python -m examples.<name>``.

- `examples.customer_service`: a banking-support bot (KB, SQLite tools, two tiers, PII).
- `examples.code_completion`: a completion server and an editing-session replay client.
- `examples.trading_signals`: typed signals from a headline stream under a deadline.
"""
