"""MCP servers as tool sources: connection lifecycle, cached tool lists, typed failures.

Each server owns a `LoopThread`. Its connection (the ``mcp`` SDK's `Client`
over stdio or streamable HTTP) is opened there by an owner task on first need,
and everything that touches it runs there too; callers on any event loop
await the outcome. State below marked *loop* is read and written in that
thread only.

Failures are typed (`ToolServerError`) and logged, never a crash of the caller:
a server that cannot start, does not answer within ``connect_timeout_s``,
crashes or drops the connection is ``unavailable``; a malformed answer is
``protocol``. After a failed start, the next attempt waits ``retry_after_s``;
a connection lost mid-session is reopened by the next call.
"""

from __future__ import annotations

import concurrent.futures
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import anyio
import httpx2
import pydantic
import structlog
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, CallToolResult, Implementation, ToolListChangedNotification
from mcp_types import Tool as RemoteTool

from agentkit._errors import ConfigError, ToolServerError
from agentkit._version import __version__
from agentkit.mcp._loop import LoopThread
from agentkit.mcp._tool import ApprovalRule, MCPTool, build_tools

__all__ = ["MCPServer", "MCPServerStdio", "MCPServerStreamableHttp"]

_log = structlog.get_logger("agentkit.mcp")
_T = TypeVar("_T")
_MAX_PAGES = 100  # tools/list pages read per listing: a server that pages for ever is cut
_CLIENT_INFO = Implementation(name="agentkit", version=__version__)


