"""A Streamable HTTP MCP server from the official Python SDK, for the HTTP transport tests.

usage: http_server.py PORT [--json | --sse]
  --json: Streamable HTTP answering POSTs with application/json instead of SSE
  --sse:  the legacy HTTP+SSE transport (GET /sse, POST /messages/)
"""
import sys

from mcp.server.mcpserver import MCPServer

port = int(sys.argv[1])
server = MCPServer("http-fixture", version="1.0.0")


@server.tool()
def add(a: int, b: int) -> int:
    """Adds two integers."""
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Returns the text."""
    return text


if "--sse" in sys.argv[2:]:
    server.run(transport="sse", host="127.0.0.1", port=port)
else:
    server.run(transport="streamable-http", host="127.0.0.1", port=port, json_response="--json" in sys.argv[2:])
