"""What the Python fixture servers share."""
import json
import os
import threading
import time


def write_json(path, value):
    """Writes `value` to `path` whole: a reader never sees half a file."""
    with open(path + ".tmp", "w") as f:
        json.dump(value, f)
    os.replace(path + ".tmp", path)


def exit_with_parent():
    """Exits this process once its parent (the test run) is gone, so a killed run leaves no server behind."""

    def watch():
        parent = os.getppid()
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()
