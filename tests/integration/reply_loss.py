"""A unix-socket relay in front of PostgreSQL that loses one reply, as a broken link does.

Armed with a piece of a statement, it passes the first message holding it to the server,
which runs and commits it, then drops the whole reply and closes that client's connection:
the client sees a lost connection for a statement that took effect.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path

#: The end of a reply: ReadyForQuery ('Z', length 5), sent once the statement committed.
_READY = b"Z\x00\x00\x00\x05"


class ReplyLoss:
    """Relays connections to the server of `dsn` (a unix-socket DSN); `dsn` is its own."""

    def __init__(self, server_dsn: str) -> None:
        host = re.search(r"host=(\S+)", server_dsn)
        port = re.search(r"port=(\d+)", server_dsn)
        if host is None or port is None or not host.group(1).startswith("/"):
            raise ValueError("ReplyLoss needs a unix-socket DSN with host= and port=")
        self._server_socket = Path(host.group(1)) / f".s.PGSQL.{port.group(1)}"
        self._dir = tempfile.mkdtemp(prefix="asyncz-reply-loss-")
        self.dsn = server_dsn.replace(host.group(0), f"host={self._dir}")
        self._socket = Path(self._dir) / self._server_socket.name
        self._pattern: bytes | None = None
        self._relay: asyncio.AbstractServer | None = None
        #: How many replies were lost so far.
        self.lost = 0

    async def __aenter__(self) -> ReplyLoss:
        self._relay = await asyncio.start_unix_server(self._serve, path=str(self._socket))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._relay is not None:
            self._relay.close()
        self._socket.unlink(missing_ok=True)
        Path(self._dir).rmdir()

    def lose_reply_to(self, statement_part: bytes) -> None:
        """Lose the reply to the next message that holds `statement_part`."""
        self._pattern = statement_part

    async def _serve(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        server, to_server = await asyncio.open_unix_connection(str(self._server_socket))
        doomed = asyncio.Event()

        async def up() -> None:
            while data := await client.read(65536):
                if self._pattern is not None and self._pattern in data:
                    self._pattern = None
                    doomed.set()
                to_server.write(data)
                await to_server.drain()

        async def down() -> None:
            while data := await server.read(65536):
                if doomed.is_set():
                    if _READY in data:  # committed: the client never hears of it
                        self.lost += 1
                        return
                    continue
                to_client.write(data)
                await to_client.drain()

        relays = [asyncio.ensure_future(up()), asyncio.ensure_future(down())]
        try:
            await asyncio.wait(relays, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for relay in relays:
                relay.cancel()
            await asyncio.gather(*relays, return_exceptions=True)  # ConnectionError and all
            to_client.close()
            to_server.close()