def _describe(exc: BaseException) -> str:
    """One line for an error, the first leaf of an exception group included."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"[:300]


@dataclass(eq=False)
class _Link:
    """One connection attempt (*loop*): its client while it is up, why it ended."""

    deadline: float  # anyio time by which it must be up
    ready: anyio.Event = field(default_factory=anyio.Event)
    closing: anyio.Event = field(default_factory=anyio.Event)
    done: anyio.Event = field(default_factory=anyio.Event)
    client: Client | None = None
    opened: bool = False
    error: str = ""
    ended_at: float = math.inf  # anyio time


class MCPServer:
    """An MCP server whose tools an `Agent` calls like its own (``mcp_servers=[...]``).

    The connection opens on first need (a turn, `list_tools`, `connect`, or
    ``async with``) and stays open across turns and event loops until
    `aclose` / `close` (or the end of ``async with``). The tool list is
    cached; ``list_tools(refresh=True)``, or the server's ``tools/list_changed``
    notification, reads it again. Subclasses say how to reach the server.

    Args:
        name: Shown in logs, errors and tool results.
        prefix: Put before each tool's name in the agent's registry.
        timeout_s: Time limit per tool call (None: the registry's, as for local tools).
        connect_timeout_s: Most time to start and greet the server.
        cache_tools_list: Keep the tool list between turns (False: list every turn).
        retry_after_s: After a failed start, how long the next attempt waits.
        close_timeout_s: Most time a close waits for the connection to end cleanly.
        needs_approval: Which calls of its tools wait for a person's approval: all
            (True), none, or a predicate on the tool's name on the server and its
            arguments, e.g. ``lambda name, args: name == "refund" and args["amount"] > 100``.
    """

    def __init__(
        self,
        *,
        name: str,
        prefix: str = "",
        timeout_s: float | None = None,
        connect_timeout_s: float = 10.0,
        cache_tools_list: bool = True,
        retry_after_s: float = 5.0,
        close_timeout_s: float = 5.0,
        needs_approval: ApprovalRule = False,
    ) -> None:
        for field_name, value in (
            ("connect_timeout_s", connect_timeout_s),
            ("close_timeout_s", close_timeout_s),
            ("timeout_s", 1.0 if timeout_s is None else timeout_s),
        ):
            if not 0 < value < math.inf:
                raise ConfigError(field_name, "must be > 0 and finite")
        if not 0 <= retry_after_s < math.inf:
            raise ConfigError("retry_after_s", "must be >= 0 and finite")
        if not (isinstance(needs_approval, bool) or callable(needs_approval)):
            raise ConfigError("needs_approval", "must be a bool or a predicate")
        self.name = name
        self.prefix = prefix
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.cache_tools_list = cache_tools_list
        self.retry_after_s = retry_after_s
        self.close_timeout_s = close_timeout_s
        self.needs_approval = needs_approval
        self._loop = LoopThread(f"agentkit-mcp-{name}")
        self._link: _Link | None = None  # *loop*
        self._tools: list[MCPTool] | None = None
        self._stale = False  # set by the server's tools/list_changed

    def _transport(self) -> AbstractAsyncContextManager[Any]:
        """The ``mcp`` transport to this server (called in the server's loop)."""
        raise NotImplementedError

    # -- the caller's side ---------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether a connection is up now."""
        link = self._link
        return link is not None and link.client is not None

    async def connect(self) -> None:
        """Open the connection (if needed) and read the tool list.

        Raises:
            ToolServerError: The server cannot be started or reached, or its list is malformed.
        """
        await self.list_tools(refresh=not self.connected)

    async def list_tools(self, *, refresh: bool = False) -> list[MCPTool]:
        """The server's tools, ready for a `ToolRegistry` (cached; ``refresh`` reads again).

        Tools whose name or schema cannot be offered to a model are left out and logged.

        Raises:
            ToolServerError: The server cannot be reached, or its answer is malformed.
        """
        if self._tools is not None and self.cache_tools_list and not (refresh or self._stale):
            return list(self._tools)
        self._stale = False
        listed = await self._run(self._list_remote)
        self._tools = build_tools(
            self,
            listed,
            prefix=self.prefix,
            timeout_s=self.timeout_s,
            needs_approval=self.needs_approval,
        )
        return list(self._tools)

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        """Call the server's tool ``name`` (by its name on the server).

        Raises:
            ToolServerError: The server is unavailable, or broke the protocol.
        """
        return await self._run(partial(self._call_remote, name, arguments))

    async def aclose(self) -> None:
        """End the connection and the server's thread; a later use opens a new one."""
        await self._run(self._close_remote, start=False)
        await anyio.to_thread.run_sync(self._loop.stop)

    def close(self) -> None:
        """`aclose` for synchronous code (blocks; in async code use `aclose`)."""
        self._loop.call_blocking(self._close_remote)
        self._loop.stop()

    async def __aenter__(self) -> MCPServer:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run(self, fn: Callable[[], Awaitable[_T]], *, start: bool = True) -> _T:
        if not start and not self._loop.running:
            return cast(_T, None)
        try:
            return await self._loop.call(fn)
        # Closed while the call ran, or while it was being handed over (the portal's
        # RuntimeError: failures inside ``fn`` are ToolServerErrors already).
        except (concurrent.futures.CancelledError, RuntimeError):
            raise ToolServerError(self.name, "unavailable", self._says("was closed")) from None

    def _says(self, what: str) -> str:
        return f"MCP server {self.name!r} {what}"

    # -- the server's loop -----------------------------------------------------------

    async def _client(self) -> tuple[_Link, Client]:
        link = self._link
        if link is not None and not link.opened:
            failed_at = min(link.deadline, link.ended_at)  # a start that failed or timed out
            since = anyio.current_time() - failed_at
            if since >= 0:
                if since < self.retry_after_s:
                    why = f"no answer within connect_timeout_s={self.connect_timeout_s:g}"
                    wait = self.retry_after_s - since
                    what = f"is unavailable ({link.error or why}); next attempt in {wait:.1f} s"
                    raise ToolServerError(self.name, "unavailable", self._says(what))
                link = None
        if link is None or link.done.is_set():
            link = self._link = _Link(deadline=anyio.current_time() + self.connect_timeout_s)
            self._loop.spawn(partial(self._own, link))
        # Not by the owner: after a timeout, ending the server can take seconds more.
        with anyio.move_on_after(link.deadline - anyio.current_time()):
            await link.ready.wait()
        if link.client is None:
            why = link.error or f"no answer within connect_timeout_s={self.connect_timeout_s:g}"
            raise ToolServerError(self.name, "unavailable", self._says(f"failed: {why}"))
        return link, link.client

    async def _own(self, link: _Link) -> None:
        """Open the connection, hold it until closing, and record how it ended."""
        try:
            with anyio.CancelScope(deadline=link.deadline) as scope:
                async with Client(
                    cast(Any, self._transport()),
                    client_info=_CLIENT_INFO,
                    message_handler=self._on_message,
                ) as client:
                    scope.deadline = math.inf
                    link.client, link.opened = client, True
                    link.ready.set()
                    await link.closing.wait()
            if scope.cancelled_caught:
                link.error = f"no answer within connect_timeout_s={self.connect_timeout_s:g}"
        except Exception as exc:
            link.error = _describe(exc)
        finally:
            link.client, link.ended_at = None, anyio.current_time()
            link.ready.set()
            link.done.set()
        if link.error:
            event = "mcp_server_lost" if link.opened else "mcp_server_unavailable"
            _log.warning(event, server=self.name, error=link.error)

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, ToolListChangedNotification):
            self._stale = True
        await anyio.lowlevel.checkpoint()

    async def _guarded(self, fn: Callable[[Client], Awaitable[_T]]) -> _T:
        """Run ``fn`` on the connection; its failures become `ToolServerError` s."""
        link, client = await self._client()
        try:
            return await fn(client)
        except MCPError as exc:
            if exc.code != CONNECTION_CLOSED:
                what = f"answered error {exc.code}: {exc.message[:300]}"
                raise ToolServerError(self.name, "protocol", self._says(what)) from None
            why = "closed the connection (it may have crashed)"
        except (pydantic.ValidationError, RuntimeError) as exc:
            what = f"sent a malformed answer ({_describe(exc)})"
            raise ToolServerError(self.name, "protocol", self._says(what)) from None
        except Exception as exc:
            why = f"connection failed ({_describe(exc)})"
        self._lost(link, why)
        raise ToolServerError(self.name, "unavailable", self._says(why))

    def _lost(self, link: _Link, why: str) -> None:
        if self._link is link:
            self._link = None  # the next call opens a new connection
        link.error = link.error or why
        link.closing.set()

    async def _list_remote(self) -> list[RemoteTool]:
        async def pages(client: Client) -> list[RemoteTool]:
            tools: list[RemoteTool] = []
            cursor: str | None = None
            for _ in range(_MAX_PAGES):
                page = await client.list_tools(cursor=cursor, cache_mode="bypass")
                tools += page.tools
                cursor = page.next_cursor
                if not cursor:
                    break
            return tools

        return await self._guarded(pages)

    async def _call_remote(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        return await self._guarded(lambda client: client.call_tool(name, arguments))

    async def _close_remote(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            link.closing.set()
            with anyio.move_on_after(self.close_timeout_s):
                await link.done.wait()


class MCPServerStdio(MCPServer):
    """An MCP server run as a subprocess, spoken to over its stdin and stdout.

    Example:
        ``MCPServerStdio("python", ["files_server.py"], env={"ROOT": "/srv"})``

    Args:
        command: The executable.
        args: Its arguments.
        env: Extra environment variables (over a minimal safe inherited set).
        cwd: Its working directory.
        name: Defaults to the script's (or the command's) file name without suffix.
        **options: See `MCPServer`.
    """

    def __init__(
        self,
        command: str,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        *,
        name: str | None = None,
        **options: Any,
    ) -> None:
        if not command:
            raise ConfigError("command", "must name an executable")
        self.params = StdioServerParameters(
            command=command, args=list(args), env=dict(env) if env else None, cwd=cwd
        )
        super().__init__(name=name or Path(args[-1] if args else command).stem, **options)

    def _transport(self) -> AbstractAsyncContextManager[Any]:
        return stdio_client(self.params)


class MCPServerStreamableHttp(MCPServer):
    """An MCP server reached over streamable HTTP.

    Args:
        url: The MCP endpoint, e.g. ``http://127.0.0.1:8000/mcp``.
        headers: Sent with every request (authorization, for instance).
        name: Defaults to the URL's host.
        **options: See `MCPServer`.
    """

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        name: str | None = None,
        **options: Any,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("url", f"must be an http(s) URL, got {url!r}")
        self.url = url
        self.headers = dict(headers or {})
        super().__init__(name=name or parts.hostname, **options)

    def _transport(self) -> AbstractAsyncContextManager[Any]:
        return self._http()

    @asynccontextmanager
    async def _http(self) -> AsyncIterator[Any]:
        # The SDK's defaults: 30 s to connect or write, 300 s to read a held stream.
        timeout = httpx2.Timeout(30.0, read=300.0)
        async with (
            httpx2.AsyncClient(headers=self.headers, timeout=timeout) as http,
            streamable_http_client(self.url, http_client=http) as streams,
        ):
            yield streams
