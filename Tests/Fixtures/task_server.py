"""A small MCP server of our own that speaks the 2025-11-25 task messages (the official Python
SDK has no server-side tasks), over Streamable HTTP with JSON replies. Standard library only.

usage: task_server.py PORT --record DIR

Capabilities: tools, and tasks.requests.tools.call (with tasks.cancel and tasks.list).
Tools:
  slow_job(seconds)  execution.taskSupport "optional": works `seconds`, reporting nothing,
                     then completes with text "job done after <seconds> s"
  must_task(seconds) execution.taskSupport "required": the same, but a call without a task
                     is refused with -32601
Tasks live in this process, not in an MCP session: a client that reconnects (a new session)
finds its tasks by id, as the spec's tasks are bound to the client's authorization, not the
session. An unknown task id is -32602.

Each tool run leaves DIR/run-<task id>.json when it starts (so a test can count runs), and
DIR/cancelled-<task id>.json when tasks/cancel stopped it.
"""
import json
import os
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fixture_support import exit_with_parent, write_json

port = int(sys.argv[1])
options = sys.argv[2:]
record = options[options.index("--record") + 1]
os.makedirs(record, exist_ok=True)

POLL_MS = 100
TOOLS = [
    {"name": "slow_job", "inputSchema": {"type": "object", "properties": {"seconds": {"type": "number"}}},
     "execution": {"taskSupport": "optional"}},
    {"name": "must_task", "inputSchema": {"type": "object", "properties": {"seconds": {"type": "number"}}},
     "execution": {"taskSupport": "required"}},
]
lock = threading.Condition()
tasks = {}  # id -> dict(status, result, created, updated, ttl, cancel)


def now():
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def note(name, value):
    write_json(os.path.join(record, name), value)


def task_view(task_id):
    t = tasks[task_id]
    view = {"taskId": task_id, "status": t["status"], "createdAt": t["created"], "lastUpdatedAt": t["updated"],
            "ttl": t["ttl"], "pollInterval": POLL_MS}
    if t.get("message"):
        view["statusMessage"] = t["message"]
    return view


def run_job(task_id, seconds):
    note(f"run-{task_id}.json", {"task_id": task_id, "seconds": seconds})
    deadline = time.monotonic() + seconds
    with lock:
        while tasks[task_id]["status"] == "working" and time.monotonic() < deadline:
            lock.wait(timeout=max(deadline - time.monotonic(), 0))
        t = tasks[task_id]
        if t["status"] == "working":
            t["status"] = "completed"
            t["updated"] = now()
            t["result"] = {"content": [{"type": "text", "text": f"job done after {seconds:g} s"}], "isError": False}
        lock.notify_all()


def error(rid, code, message):
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}


def handle(message):
    method, rid, params = message.get("method"), message.get("id"), message.get("params") or {}
    if rid is None:
        return None  # a notification
    if method == "initialize":
        return {"jsonrpc": "2.0", "id": rid, "result": {
            "protocolVersion": "2025-11-25",
            "capabilities": {"tools": {}, "tasks": {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}},
            "serverInfo": {"name": "task-fixture", "version": "1.0.0"}}}
    if method == "ping":
        return {"jsonrpc": "2.0", "id": rid, "result": {}}
    if method == "tools/list":
        return {"jsonrpc": "2.0", "id": rid, "result": {"tools": TOOLS}}
    if method == "tools/call":
        name, arguments = params.get("name"), params.get("arguments") or {}
        if name not in ("slow_job", "must_task"):
            return error(rid, -32602, f"unknown tool {name}")
        seconds = float(arguments.get("seconds", 1))
        if "task" not in params:
            if name == "must_task":
                return error(rid, -32601, "must_task must be called as a task")
            time.sleep(seconds)
            return {"jsonrpc": "2.0", "id": rid, "result": {"content": [{"type": "text", "text": f"job done after {seconds:g} s"}]}}
        task_id = str(uuid.uuid4())
        with lock:
            tasks[task_id] = {"status": "working", "created": now(), "updated": now(), "ttl": params["task"].get("ttl"), "result": None}
        threading.Thread(target=run_job, args=(task_id, seconds), daemon=True).start()
        with lock:
            return {"jsonrpc": "2.0", "id": rid, "result": {"task": task_view(task_id)}}
    if method in ("tasks/get", "tasks/result", "tasks/cancel"):
        task_id = params.get("taskId")
        with lock:
            if task_id not in tasks:
                return error(rid, -32602, f"unknown task {task_id}")
            t = tasks[task_id]
            if method == "tasks/get":
                return {"jsonrpc": "2.0", "id": rid, "result": task_view(task_id)}
            if method == "tasks/cancel":
                if t["status"] in ("completed", "failed", "cancelled"):
                    return error(rid, -32602, f"task {task_id} is already {t['status']}")
                t["status"], t["updated"], t["message"] = "cancelled", now(), "cancelled by the client"
                note(f"cancelled-{task_id}.json", {"task_id": task_id})
                lock.notify_all()
                return {"jsonrpc": "2.0", "id": rid, "result": task_view(task_id)}
            while t["status"] not in ("completed", "failed", "cancelled"):
                lock.wait()
            related = {"io.modelcontextprotocol/related-task": {"taskId": task_id}}
            if t["status"] == "cancelled":
                return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32603, "message": "the task was cancelled", "data": related}}
            return {"jsonrpc": "2.0", "id": rid, "result": dict(t["result"], _meta=related)}
    return error(rid, -32601, f"method not found: {method}")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        try:
            message = json.loads(body)
        except ValueError:
            return self.reply(400, None)
        answer = handle(message)
        if answer is None:
            return self.reply(202, None)
        extra = {"mcp-session-id": uuid.uuid4().hex} if message.get("method") == "initialize" else {}
        self.reply(200, answer, extra)

    def do_GET(self):
        self.reply(405, None)

    def do_DELETE(self):
        self.reply(200, None)

    def reply(self, status, payload, headers=None):
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("content-type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


exit_with_parent()
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
