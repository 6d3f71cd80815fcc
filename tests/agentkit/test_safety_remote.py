"""`RemoteModerationFilter` against a real HTTP server on loopback (no mocks)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anyio
import pytest

from agentkit._safety_types import SafetyVerdict
from agentkit.safety import RemoteModerationFilter


class _Handler(BaseHTTPRequestHandler):
    """Moderation and guard endpoints; texts containing 'slow' sleep, 'boom' fail."""

    def log_message(self, *args: object) -> None:  # keep test output quiet
        return

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = body.get("input") or body["messages"][-1]["content"]
        if "slow" in text:
            time.sleep(1.0)
        if "boom" in text:
            self.send_response(500)
            self.end_headers()
            return
        bad = "attack" in text
        if self.path.endswith("/moderations"):
            scores = {"violence": 0.93 if bad else 0.01, "hate": 0.02}
            payload: dict[str, object] = {
                "results": [
                    {"flagged": bad, "category_scores": scores, "categories": {"violence": bad}}
                ]
            }
        else:
            reply = "unsafe\nS1" if bad else "safe"
            payload = {"choices": [{"message": {"role": "assistant", "content": reply}}]}
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def _check(f: RemoteModerationFilter, text: str, stage: str = "input") -> SafetyVerdict:
    return anyio.run(lambda: f.check(text, stage=stage))  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["moderation", "guard"])
def test_flags_and_allows(base_url: str, mode: str) -> None:
    f = RemoteModerationFilter(base_url, mode=mode)  # type: ignore[arg-type]
    bad = _check(f, "plan the attack on him")
    assert bad.flagged and bad.action == "escalate"
    assert bad.categories["violence"] >= 0.9
    good = _check(f, "what a nice day")
    assert not good.flagged and good.action == "allow"


def test_pii_is_found_locally(base_url: str) -> None:
    v = _check(RemoteModerationFilter(base_url), "card 4111 1111 1111 1111", stage="output")
    assert v.action == "redact" and v.redacted_text == "card [CARD]"


@pytest.mark.parametrize("fail_open", [True, False])
def test_timeout_fail_open_and_closed(base_url: str, fail_open: bool) -> None:
    f = RemoteModerationFilter(base_url, timeout_s=0.2, fail_open=fail_open)
    start = time.perf_counter()
    v = _check(f, "a slow request")
    assert time.perf_counter() - start < 0.9
    assert v.action == ("allow" if fail_open else "refuse")
    assert "unavailable" in v.reasons[0]


@pytest.mark.parametrize("fail_open", [True, False])
def test_server_error_and_unreachable(base_url: str, fail_open: bool) -> None:
    f = RemoteModerationFilter(base_url, fail_open=fail_open)
    assert _check(f, "boom").action == ("allow" if fail_open else "refuse")
    dead = RemoteModerationFilter("http://127.0.0.1:9/v1", timeout_s=0.5, fail_open=fail_open)
    assert _check(dead, "hello").action == ("allow" if fail_open else "refuse")


def test_config_is_validated() -> None:
    with pytest.raises(ValueError):
        RemoteModerationFilter("http://127.0.0.1:1", timeout_s=0)
    with pytest.raises(ValueError):
        RemoteModerationFilter("http://127.0.0.1:1", mode="other")  # type: ignore[arg-type]
