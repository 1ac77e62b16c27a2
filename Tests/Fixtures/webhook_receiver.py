"""A callback receiver that verifies Standard Webhooks signatures with the `standardwebhooks`
package from PyPI (the reference implementation, not ours).

usage: webhook_receiver.py PORT SECRET --record DIR [--fail N]
  --fail N: answer the first N requests with HTTP 500 (then verify and accept)

Each request leaves one JSON file in DIR (written whole, then renamed):
  request-<n>.json   {"n", "webhook_id", "answered"} for every request, in arrival order
  delivered-<n>.json {"webhook_id", "body"} for each request verified and accepted (204)
A request whose signature does not verify is answered 401.
"""
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

from fixture_support import exit_with_parent, write_json

port = int(sys.argv[1])
secret = sys.argv[2]
options = sys.argv[3:]
record = options[options.index("--record") + 1]
fail = int(options[options.index("--fail") + 1]) if "--fail" in options else 0
os.makedirs(record, exist_ok=True)
webhook = Webhook(secret)
lock = threading.Lock()
count = 0


def write(name, value):
    write_json(os.path.join(record, name), value)


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        with lock:
            count += 1
            n = count
        headers = {k.lower(): v for k, v in self.headers.items()}
        if n <= fail:
            answered = 500
        else:
            try:
                webhook.verify(body, headers)
                answered = 204
                write(f"delivered-{n}.json", {"webhook_id": headers.get("webhook-id"), "body": body.decode()})
            except Exception as error:  # a bad signature or timestamp
                answered = 401
                write(f"rejected-{n}.json", {"error": str(error)})
        write(f"request-{n}.json", {"n": n, "webhook_id": headers.get("webhook-id"), "answered": answered})
        self.send_response(answered)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


exit_with_parent()
ThreadingHTTPServer(("127.0.0.1", port), Receiver).serve_forever()
