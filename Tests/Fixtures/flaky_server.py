#!/usr/bin/env python3
"""An MCP server over stdio that fails on command, for the server-lifecycle tests.

Standard library only. Usage: flaky_server.py STATE_DIR

The test steers it and observes it through files in STATE_DIR:

  pid             written at start: this process's pid
  pids            one line per start: every pid this server ever had
  down            if it exists, exit(1) on reading `initialize` (the server cannot start)
  crash-on-call   a number n; while n > 0, every tools/call decrements it and exits(1)
                  right after reading the request (sent, never answered)
  calls-<tool>    one line appended (and flushed) per tools/call of <tool>, before acting
  tools-list      one line appended per tools/list
  hold-calls      if it exists, every tools/call is recorded and never answered
  hang            if it exists when this process starts, it never answers a tools/call
                  for the rest of its life (a hung server: only a new process recovers)

Tools:
  idempotent_echo {text}  annotations idempotentHint: true; echoes text
  unsafe_write {text}     idempotentHint: false, destructiveHint: true; echoes text
  tool_error              always a result with isError: true
  add_tool {name}         adds a tool <name> (it echoes) and sends
                          notifications/tools/list_changed
  nul_crash               writes a NUL byte to stderr and exits (sent, never answered)
  big {bytes}             idempotentHint: true; answers with a text of <bytes> x's
Also answers ping. capabilities: {"tools": {"listChanged": true}}.
"""

import json
import os
import sys

SUPPORTED = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
LATEST = "2025-11-25"

STATE = sys.argv[1] if len(sys.argv) > 1 else "."


def _echo_tool(name, annotations=None):
    tool = {
        "name": name,
        "description": "Echo the text back.",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
    }
    if annotations is not None:
        tool["annotations"] = annotations
    return tool


TOOLS = [
    _echo_tool("idempotent_echo", {"idempotentHint": True}),
    _echo_tool("unsafe_write", {"idempotentHint": False, "destructiveHint": True}),
    {
        "name": "tool_error",
        "description": "Always fails as a tool.",
        "inputSchema": {"type": "object"},
    },
    {"name": "nul_crash", "description": "Crash with a NUL on stderr.", "inputSchema": {"type": "object"}},
    {
        "name": "big",
        "description": "A large result.",
        "inputSchema": {"type": "object", "properties": {"bytes": {"type": "integer"}}},
        "annotations": {"idempotentHint": True},
    },
    {
        "name": "add_tool",
        "description": "Add an echoing tool and announce the change.",
        "inputSchema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    },
]


def path(name):
    return os.path.join(STATE, name)


def append(name, line):
    with open(path(name), "a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def write_atomically(name, text):
    # A temporary file of this process's own: several processes (one per daemon) may share
    # the state directory, and one's os.replace must not take the other's file away.
    tmp = path("%s.tmp.%d" % (name, os.getpid()))
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path(name))


def crash_if_asked():
    try:
        with open(path("crash-on-call")) as f:
            n = int(f.read().strip() or "0")
    except (OSError, ValueError):
        return
    if n > 0:
        write_atomically("crash-on-call", str(n - 1))
        os._exit(1)


def send(out, message):
    out.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
    out.flush()


def result(rid, value):
    return {"jsonrpc": "2.0", "id": rid, "result": value}


def text_result(text, is_error=False):
    return {"content": [{"type": "text", "text": text}], "isError": is_error}


def call(name, args, out, rid):
    """Runs one tools/call; returns the result, or None when the answer was already sent."""
    if name == "tool_error":
        return text_result("tool_error always fails", True)
    if name == "nul_crash":
        sys.stderr.write("before\x00after\n")
        sys.stderr.flush()
        os._exit(1)
    if name == "big":
        return text_result("x" * int(args.get("bytes", 0)))
    if name == "add_tool":
        new = args.get("name")
        if not isinstance(new, str) or not new:
            return text_result("add_tool needs a name", True)
        if all(t["name"] != new for t in TOOLS):
            TOOLS.append(_echo_tool(new))
        send(out, result(rid, text_result("added " + new)))
        send(out, {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
        return None
    if any(t["name"] == name for t in TOOLS):
        return text_result(str(args.get("text", "")))
    return None


def handle(msg, out):
    if not isinstance(msg, dict) or "id" not in msg or not isinstance(msg.get("method"), str):
        return  # notifications and responses
    rid = msg["id"]
    method = msg["method"]
    params = msg.get("params") if isinstance(msg.get("params"), dict) else {}

    if method == "initialize":
        if os.path.exists(path("down")):
            sys.stderr.write("flaky_server: down\n")
            sys.stderr.flush()
            os._exit(1)
        requested = params.get("protocolVersion")
        send(out, result(rid, {
            "protocolVersion": requested if requested in SUPPORTED else LATEST,
            "capabilities": {"tools": {"listChanged": True}},
            "serverInfo": {"name": "flaky-server", "version": "1.0.0"},
        }))
    elif method == "ping":
        send(out, result(rid, {}))
    elif method == "tools/list":
        append("tools-list", str(os.getpid()))
        send(out, result(rid, {"tools": TOOLS}))
    elif method == "tools/call":
        name = params.get("name")
        args = params.get("arguments") if isinstance(params.get("arguments"), dict) else {}
        if isinstance(name, str) and "/" not in name:
            append("calls-" + name, str(os.getpid()))
        crash_if_asked()
        if HANG or os.path.exists(path("hold-calls")):
            return
        answer = call(name, args, out, rid)
        if answer is not None:
            send(out, result(rid, answer))
        elif not any(t["name"] == name for t in TOOLS):
            send(out, {"jsonrpc": "2.0", "id": rid, "error": {"code": -32602, "message": "Unknown tool: %s" % (name,)}})
    else:
        send(out, {"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "Method not found: %s" % method}})


HANG = False


def main():
    global HANG
    HANG = os.path.exists(path("hang"))
    write_atomically("pid", str(os.getpid()))
    append("pids", str(os.getpid()))
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            send(out, {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}})
            continue
        handle(msg, out)


if __name__ == "__main__":
    try:
        main()
    except (BrokenPipeError, KeyboardInterrupt):
        try:
            sys.stdout = None
        except Exception:
            pass
        os._exit(0)
