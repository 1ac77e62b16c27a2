"""A Streamable HTTP server that behaves like the official MCP conformance runner's `sse-retry`
client scenario (src/scenarios/client/sse-retry.ts, SEP-1699). Standard library only.

usage: sse_retry_server.py PORT --record DIR

- POST initialize: a JSON answer (protocol 2025-03-26) naming a session; notifications: 202.
- POST tools/list: one tool, test_reconnection.
- POST tools/call: an SSE reply holding only a priming event (`id`, `retry: 500`, empty data),
  closed 50 ms later without the answer.
- GET: an SSE stream with a priming event; a call still unanswered is answered on it
  ("Reconnection test completed successfully") when the GET resumes a stream (Last-Event-ID).
  The scenario answers on any GET; a client's own GET stream, opened after initialize, may then
  race the call, so this one waits for the resuming GET, which is what the test is about.

Records DIR/event-<n>.json: {"what": "post", "method": ...}, {"what": "close"} when the call's
stream is closed, {"what": "get", "last_event_id": ...}; each with "t", a monotonic time in ms.
"""
import itertools
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fixture_support import exit_with_parent, write_json

port = int(sys.argv[1])
options = sys.argv[2:]
record = options[options.index("--record") + 1]
os.makedirs(record, exist_ok=True)
exit_with_parent()

RETRY_MS = 500
SESSION = "session-%d" % int(time.time())
lock = threading.Lock()
counter = itertools.count(1)
event_ids = itertools.count(1)
pending = {"id": None}


def note(what, **fields):
    with lock:
        n = next(counter)
    write_json(os.path.join(record, "event-%04d.json" % n), dict(what=what, t=time.monotonic() * 1000, **fields))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def json_reply(self, status, value=None):
        body = json.dumps(value).encode() if value is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Mcp-Session-Id", SESSION)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Mcp-Session-Id", SESSION)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def priming(self):
        self.wfile.write(("id: event-%d\nretry: %d\ndata: \n\n" % (next(event_ids), RETRY_MS)).encode())
        self.wfile.flush()

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        method = request.get("method")
        note("post", method=method)
        rid = request.get("id")
        if method == "initialize":
            self.json_reply(200, {"jsonrpc": "2.0", "id": rid, "result": {
                "protocolVersion": "2025-03-26", "serverInfo": {"name": "sse-retry-test-server", "version": "1.0.0"},
                "capabilities": {"tools": {}}}})
        elif method == "tools/list":
            self.json_reply(200, {"jsonrpc": "2.0", "id": rid, "result": {"tools": [{
                "name": "test_reconnection", "description": "A tool that triggers SSE stream closure",
                "inputSchema": {"type": "object", "properties": {}, "required": []}}]}})
        elif method == "tools/call":
            with lock:
                pending["id"] = rid
            self.start_stream()
            self.priming()
            time.sleep(0.05)
            note("close")
        elif rid is None:
            self.json_reply(202)
        else:
            self.json_reply(200, {"jsonrpc": "2.0", "id": rid, "result": {}})

    def do_GET(self):
        note("get", last_event_id=self.headers.get("Last-Event-ID"))
        self.start_stream()
        self.priming()
        rid = None
        if self.headers.get("Last-Event-ID"):
            with lock:
                rid, pending["id"] = pending["id"], None
        if rid is not None:
            answer = {"jsonrpc": "2.0", "id": rid, "result": {"content": [{"type": "text", "text": "Reconnection test completed successfully"}]}}
            self.wfile.write(("event: message\nid: event-%d\ndata: %s\n\n" % (next(event_ids), json.dumps(answer))).encode())
            self.wfile.flush()
        # Kept open, as the scenario's GET streams are, until the client goes away.
        try:
            while True:
                time.sleep(1)
                self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()
        except OSError:
            pass

    def do_DELETE(self):
        self.json_reply(405)


server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
server.daemon_threads = True
server.serve_forever()
