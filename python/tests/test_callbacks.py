"""Callbacks under load: 10,000 DATA arrive, all of them, in order, on one thread of
the module's own; and a callback may call request() without deadlock."""

import threading
import time

import procmod
from conftest import CLI_BIN, wait_until

N = 10_000


def test_client_on_data_gets_10000_relayed_data_in_order(start_server, open_client,
                                                         start_py_peer):
    _, url = start_server(multi=True)  # relays DATA on "broadcast" to every other client
    client = open_client(url)
    got = []
    threads = set()

    def on_data(channel, frames):
        threads.add(threading.get_ident())
        got.append((channel, frames))

    client.on_data(on_data)
    start = time.monotonic()
    sender = start_py_peer("sender", url, str(N), "broadcast")
    assert wait_until(lambda: len(got) >= N, 60), f"{len(got)} of {N} arrived"
    elapsed = time.monotonic() - start
    assert sender.wait(timeout=10) == 0, sender.describe()
    assert len(got) == N
    assert all(channel == "broadcast" for channel, _ in got)
    payloads = [int(frames[0]) for _, frames in got]
    assert payloads == list(range(N)), "lost, duplicated or out of order"
    assert len(threads) == 1 and threading.main_thread().ident not in threads
    print(f"\n{N} relayed DATA to Client.on_data in {elapsed:.2f} s")


def test_server_on_data_gets_10000_data_in_order(track, start_py_peer):
    server = track(procmod.Server(multi=False))
    got = []
    sessions = set()

    def on_data(session, channel, frames):
        sessions.add(session)
        got.append((channel, int(frames[0])))

    server.on_data(on_data)
    server.handle("ping", lambda req: req.frames)  # the sender's last request
    endpoint = server.start()
    start = time.monotonic()
    sender = start_py_peer("sender", endpoint, str(N), "load")
    server.run(timeout=60)  # not multi: returns when the sender leaves
    assert wait_until(lambda: len(got) >= N, 5), f"{len(got)} of {N} arrived"
    elapsed = time.monotonic() - start
    assert sender.wait(timeout=10) == 0, sender.describe()
    assert got == [("load", i) for i in range(N)], "lost, duplicated or out of order"
    assert len(sessions) == 1
    print(f"\n{N} DATA to Server.on_data in {elapsed:.2f} s")


def test_python_server_counts_10000_data_from_this_client(start_py_server, open_client):
    _, url = start_py_server()
    client = open_client(url)
    for i in range(N):
        client.send(str(i), channel="load")
    # The count handler runs after every DATA before it: handlers and callbacks run
    # one at a time, in order.
    assert client.request("count", timeout=30) == f"{N} ordered".encode()


def test_callback_may_call_request(start_server, open_client, spawn):
    _, url = start_server(multi=True)
    client = open_client(url)
    results = []
    errors = []

    def on_data(channel, frames):
        try:
            results.append(client.request("ping", b"in-callback", timeout=5))
        except Exception as e:  # shown by the assertion below
            errors.append(e)

    client.on_data(on_data)
    cli = spawn([CLI_BIN, "send", url, "--channel", "broadcast", "trigger"])
    assert cli.wait(timeout=10) == 0, cli.describe()
    assert wait_until(lambda: results or errors, 10), "the callback did not run or hung"
    assert not errors, errors
    assert results == [b"in-callback"]
    assert client.request("ping", b"after") == b"after"


def test_send_one_frame_or_several(start_py_server, open_client):
    _, url = start_py_server()
    client = open_client(url)
    client.send([b"a", "b", b""], channel="multi")
    assert client.request("last") == [b"multi", b"a", b"b", b""]
    client.send("text")
    assert client.request("last") == [b"", b"text"]
