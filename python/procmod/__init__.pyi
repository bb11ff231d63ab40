"""procmod for Python: clients and servers over the procmod C++ library (PMP/1 on ZeroMQ).

    import procmod
    with procmod.connect("tcp://127.0.0.1:11111") as client:
        print(client.request("ping", b"hello"))      # b"hello"

Blocking calls release the GIL and can be interrupted with Ctrl-C (KeyboardInterrupt).
Callbacks and handlers run on a thread of the module's own (not the I/O thread), one
at a time and in order, holding the GIL: they may call request() without deadlock.
One process holds one procmod module at a time: one Client or one Server.
"""

from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Sequence, Union

__version__: str
#: The PMP protocol version, "MAJOR.MINOR".
PROTOCOL_VERSION: str

Frames = List[bytes]
Payload = Union[bytes, str, Sequence[Union[bytes, str]]]

class Error(Exception):
    """Base of procmod's errors. `code` is the PMP code (403, 404, 409, ...) or 0."""
    code: int
    reason: str

class InvalidArgument(Error, ValueError): ...
class Denied(Error):
    """The peer said no: DENY (403 connect-id, 409 busy, 426 version, 503 full) or CURVE."""
class Timeout(Error, TimeoutError): ...
class Unavailable(Error, ConnectionError):
    """Nobody there (refused, unreachable), or the peer went away."""
class RemoteError(Error):
    """The peer's handler answered an error (code: its PMP code, e.g. 404 unknown method)."""
class Closed(Error):
    """The client or server was closed; no further use."""

class Reply:
    """A REPLY: its payload frames and its msgpack-encoded `result` (b"" when none)."""
    frames: Frames
    result: bytes

class Client:
    """A connection to one server (or a data server and a render server)."""
    @property
    def url(self) -> str: ...
    @property
    def session(self) -> str: ...
    def request(self, method: str, *frames: Union[bytes, str], timeout: Optional[float] = None,
                args: Optional[bytes] = None) -> Union[bytes, Frames]:
        """REQUEST `method`; the reply's payload: bytes for one frame, a list otherwise."""
    def call(self, method: str, *frames: Union[bytes, str], timeout: Optional[float] = None,
             args: Optional[bytes] = None) -> Reply:
        """As request(), the whole Reply (frames and result)."""
    def request_async(self, method: str, *frames: Union[bytes, str],
                      timeout: Optional[float] = None,
                      args: Optional[bytes] = None) -> Awaitable[Union[bytes, Frames]]:
        """request() for asyncio: awaitable in the running loop, which it does not block."""
    def send(self, payload: Payload, channel: str = "") -> None:
        """DATA to the server (one frame for bytes/str, one per item for a list)."""
    def on_data(self, callback: Optional[Callable[[str, Frames], None]]) -> None:
        """callback(channel, frames) for every DATA from the server; None removes it."""
    def on_disconnected(self, callback: Optional[Callable[[str, str], None]]) -> None:
        """callback(reason, message) when the session ends (reason: bye, expired, ...)."""
    def peers(self) -> List[Dict[str, Any]]:
        """The admitted peers (the server; with a render pair, both) as dicts."""
    def close(self) -> None:
        """BYE to the server; idempotent. Later calls raise Closed."""
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> "Client": ...
    def __exit__(self, *exc: object) -> None: ...

def connect(url: str, *, render_url: Optional[str] = None, name: str = "procmod-python",
            timeout: float = 10.0, request_timeout: float = 5.0, reconnect: bool = False,
            connect_id: int = 0, key: Optional[str] = None,
            server_key: Optional[str] = None) -> Client:
    """Connects to a server: tcp://, ipc://, broker+tcp://HOST:PORT/SERVICE, ParaView's
    cs://HOST[:PORT] and cdsrs://DS/RS, or a connection file's path (JSON written by
    procmod-server --connection-file). `key`: this side's CURVE secret key file;
    `server_key`: the server's public key or .pub file."""

def reverse_connect(listen_url: str, *, name: str = "procmod-python", timeout: float = 60.0,
                    request_timeout: float = 5.0, connect_id: int = 0,
                    on_listening: Optional[Callable[[str], None]] = None) -> Client:
    """Listens on `listen_url` (tcp://HOST:PORT, port 0 for any; csrc://; ipc://) and
    returns once a server has dialed in (pvpython's ReverseConnect)."""

class Request:
    """A REQUEST a Server handler gets."""
    method: str
    frames: Frames
    args: bytes
    session: str
    peer_name: str

HandlerResult = Union[None, bytes, str, Sequence[Union[bytes, str]], Reply]

class Server:
    """A procmod server in this process, with Python handlers."""
    def __init__(self, listen: str = "tcp://127.0.0.1:0", *, name: str = "procmod-python",
                 multi: bool = True, connect_id: int = 0, admin: str = "") -> None:
        """`admin`: an admin endpoint for procmod-monitor (ipc://PATH, tcp://127.0.0.1:PORT);
        "" for none."""
    def handle(self, method: str, handler: Callable[[Request], HandlerResult]) -> None:
        """handler(request) answers REQUEST `method`; its return value is the payload
        (None: empty); an exception is REPLY 500 with its text; raise RemoteError for
        another code."""
    def route(self, method: str) -> Callable[[Callable[[Request], HandlerResult]],
                                             Callable[[Request], HandlerResult]]:
        """Decorator form of handle()."""
    def on_data(self, callback: Optional[Callable[[str, str, Frames], None]]) -> None:
        """callback(session, channel, frames) for every DATA from a client."""
    def start(self) -> str:
        """Binds; returns the endpoint (port 0 resolved)."""
    @property
    def endpoint(self) -> str: ...
    def send(self, session: str, payload: Payload, channel: str = "") -> None: ...
    def peers(self) -> List[Dict[str, Any]]: ...
    def run(self, timeout: Optional[float] = None) -> str:
        """Serves until stop(), Ctrl-C, `timeout`, or (not multi) its one client leaves;
        returns why: "stopped", "timeout", "peer_left", "peer_lost", "accept_timeout",
        "session_timeout"."""
    def stop(self) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> "Server": ...
    def __exit__(self, *exc: object) -> None: ...

def serve(handlers: Mapping[str, Callable[[Request], HandlerResult]],
          listen: str = "tcp://127.0.0.1:0", *, name: str = "procmod-python", multi: bool = True,
          on_ready: Optional[Callable[[str], None]] = None, timeout: Optional[float] = None) -> str:
    """Serves `handlers` until Ctrl-C (or `timeout`); on_ready(endpoint) once bound."""

def monitor_list(admin_endpoint: str, timeout: float = 2.0) -> List[Dict[str, Any]]:
    """The live connections of the process whose admin endpoint this is (what
    procmod-monitor list shows)."""
