#!/usr/bin/env python3
"""A minimal MCP server over stdio whose per-call cost is negligible.

Standard library only. One JSON-RPC message per line on stdin, one per line on
stdout (MCP stdio transport). Used by the tests and the benchmark as the
"free" server, so the numbers measure the daemon, not the tool.

  initialize      -> echoes a supported protocolVersion (else 2025-11-25),
                     capabilities {"tools": {}}, serverInfo
  notifications/* -> ignored (no reply to any message without an id)
  ping            -> {}
  tools/list      -> one tool, "add" {a: integer, b: integer}
  tools/call add  -> text "<sum>" + structuredContent {"sum": n}

With --serial-tool it also offers "slow_pid" {ms: integer}: it blocks the whole
server for ms milliseconds, then answers with its process id, so the tests can
see which of a server's sessions (child processes) ran a call, and that a server
answering one request at a time gets more than one session.
With --probe-parent it also offers "probe_parent": it tries to read its parent's
/proc/<pid>/environ and answers "readable" or "denied: <errno>", and "open_fds": the
descriptors beyond 0-2 it held when it started ("none" if it inherited none).
With --env-probe it offers "env_value", "leak_error" and "leak_and_exit" {name}: they answer
the value of environment variable `name`, put it in a JSON-RPC error, or write it to stderr and
exit, so the tests can see a credential reach the child and nowhere else.
With --probe-files it offers "read_path" {path}: the file's text, the names in the directory, or
"denied: <error>"; and "visible_processes": the process ids it can see in /proc, so the tests
can see what a sandboxed child can reach.
With --output-schema-string, "add" declares its structuredContent "sum" a string (it sends an
integer: a result that breaks its own outputSchema). With --remote-ref-schema, "add"'s
inputSchema is a $ref to another host (a schema no client may fetch).
With --task-required, "add" says execution.taskSupport "required" though the server declares
no tasks capability.
  anything else   -> JSON-RPC error -32601

Speed: input is read in whatever chunks the pipe holds (os.read), every
complete line in a chunk is answered, and the answers are written with one
write + flush before blocking for more input. So a pipelined client gets
batched writes, and a one-at-a-time client still gets each answer at once:
no reply ever waits on input that has not arrived yet.
"""

import errno
import json
import os
import sys
import time

SUPPORTED = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
LATEST = "2025-11-25"

ADD_TOOL = {
    "name": "add",
    "title": "Add",
    "description": "Add two integers.",
    "inputSchema": {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
        "additionalProperties": False,
    },
    "outputSchema": {
        "type": "object",
        "properties": {"sum": {"type": "integer"}},
        "required": ["sum"],
    },
    "annotations": {"readOnlyHint": True, "idempotentHint": True, "openWorldHint": False},
}

SLOW_PID_TOOL = {
    "name": "slow_pid",
    "description": "Block for ms milliseconds, then answer with the process id.",
    "inputSchema": {
        "type": "object",
        "properties": {"ms": {"type": "integer"}},
        "required": ["ms"],
    },
}

SERIAL_TOOL = "--serial-tool" in sys.argv[1:]
TOOLS = [ADD_TOOL, SLOW_PID_TOOL] if SERIAL_TOOL else [ADD_TOOL]
PROBE_TOOL = {
    "name": "probe_parent",
    "description": "Try to read the parent's /proc/<pid>/environ; answer 'readable' or 'denied: <error>'.",
    "inputSchema": {"type": "object"},
    "annotations": {"readOnlyHint": True},
}
FDS_TOOL = {
    "name": "open_fds",
    "description": "List the file descriptors this process holds beyond stdin, stdout and stderr.",
    "inputSchema": {"type": "object"},
    "annotations": {"readOnlyHint": True},
}
if "--probe-parent" in sys.argv[1:]:
    TOOLS = [ADD_TOOL, PROBE_TOOL, FDS_TOOL]
ENV_TOOLS = [
    {"name": name, "description": description, "inputSchema": {"type": "object", "properties": {"name": {"type": "string"}}}}
    for name, description in [
        ("env_value", "Answer the value of environment variable `name`."),
        ("leak_error", "Answer a JSON-RPC error whose message holds the value of `name`."),
        ("leak_and_exit", "Write the value of `name` to stderr, then exit."),
    ]
]
if "--env-probe" in sys.argv[1:]:
    TOOLS = [ADD_TOOL] + ENV_TOOLS
