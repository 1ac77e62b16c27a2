"""A TCP proxy in front of PostgreSQL that can hold back the answer of one claim.

Usage: pg_stall_proxy.py LISTEN_PORT TARGET_HOST TARGET_PORT STATE_DIR

Every connection is passed through as it is (the daemon must connect with sslmode=disable, so
the protocol can be read). The switches, files in STATE_DIR:
- `arm`: the next answer of the daemon's claim statement (`ClaimExecutionsStatement`) that
  carries a row is held back from its first DataRow on: PostgreSQL has run the claim, and
  committed it, but the daemon does not see its answer. The proxy then removes `arm` and writes
  `stalled`;
- `release`: what was held back is sent, and the connection goes on as usual.
"""
import asyncio
import os
import struct
import sys

from fixture_support import exit_with_parent

CLAIM = b"ClaimExecutionsStatement"


def exists(name):
    return os.path.exists(os.path.join(STATE, name))


def touch(name):
    with open(os.path.join(STATE, name), "w"):
        pass


class Link:
    def __init__(self):
        self.claim_pending = False
        self.stalled = False
        self.held = []


async def client_to_server(reader, writer, link):
    tail = b""
    try:
        while data := await reader.read(65536):
            # The claim's Parse or Bind names its prepared statement.
            if CLAIM in tail + data:
                link.claim_pending = True
            tail = data[-len(CLAIM):]
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def server_to_client(reader, writer, link):
    buffer = b""
    try:
        while data := await reader.read(65536):
            buffer += data
            out = []
            # Every message from the server: a type byte, then its length (which counts itself).
            while len(buffer) >= 5:
                length = struct.unpack("!I", buffer[1:5])[0]
                if len(buffer) < 1 + length:
                    break
                message, buffer = buffer[: 1 + length], buffer[1 + length :]
                kind = message[:1]
                if not link.stalled and link.claim_pending and kind == b"D" and exists("arm"):
                    link.stalled = True
                    os.remove(os.path.join(STATE, "arm"))
                    touch("stalled")
                if kind in (b"C", b"E"):
                    link.claim_pending = False
                if link.stalled:
                    link.held.append(message)
                else:
                    out.append(message)
            if out:
                writer.write(b"".join(out))
                await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def release_when_asked(writer, link):
    while not writer.is_closing():
        if link.stalled and exists("release"):
            link.stalled = False
            writer.write(b"".join(link.held))
            link.held = []
            await writer.drain()
        await asyncio.sleep(0.02)


async def handle(client_reader, client_writer):
    try:
        server_reader, server_writer = await asyncio.open_connection(TARGET_HOST, TARGET_PORT)
    except OSError:
        client_writer.close()
        return
    link = Link()
    releaser = asyncio.ensure_future(release_when_asked(client_writer, link))
    await asyncio.gather(
        client_to_server(client_reader, server_writer, link),
        server_to_client(server_reader, client_writer, link),
    )
    releaser.cancel()


async def main(port):
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    LISTEN_PORT, TARGET_HOST, TARGET_PORT, STATE = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    os.makedirs(STATE, exist_ok=True)
    exit_with_parent()
    asyncio.run(main(LISTEN_PORT))
