"""A Streamable HTTP MCP server that misbehaves on purpose (stdlib only), for the HTTP transport tests.

usage: misbehaving_http_server.py PORT
Tools: `ok` answers; `oversized` streams one 2 MiB event; `forever` keeps its SSE stream open with comments
and never answers; `cut` sends half an event and drops the connection.
"""
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fixture_support import exit_with_parent

exit_with_parent()

TOOLS = [{"name": n, "inputSchema": {"type": "object"}} for n in ("ok", "oversized", "forever", "cut")]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply_json(self, message, headers=()):
        body = json.dumps(message).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()

    def do_DELETE(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        method, rid = request.get("method"), request.get("id")
        if rid is None:
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if method == "initialize":
            version = request["params"]["protocolVersion"]
            result = {"protocolVersion": version, "capabilities": {"tools": {}}, "serverInfo": {"name": "misbehaving", "version": "1"}}
            self.reply_json({"jsonrpc": "2.0", "id": rid, "result": result}, [("Mcp-Session-Id", "s1")])
        elif method == "tools/list":
            self.reply_json({"jsonrpc": "2.0", "id": rid, "result": {"tools": TOOLS}})
        elif method == "tools/call":
            name = request["params"]["name"]
            if name == "ok":
                self.reply_json({"jsonrpc": "2.0", "id": rid, "result": {"content": [{"type": "text", "text": "fine"}]}})
            elif name == "oversized":
                self.start_stream()
                self.wfile.write(b"data: " + b"x" * (2 << 20) + b"\n\n")
            elif name == "forever":
                self.start_stream()
                try:
                    for _ in range(600):
                        self.wfile.write(b": still working\n\n")
                        self.wfile.flush()
                        time.sleep(0.2)
                except OSError:
                    pass
            elif name == "cut":
                self.start_stream()
                self.wfile.write(b'data: {"jsonrpc":"2.0","id":')
                self.wfile.flush()
                self.close_connection = True
        else:
            self.reply_json({"jsonrpc": "2.0", "id": rid, "result": {}})


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