# Taken at start, before this process opens anything of its own.
INHERITED_FDS = sorted(int(fd) for fd in os.listdir("/proc/self/fd") if int(fd) > 2)
FILE_TOOLS = [
    {"name": "read_path", "description": "Read a file or list a directory.",
     "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}}, "annotations": {"readOnlyHint": True}},
    {"name": "visible_processes", "description": "The process ids visible in /proc.",
     "inputSchema": {"type": "object"}, "annotations": {"readOnlyHint": True}},
]
if "--probe-files" in sys.argv[1:]:
    TOOLS = [ADD_TOOL] + FILE_TOOLS
if "--output-schema-string" in sys.argv[1:]:
    ADD_TOOL["outputSchema"] = {"type": "object", "properties": {"sum": {"type": "string"}}, "required": ["sum"]}
if "--remote-ref-schema" in sys.argv[1:]:
    ADD_TOOL["inputSchema"] = {"$ref": "https://schemas.example/add.json"}
if "--task-required" in sys.argv[1:]:
    # Claims "add" must run as a task, yet declares no tasks capability (a broken server).
    TOOLS = [dict(ADD_TOOL, execution={"taskSupport": "required"})]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_loads = json.loads


def _result(rid, result):
    return _dumps({"jsonrpc": "2.0", "id": rid, "result": result}).encode() + b"\n"


def _error(rid, code, message):
    return _dumps({"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}).encode() + b"\n"


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def handle(line):
    """Answer one line; returns the bytes to write (possibly empty)."""
    try:
        msg = _loads(line)
    except ValueError:
        return _error(None, -32700, "Parse error")
    if not isinstance(msg, dict) or not isinstance(msg.get("method"), str):
        if isinstance(msg, dict) and "method" not in msg and ("result" in msg or "error" in msg):
            return b""  # a response to something we never asked: ignore
        return _error(msg.get("id") if isinstance(msg, dict) else None, -32600, "Invalid Request")
    if "id" not in msg:
        return b""  # notification (notifications/initialized, notifications/cancelled, ...)
    rid = msg["id"]
    method = msg["method"]
    params = msg.get("params")
    if not isinstance(params, dict):
        params = {}

    if method == "tools/call":
        if params.get("name") in ("env_value", "leak_error", "leak_and_exit"):
            value = os.environ.get((params.get("arguments") or {}).get("name", ""), "")
            if params["name"] == "leak_error":
                return _error(rid, -32000, "upstream refused token %s" % value)
            if params["name"] == "leak_and_exit":
                sys.stderr.write("fatal: token %s was rejected\n" % value)
                sys.stderr.flush()
                os._exit(3)
            return _result(rid, {"content": [{"type": "text", "text": value}], "isError": False})
        if params.get("name") == "read_path":
            path = (params.get("arguments") or {}).get("path", "")
            try:
                if os.path.isdir(path):
                    text = ",".join(sorted(os.listdir(path))) or "empty"
                else:
                    with open(path, "r", errors="replace") as f:
                        text = f.read()
            except OSError as e:
                text = "denied: %s" % errno.errorcode.get(e.errno, e.errno)
            return _result(rid, {"content": [{"type": "text", "text": text}], "isError": False})
        if params.get("name") == "visible_processes":
            pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
            return _result(rid, {"content": [{"type": "text", "text": ",".join(map(str, pids))}], "isError": False})
        if params.get("name") == "open_fds":
            # listdir's own descriptor is among those listed; it is closed again by then.
            held = [fd for fd in INHERITED_FDS if os.path.exists("/proc/self/fd/%d" % fd)]
            text = ",".join("%d:%s" % (fd, os.readlink("/proc/self/fd/%d" % fd)) for fd in held)
            return _result(rid, {"content": [{"type": "text", "text": text or "none"}], "isError": False})
        if params.get("name") == "probe_parent":
            try:
                with open("/proc/%d/environ" % os.getppid(), "rb") as f:
                    f.read()
                text = "readable"
            except OSError as error:
                text = "denied: %s" % (errno.errorcode.get(error.errno, error.errno),)
            return _result(rid, {"content": [{"type": "text", "text": text}], "isError": False})
        if SERIAL_TOOL and params.get("name") == "slow_pid":
            ms = (params.get("arguments") or {}).get("ms")
            time.sleep((ms if _is_int(ms) else 0) / 1000)
            return _result(rid, {"content": [{"type": "text", "text": str(os.getpid())}], "isError": False})
        if params.get("name") != "add":
            return _error(rid, -32602, "Unknown tool: %s" % (params.get("name"),))
        args = params.get("arguments")
        if not isinstance(args, dict) or not _is_int(args.get("a")) or not _is_int(args.get("b")):
            return _result(rid, {
                "content": [{"type": "text", "text": "add needs integer arguments a and b"}],
                "isError": True,
            })
        n = args["a"] + args["b"]
        return _result(rid, {
            "content": [{"type": "text", "text": str(n)}],
            "structuredContent": {"sum": n},
            "isError": False,
        })
    if method == "ping":
        return _result(rid, {})
    if method == "tools/list":
        return _result(rid, {"tools": TOOLS})
    if method == "initialize":
        requested = params.get("protocolVersion")
        return _result(rid, {
            "protocolVersion": requested if requested in SUPPORTED else LATEST,
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "fast-server", "version": "1.0.0"},
        })
    return _error(rid, -32601, "Method not found: %s" % method)


def main():
    fd_in = sys.stdin.fileno()
    out = sys.stdout.buffer
    pending = b""
    while True:
        try:
            chunk = os.read(fd_in, 1 << 16)
        except InterruptedError:
            continue
        if not chunk:
            break
        pending += chunk
        if b"\n" not in chunk:
            continue
        lines = pending.split(b"\n")
        pending = lines.pop()  # the incomplete tail (b"" when the chunk ended on a newline)
        replies = [handle(line) for line in lines if line.strip()]
        if replies:
            out.write(b"".join(replies))
            out.flush()
    if pending.strip():  # a last line without a newline before EOF
        out.write(handle(pending))
        out.flush()


if __name__ == "__main__":
    try:
        main()
    except (BrokenPipeError, KeyboardInterrupt):
        try:
            sys.stdout = None  # do not let the interpreter flush into a closed pipe at exit
        except Exception:
            pass
        os._exit(0)
