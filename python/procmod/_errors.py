"""procmod's exceptions. Raised by the native part (_procmod) with `code` (the PMP
code, e.g. 403, 404, 409; 0 when none) and `reason` (the message) set."""


class Error(Exception):
    """Base of every procmod error."""

    code: int = 0
    reason: str = ""


class InvalidArgument(Error, ValueError):
    """A bad URL, option or key file: fix the call."""


class Denied(Error):
    """The peer said no: DENY (403 connect-id, 409 busy, 426 version, 503 full), or a
    CURVE handshake it refused. Retrying as is will not help."""


class Timeout(Error, TimeoutError):
    """Nothing came within the timeout."""


class Unavailable(Error, ConnectionError):
    """Nobody there (refused, unreachable), or the peer went away."""


class RemoteError(Error):
    """The peer answered a request with an error; `code` is its PMP code (404: no
    such method, 500: its handler failed). A Server handler may raise it to answer
    with another code: `raise procmod.RemoteError("no such image")` then set `.code`,
    or `RemoteError.with_code(404, "no such image")`."""

    @classmethod
    def with_code(cls, code: int, reason: str) -> "RemoteError":
        error = cls(reason)
        error.code = code
        error.reason = reason
        return error


class Closed(Error):
    """The client or server was closed."""
