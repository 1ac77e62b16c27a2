"""A Streamable HTTP MCP server (official Python SDK) that takes only OAuth access tokens from
the fixture authorization server (oauth_server.py), for the OAuth client credentials tests.

usage: oauth_mcp_server.py PORT --issuer URL --record DIR [--sse] [--scopes-supported "S1 S2"]
                           [--challenge-scope SCOPE] [--tool-scope TOOL=SCOPE]
                           [--no-metadata-in-challenge] [--leeway SECONDS]
  --issuer:                  the authorization server; tokens are checked at {issuer}/introspect
  --record:                  what the server saw, one JSON file each: call-NNNN.json for a
                             tools/call that reached the tools, unauthorized-NNNN.json for a 401,
                             forbidden-NNNN.json for a 403 (each with the JSON-RPC method)
  --sse:                     the legacy HTTP+SSE transport instead of Streamable HTTP
  --challenge-scope:         the scope its 401 challenge names
  --tool-scope:              tools/call of TOOL needs SCOPE (else 403 insufficient_scope)
  --no-metadata-in-challenge: the 401 names no resource_metadata (clients must try the
                             well-known locations)
  --leeway:                  a token is taken this long after its exp (clock skew; default 1)

The protected resource metadata (RFC 9728) is served at
/.well-known/oauth-protected-resource/mcp (path-suffixed) only. A token must be active and
issued for this server's URL (its `aud`, from the RFC 8707 `resource`).

Tools: add, echo, append(text) (not idempotent: each run is recorded), admin_echo(text).
The server exits when its parent process does.
"""
import json
import os
import sys
import time

import urllib.parse
import urllib.request

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer

from fixture_support import exit_with_parent, write_json

port = int(sys.argv[1])
options = sys.argv[2:]


def option(name, default=None):
    return options[options.index(name) + 1] if name in options else default


exit_with_parent()
issuer = option("--issuer")
record = option("--record")
os.makedirs(record, exist_ok=True)
legacy = "--sse" in options
mcp_path = "/sse" if legacy else "/mcp"
resource = f"http://127.0.0.1:{port}{mcp_path}"
metadata_url = f"http://127.0.0.1:{port}/.well-known/oauth-protected-resource{mcp_path}"
scopes_supported = option("--scopes-supported", "mcp:tools").split()
challenge_scope = option("--challenge-scope")
tool_scopes = dict(v.split("=", 1) for i, v in enumerate(options) if i > 0 and options[i - 1] == "--tool-scope")
leeway = float(option("--leeway", "1"))
counter = 0
appended = []


def note(kind, value):
    global counter
    counter += 1
    write_json(os.path.join(record, f"{kind}-{counter:04d}.json"), value)


server = MCPServer("oauth-fixture", version="1.0.0")


@server.tool()
def add(a: int, b: int) -> int:
    """Adds two integers."""
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Returns the text."""
    return text


@server.tool()
def append(text: str) -> int:
    """Appends the text to a list (not idempotent); returns the list's length."""
    appended.append(text)
    note("append", {"text": text})
    return len(appended)


@server.tool()
def admin_echo(text: str) -> str:
    """Returns the text; needs a wider scope with --tool-scope."""
    return text


def post_introspection(token):
    data = urllib.parse.urlencode({"token": token}).encode()
    with urllib.request.urlopen(issuer + "/introspect", data=data, timeout=10) as response:
        return json.loads(response.read())


async def introspect(token):
    info = await anyio.to_thread.run_sync(post_introspection, token)
    if not info.get("active") or info.get("aud") != resource or time.time() > info.get("exp", 0) + leeway:
        return None
    return info


def guarded(app):
    async def guard(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        path = scope["path"]
        if path == f"/.well-known/oauth-protected-resource{mcp_path}":
            body = json.dumps({"resource": resource, "authorization_servers": [issuer], "scopes_supported": scopes_supported}).encode()
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
            return await send({"type": "http.response.body", "body": body})
        # Read the whole body, to see the JSON-RPC method; it is handed on as it came.
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        try:
            rpc = json.loads(body) if body else {}
        except ValueError:
            rpc = {}
        method = rpc.get("method") if isinstance(rpc, dict) else None
        tool = (rpc.get("params") or {}).get("name") if method == "tools/call" else None
        headers = dict(scope["headers"])
        authorization = headers.get(b"authorization", b"").decode()
        token = authorization[7:] if authorization.lower().startswith("bearer ") else None
        info = await introspect(token) if token else None
        if info is None:
            note("unauthorized", {"method": method or scope["method"], "had_token": token is not None})
            challenge = "Bearer " + ("" if "--no-metadata-in-challenge" in options else f'resource_metadata="{metadata_url}"')
            if challenge_scope:
                challenge += (", " if challenge.strip() != "Bearer" else "") + f'scope="{challenge_scope}"'
            if token:
                challenge += f', error="invalid_token"'
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"www-authenticate", challenge.strip().encode()), (b"content-type", b"text/plain")]})
            return await send({"type": "http.response.body", "body": b"a valid access token is needed"})
        needed = tool_scopes.get(tool)
        if needed and needed not in info.get("scope", "").split():
            note("forbidden", {"method": method, "tool": tool, "scope": info.get("scope", "")})
            challenge = f'Bearer error="insufficient_scope", scope="{" ".join(scopes_supported[:1] + [needed])}", resource_metadata="{metadata_url}"'
            await send({"type": "http.response.start", "status": 403, "headers": [(b"www-authenticate", challenge.encode())]})
            return await send({"type": "http.response.body", "body": b"insufficient scope"})
        if tool:
            note("call", {"tool": tool, "arguments": (rpc.get("params") or {}).get("arguments"), "scope": info.get("scope", "")})

        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await app(scope, replay, send)

    return guard


app = server.sse_app() if legacy else server.streamable_http_app()
uvicorn.run(guarded(app), host="127.0.0.1", port=port, log_level="warning")
