"""Second-process peers for the tests (a process holds one procmod module: a Client or
a Server), run by conftest's start_py_peer as `python peers.py ROLE ...`:

  server [--multi|--single]   a procmod.Server on tcp://127.0.0.1:0; prints "ready EP".
                              ping: echoes; sleep SECONDS: prints "sleeping", sleeps;
                              fail: raises ValueError; teapot: RemoteError 418;
                              none, text, list: those results; args: the args;
                              whoami: [method, session, peer_name]; push: DATA
                              ["pushed", "2"] on "news" to the caller, then REPLY;
                              peers: how many peers;
                              last: [channel, *frames] of the last DATA;
                              count: "N ordered|disordered" for the DATA received
                              on channel "load" (each payload an integer, in order)
  sender URL N CHANNEL        connects, sends N DATA on CHANNEL (payloads "0".."N-1"),
                              pings (everything before it has arrived), closes
  waiter URL                  connects, prints "waiting", REQUEST sleep 30 (timeout 60);
                              on KeyboardInterrupt prints "KeyboardInterrupt SECONDS"
                              (since the wait began) and exits 130
  reverse-waiter              reverse_connect on tcp://127.0.0.1:0 (timeout 60), printing
                              "listening EP"; on KeyboardInterrupt exits 130
"""

import sys
import time

import procmod


def server(multi):
    srv = procmod.Server("tcp://127.0.0.1:0", name="pytest-pyserver", multi=multi)
    received = []

    @srv.route("ping")
    def ping(req):
        return req.frames

    @srv.route("sleep")
    def sleep(req):
        print("sleeping", flush=True)
        time.sleep(float(req.frames[0]))
        return b"slept"

    @srv.route("fail")
    def fail(req):
        raise ValueError("handler failed on purpose")

    @srv.route("teapot")
    def teapot(req):
        error = procmod.RemoteError("short and stout")
        error.code = 418
        raise error

    srv.handle("none", lambda req: None)
    srv.handle("text", lambda req: "h\u00e9llo")
    srv.handle("list", lambda req: ["a", b"b"])
    srv.handle("args", lambda req: req.args)
    srv.handle("whoami", lambda req: [req.method, req.session, req.peer_name])

    @srv.route("push")
    def push(req):
        srv.send(req.session, ["pushed", b"2"], channel="news")
        return b"pushed"

    srv.handle("peers", lambda req: str(len(srv.peers())))

    @srv.route("count")
    def count(req):
        ordered = received == list(range(len(received)))
        return f"{len(received)} {'ordered' if ordered else 'disordered'}"

    last = []

    def on_data(session, channel, frames):
        last[:] = [channel, *frames]
        if channel == "load":
            received.append(int(frames[0]))

    srv.on_data(on_data)
    srv.handle("last", lambda req: last)
    print("ready", srv.start(), flush=True)
    try:
        why = srv.run()
    except KeyboardInterrupt:
        why = "KeyboardInterrupt"
    print("done", why, flush=True)
    srv.close()


def sender(url, n, channel):
    with procmod.connect(url, name="pytest-sender") as client:
        for i in range(n):
            client.send(str(i), channel=channel)
        client.request("ping", b"sync", timeout=30)
    print("sent", n, flush=True)


def waiter(url):
    client = procmod.connect(url, name="pytest-waiter")
    print("waiting", flush=True)
    start = time.monotonic()
    try:
        client.request("sleep", b"30", timeout=60)
    except KeyboardInterrupt:
        print(f"KeyboardInterrupt {time.monotonic() - start:.3f}", flush=True)
        client.close()
        sys.exit(130)
    except BaseException as e:  # anything else is a failure the test shows
        print(f"unexpected {type(e).__name__}: {e}", flush=True)
        sys.exit(1)
    print("unexpected: the request returned", flush=True)
    sys.exit(1)


def reverse_waiter():
    try:
        procmod.reverse_connect("tcp://127.0.0.1:0", timeout=60,
                                on_listening=lambda ep: print("listening", ep, flush=True))
    except KeyboardInterrupt:
        print("KeyboardInterrupt", flush=True)
        sys.exit(130)
    print("unexpected: a server dialed in", flush=True)
    sys.exit(1)


if __name__ == "__main__":
    role, args = sys.argv[1], sys.argv[2:]
    if role == "server":
        server(multi=args != ["--single"])
    elif role == "sender":
        sender(args[0], int(args[1]), args[2])
    elif role == "waiter":
        waiter(args[0])
    elif role == "reverse-waiter":
        reverse_waiter()
    else:
        sys.exit(f"peers.py: unknown role {role}")
