"""A Streamable HTTP server shaped like the official MCP conformance runner's client scenarios,
built on the official Python SDK's low-level Server, for the tests of `astra-mcpd call` run as
the runner runs a client.

usage: conformance_server.py PORT --record DIR

Tools, as the runner's scenario servers list them:
  add_numbers(a, b)           the `tools_call` scenario's tool: "The sum of a and b is a+b"
  json_schema_2020_12_tool    the `json-schema-2020-12-preservation` scenario's focal tool, whose
                              inputSchema uses $schema, $defs, $anchor, allOf/anyOf, if/then/else
  json_schema_echo(schema)    that scenario's echo tool: records the schema it was given

Every HTTP request is recorded as DIR/request-<n>.json: {"http": method, "method": JSON-RPC
method or null, "params": ..., "protocol_version": the MCP-Protocol-Version header}. The MCP
endpoint is /mcp. The server exits when its parent process does.
"""
import itertools
import json
import os
import sys

import mcp.types as types
import uvicorn
from mcp.server.lowlevel import Server

from fixture_support import exit_with_parent, write_json

port = int(sys.argv[1])
options = sys.argv[2:]
record = options[options.index("--record") + 1]
os.makedirs(record, exist_ok=True)
exit_with_parent()

# The conformance runner's JSON_SCHEMA_2020_12_FIXTURE (src/scenarios/server/json-schema-2020-12.ts).
FOCAL_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}

TOOLS = [
    types.Tool(
        name="add_numbers",
        description="Add two numbers together",
        input_schema={
            "type": "object",
            "properties": {"a": {"type": "number", "description": "First number"}, "b": {"type": "number", "description": "Second number"}},
            "required": ["a", "b"],
        },
    ),
    types.Tool(name="json_schema_2020_12_tool", description="Tool with JSON Schema 2020-12 features", input_schema=FOCAL_SCHEMA),
    types.Tool(
        name="json_schema_echo",
        description="Echoes back an arbitrary JSON Schema object.",
        input_schema={"type": "object", "properties": {"schema": {"type": "object"}}, "required": ["schema"]},
    ),
]


async def list_tools(ctx, params):
    return types.ListToolsResult(tools=TOOLS)


async def call_tool(ctx, params):
    arguments = params.arguments or {}
    if params.name == "add_numbers":
        a, b = arguments["a"], arguments["b"]
        return types.CallToolResult(content=[types.TextContent(type="text", text=f"The sum of {a} and {b} is {a + b}")])
    if params.name == "json_schema_echo":
        return types.CallToolResult(content=[types.TextContent(type="text", text="echoed")])
    if params.name == "json_schema_2020_12_tool":
        return types.CallToolResult(content=[types.TextContent(type="text", text="ok")])
    raise ValueError(f"Unknown tool: {params.name}")


server = Server("conformance-fixture", version="1.0.0", on_list_tools=list_tools, on_call_tool=call_tool)
app = server.streamable_http_app(json_response=True)
counter = itertools.count(1)


def note(method, body, headers):
    message = None
    try:
        message = json.loads(body) if body else None
    except ValueError:
        pass
    rpc = message if isinstance(message, dict) else {}
    write_json(
        os.path.join(record, "request-%04d.json" % next(counter)),
        {"http": method, "method": rpc.get("method"), "params": rpc.get("params"), "protocol_version": headers.get(b"mcp-protocol-version", b"").decode()},
    )


async def recording(scope, receive, send):
    """ASGI middleware: records each request (its whole body) before the app answers it."""
    if scope["type"] != "http":
        return await app(scope, receive, send)
    headers = dict(scope.get("headers", []))
    chunks = []
    noted = False

    async def tap():
        nonlocal noted
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body") and not noted:
                noted = True
                note(scope["method"], b"".join(chunks), headers)
        return message

    if scope["method"] != "POST":
        noted = True
        note(scope["method"], b"", headers)
    await app(scope, tap, send)


uvicorn.run(recording, host="127.0.0.1", port=port, log_level="warning")
