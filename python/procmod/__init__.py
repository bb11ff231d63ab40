"""procmod for Python: clients and servers over the procmod C++ library.

    import procmod
    with procmod.connect("tcp://127.0.0.1:11111") as client:
        print(client.request("ping", b"hello"))

See docs/PYTHON.md; the API with its types is in __init__.pyi.
"""

import asyncio
import json
from typing import Callable, Mapping, Optional

from ._errors import Closed, Denied, Error, InvalidArgument, RemoteError, Timeout, Unavailable
from ._procmod import PROTOCOL_VERSION, Reply, Request
from ._procmod import Client as _NativeClient
from ._procmod import Server as _NativeServer
from ._procmod import connect as _connect
from ._procmod import reverse_connect as _reverse_connect
from ._procmod import _monitor_list

__version__ = "0.1.0"

__all__ = [
    "Client", "Closed", "Denied", "Error", "InvalidArgument", "PROTOCOL_VERSION", "RemoteError",
    "Reply", "Request", "Server", "Timeout", "Unavailable", "connect", "monitor_list",
    "reverse_connect", "serve",
]


class Client:
    """A connection to a server; made by connect() or reverse_connect()."""

    def __init__(self, native: _NativeClient) -> None:
        self._native = native

    url = property(lambda self: self._native.url)
    session = property(lambda self: self._native.session)
    closed = property(lambda self: self._native.closed)

    def request(self, method, *frames, timeout=None, args=None):
        """REQUEST `method` with `frames` (bytes or str); the reply's payload: bytes for
        one frame, a list of bytes otherwise. `timeout` in seconds (default: the
        client's request_timeout); `args`: one msgpack-encoded map. Raises RemoteError
        (with the PMP code), Timeout, Unavailable or Closed."""
        return self._native.request(method, *frames, timeout=timeout, args=args)

    def call(self, method, *frames, timeout=None, args=None):
        """As request(), but the whole Reply: .frames (a list) and .result (msgpack)."""
        return self._native.call(method, *frames, timeout=timeout, args=args)

    async def request_async(self, method, *frames, timeout=None, args=None):
        """request() for asyncio: awaits the reply without blocking the event loop."""
        # The blocking call runs on the loop's executor without the GIL: the loop goes on.
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None, lambda: self._native.request(method, *frames, timeout=timeout, args=args))

    def send(self, payload, channel=""):
        """DATA to the server: bytes or str as one frame, a list as a frame each."""
        self._native.send(payload, channel)

    def on_data(self, callback):
        """callback(channel, frames) for each DATA from the server, on the binding's
        callback thread (in order; it may call request()). None removes it."""
        self._native.on_data(callback)

    def on_disconnected(self, callback):
        """callback(reason, message) when the session ends: reason is bye, expired,
        closed, replaced or forgotten; message the server's words, if any."""
        self._native.on_disconnected(callback)

    def peers(self):
        """The admitted peers (the server, or both of a render pair) as dicts."""
        return self._native.peers()

    def close(self):
        """BYE to the server; idempotent. Afterwards every call raises Closed."""
        self._native.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        if self.closed:
            return "<procmod.Client closed>"
        return f"<procmod.Client {self.url} session {self.session}>"


def connect(url, *, render_url=None, name="procmod-python", timeout=10.0, request_timeout=5.0,
            reconnect=False, connect_id=0, key=None, server_key=None) -> Client:
    """Connects to a server and returns once admitted. `url`: tcp://, ipc://,
    broker+tcp://HOST:PORT/SERVICE, cs://HOST[:PORT], cdsrs://DS/RS, or the path of a
    connection file. Raises Denied, Unavailable, Timeout or InvalidArgument."""
    return Client(_connect(url, render_url=render_url, name=name, timeout=timeout,
                           request_timeout=request_timeout, reconnect=reconnect,
                           connect_id=connect_id, key=key, server_key=server_key))


def reverse_connect(listen_url, *, name="procmod-python", timeout=60.0, request_timeout=5.0,
                    connect_id=0, on_listening=None) -> Client:
    """Listens on `listen_url` and returns once a server has dialed in (pvpython's
    ReverseConnect). on_listening(endpoint) is called first, with the real port."""
    return Client(_reverse_connect(listen_url, name=name, timeout=timeout,
                                   request_timeout=request_timeout, connect_id=connect_id,
                                   on_listening=on_listening))


class Server(_NativeServer):
    """A procmod server in this process, with Python handlers (see __init__.pyi)."""

    def route(self, method: str):
        def register(handler):
            self.handle(method, handler)
            return handler
        return register

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()


def serve(handlers: Mapping[str, Callable], listen: str = "tcp://127.0.0.1:0", *,
          name: str = "procmod-python", multi: bool = True,
          on_ready: Optional[Callable[[str], None]] = None,
          timeout: Optional[float] = None) -> str:
    """Serves `handlers` ({method: handler(request)}) until Ctrl-C or `timeout`;
    on_ready(endpoint) once bound. Returns why it ended."""
    with Server(listen, name=name, multi=multi) as server:
        for method, handler in handlers.items():
            server.handle(method, handler)
        if on_ready is not None:
            on_ready(server.endpoint)
        return server.run(timeout)


def monitor_list(admin_endpoint: str, timeout: float = 2.0):
    """The live connections of the process with this admin endpoint, as dicts (what
    procmod-monitor list shows)."""
    return json.loads(_monitor_list(admin_endpoint, timeout))
