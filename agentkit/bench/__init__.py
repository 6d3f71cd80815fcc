"""The benchmark harness: what measures agentkit, kept out of the runtime.

Nothing that runs in production imports this package; ``agentkit bench ...``
imports its modules lazily, inside each command. Modules:

- ``_agent``: the agent loop's overhead, budget and deep-tier fault handling.
- ``_http``: our server over HTTP (embedded and remote modes) on the task prompts.
- ``_overhead``: the server's own cost per request, against a do-nothing ASGI app.
- ``_soak``, ``_soak_mix``: a long mixed run against ``agentkit serve`` and its checks.
- ``_report``, ``_markdown``, ``_plots``: the whole report (JSON, Markdown, plots).
- ``_compare``: two report JSONs side by side.
"""
