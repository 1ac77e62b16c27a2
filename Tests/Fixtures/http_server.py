"""MCP servers from the official Python SDK over HTTP, for the HTTP transport tests.

usage: http_server.py PORT [--json | --sse] [--require-header NAME:VALUE]
  --json:           Streamable HTTP answering POSTs with application/json instead of SSE
  --sse:            the legacy HTTP+SSE transport (GET /sse, POST /messages/)
  --require-header: answer 401 to any request without that header (a credential check)
"""
import sys

import uvicorn
from mcp.server.mcpserver import MCPServer

port = int(sys.argv[1])
options = sys.argv[2:]
server = MCPServer("http-fixture", version="1.0.0")


@server.tool()
def add(a: int, b: int) -> int:
    """Adds two integers."""
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Returns the text."""
    return text


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


app = server.sse_app() if "--sse" in options else server.streamable_http_app(json_response="--json" in options)
if "--require-header" in options:
    name, value = options[options.index("--require-header") + 1].split(":", 1)
    app = require_header(app, name, value)
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
