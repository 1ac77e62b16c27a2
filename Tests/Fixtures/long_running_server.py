"""Long-running tools from the official Python SDK, over stdio or Streamable HTTP.

usage: long_running_server.py [--http PORT] --record DIR

Each call writes what the server saw to DIR, one JSON file per event, so a test can read
what happened at the server without a clock:
  DIR/started-<request id>.json   {"request_id", "progress_token"} when a call starts
  DIR/cancelled-<request id>.json {"request_id"} when notifications/cancelled stops a call
  DIR/finished-<request id>.json  {"request_id"} when a call answers

Tools:
  work(seconds, every)  reports progress every `every` seconds, answers after `seconds`
  stall(report_for)     reports progress every 0.2 s for `report_for` seconds, then goes silent
                        and never answers
  wait(seconds)         sleeps `seconds` without a word (a call to cancel)
"""
import json
import os
import sys

import anyio
from mcp.server.mcpserver import Context, MCPServer

from fixture_support import exit_with_parent, write_json

options = sys.argv[1:]
record = options[options.index("--record") + 1]
os.makedirs(record, exist_ok=True)

exit_with_parent()
server = MCPServer("long-running-fixture", version="1.0.0")


def note(kind: str, ctx: Context, **fields):
    write_json(os.path.join(record, f"{kind}-{ctx.request_id}.json"), {"request_id": ctx.request_id, **fields})


def progress_token(ctx: Context):
    meta = ctx.request_context.meta or {}
    return meta.get("progress_token", meta.get("progressToken"))


async def observed(ctx: Context, body):
    note("started", ctx, progress_token=progress_token(ctx))
    try:
        result = await body()
    except anyio.get_cancelled_exc_class():
        note("cancelled", ctx)
        raise
    note("finished", ctx)
    return result


@server.tool()
async def work(seconds: float, every: float, ctx: Context) -> str:
    """Reports progress every `every` seconds and answers after `seconds`."""

    async def body():
        done = 0.0
        while done < seconds:
            step = min(every, seconds - done)
            await anyio.sleep(step)
            done += step
            await ctx.report_progress(done, seconds, f"{done:g} of {seconds:g} s")
        return f"worked {seconds:g} s"

    return await observed(ctx, body)


@server.tool()
async def stall(report_for: float, ctx: Context) -> str:
    """Reports progress for `report_for` seconds, then never answers."""

    async def body():
        done = 0.0
        while done < report_for:
            await anyio.sleep(0.2)
            done += 0.2
            await ctx.report_progress(done, None, "still going")
        await anyio.sleep_forever()

    return await observed(ctx, body)


@server.tool()
async def wait(seconds: float, ctx: Context) -> str:
    """Sleeps without reporting anything."""

    async def body():
        await anyio.sleep(seconds)
        return f"waited {seconds:g} s"

    return await observed(ctx, body)


if "--http" in options:
    import uvicorn

    port = int(options[options.index("--http") + 1])
    uvicorn.run(server.streamable_http_app(), host="127.0.0.1", port=port, log_level="warning")
else:
    server.run("stdio")
