"""MCP servers from the official Python SDK over HTTP, for the HTTP transport tests.

usage: http_server.py PORT [--json | --sse] [--resumable] [--retry MS] [--keep-alive SECONDS]
                      [--require-header NAME:VALUE]
  --json:           Streamable HTTP answering POSTs with application/json instead of SSE
  --sse:            the legacy HTTP+SSE transport (GET /sse, POST /messages/)
  --resumable:      Streamable HTTP with event ids (an in-memory event store) and retry 100 ms,
                    so a cut reply stream can be resumed with Last-Event-ID
  --retry:          with --resumable, the `retry` interval the server asks for (default 100 ms)
  --keep-alive:     how long an idle kept-alive connection stays open (uvicorn's default: 5 s;
                    0 closes it as soon as a response is done)
  --require-header: answer 401 to any request without that header (a credential check)

The server exits when its parent process does, so a killed test run leaves none behind.

Tools: add, echo; announce_tool(name) adds a tool and says so with
notifications/tools/list_changed on the server's own GET stream (not in reply to
the call); cut_then_echo(text) closes its reply stream first (with --resumable)
and answers after 300 ms, so only a client that resumes gets the answer.
"""
import sys

import anyio
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.streamable_http import EventMessage, EventStore

from fixture_support import exit_with_parent

port = int(sys.argv[1])
options = sys.argv[2:]


def option(name, default):
    return options[options.index(name) + 1] if name in options else default


exit_with_parent()
server = MCPServer("http-fixture", version="1.0.0")


@server.tool()
def add(a: int, b: int) -> int:
    """Adds two integers."""
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Returns the text."""
    return text


@server.tool()
async def announce_tool(name: str, ctx: Context) -> str:
    """Adds a tool called name, and tells the client on its own stream."""

    def added() -> str:
        return "added at runtime"

    server.add_tool(added, name=name, description="A tool added at runtime.")
    await ctx.session.send_tool_list_changed()
    return "announced " + name


@server.tool()
async def cut_then_echo(text: str, ctx: Context) -> str:
    """Closes the reply stream, then returns the text after 300 ms."""
    # The SDK writes the priming event (id, retry) from a task of its own; closing the stream
    # before that task has run ends the reply with no event at all, which no client can resume.
    # It happens when the session handles another message at the same time. Let it run first.
    await anyio.sleep(0.05)
    await ctx.close_sse_stream()
    await anyio.sleep(0.3)
    return text


class MemoryEventStore(EventStore):
    """Every event in memory, so any stream can be replayed from any event id."""

    def __init__(self):
        self.events = []  # (event id, stream id, message or None for a priming event)

    async def store_event(self, stream_id, message):
        event_id = str(len(self.events) + 1)
        self.events.append((event_id, stream_id, message))
        return event_id

    async def replay_events_after(self, last_event_id, send_callback):
        index = next((i for i, event in enumerate(self.events) if event[0] == last_event_id), None)
        if index is None:
            return None
        stream_id = self.events[index][1]
        for event_id, other_stream, message in self.events[index + 1:]:
            if other_stream == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream_id


def require_header(app, name: str, value: str):
    """ASGI middleware: 401 unless the request carries the header."""
    expected = (name.lower().encode(), value.encode())

    async def guarded(scope, receive, send):
        if scope["type"] == "http" and expected not in scope.get("headers", []):
            await send({"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"missing or wrong credential"})
            return
        await app(scope, receive, send)

    return guarded


if "--sse" in options:
    app = server.sse_app()
elif "--resumable" in options:
    app = server.streamable_http_app(json_response="--json" in options, event_store=MemoryEventStore(), retry_interval=int(option("--retry", "100")))
else:
    app = server.streamable_http_app(json_response="--json" in options)
if "--require-header" in options:
    name, value = options[options.index("--require-header") + 1].split(":", 1)
    app = require_header(app, name, value)
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", timeout_keep_alive=float(option("--keep-alive", "5")))
