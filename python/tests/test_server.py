"""procmod.Server and procmod.serve: Python handlers answering the C++ CLI (in this
process), and a Python server (peers.py, in a child process) answering this process's
Python client."""

import time

import pytest

import procmod
from conftest import CLI_BIN, wait_until


def echo(req):
    return req.frames


def test_cpp_cli_pings_a_python_server(spawn, track):
    server = track(procmod.Server("tcp://127.0.0.1:0", name="pytest-server", multi=False))
    seen = []

    @server.route("ping")
    def ping(req):
        seen.append((req.method, req.session, req.peer_name, req.frames))
        return req.frames

    endpoint = server.start()
    assert endpoint.startswith("tcp://127.0.0.1:") and not endpoint.endswith(":0")
    assert server.endpoint == endpoint
    cli = spawn([CLI_BIN, "ping", endpoint, "-c", "3", "-i", "50ms"])
    # One client, not multi: run() returns when it leaves.
    assert server.run(timeout=20) == "peer_left"
    assert cli.wait(timeout=5) == 0, cli.describe()
    assert "3 sent, 3 received" in cli.stdout()
    assert len(seen) == 3
    assert {s[0] for s in seen} == {"ping"}
    assert len({s[1] for s in seen}) == 1  # one session
    assert {s[2] for s in seen} == {"procmod-cli"}
    assert all(len(s[3]) == 1 and len(s[3][0]) == 56 for s in seen)  # CLI's 56 bytes


def test_serve_answers_until_its_client_leaves(spawn):
    clis = []
    why = procmod.serve({"ping": echo}, multi=False, timeout=20,
                        on_ready=lambda ep: clis.append(spawn([CLI_BIN, "ping", ep, "-c", "2",
                                                               "-i", "50ms"])))
    assert why == "peer_left"
    assert len(clis) == 1
    assert clis[0].wait(timeout=5) == 0, clis[0].describe()
    assert "2 sent, 2 received" in clis[0].stdout()


def test_unknown_method_on_a_python_server_is_404(spawn, track):
    server = track(procmod.Server(multi=False))  # no handlers: not even ping
    endpoint = server.start()
    cli = spawn([CLI_BIN, "ping", endpoint, "-c", "1"])
    assert server.run(timeout=20) == "peer_left"
    assert cli.wait(timeout=5) != 0, cli.describe()
    assert "404: unknown method" in cli.stdout() + cli.stderr(), cli.describe()


def test_server_on_data_gets_the_cli_send(spawn, track):
    server = track(procmod.Server(multi=False))
    got = []
    server.on_data(lambda session, channel, frames: got.append((session, channel, frames)))
    endpoint = server.start()
    cli = spawn([CLI_BIN, "send", endpoint, "--channel", "pytest", "hello there"])
    assert server.run(timeout=20) == "peer_left"
    assert cli.wait(timeout=5) == 0, cli.describe()
    assert wait_until(lambda: got, 2)
    session, channel, frames = got[0]
    assert channel == "pytest" and frames == [b"hello there"]
    assert isinstance(session, str) and session


def test_stop_from_a_callback_ends_run(spawn, track):
    server = track(procmod.Server(multi=True))
    server.on_data(lambda session, channel, frames: server.stop())
    endpoint = server.start()
    spawn([CLI_BIN, "send", endpoint, "stop please"])
    start = time.monotonic()
    assert server.run(timeout=20) == "stopped"
    assert time.monotonic() - start < 10


def test_run_with_timeout_and_no_client_returns(track):
    server = track(procmod.Server())
    server.start()
    start = time.monotonic()
    why = server.run(timeout=0.3)
    elapsed = time.monotonic() - start
    assert why == "timeout"
    assert 0.25 <= elapsed < 2.0, elapsed


def test_server_context_manager_releases_the_module():
    with procmod.Server() as server:
        first = server.endpoint
        assert first.startswith("tcp://127.0.0.1:")
    with procmod.Server() as server:  # one module per process: the first is gone
        assert server.endpoint.startswith("tcp://127.0.0.1:")


@pytest.mark.parametrize(
    "method, code, words",
    [
        ("fail", 500, "handler failed on purpose"),  # any exception: 500
        ("teapot", 418, "short and stout"),  # a RemoteError raised: its code
    ],
)
def test_a_failing_handler_answers_remote_error(start_py_server, open_client, method, code,
                                                words):
    _, url = start_py_server()
    client = open_client(url)
    with pytest.raises(procmod.RemoteError) as info:
        client.request(method)
    assert info.value.code == code
    assert words in str(info.value)
    assert client.request("ping", b"alive") == b"alive"  # the server goes on


def test_python_server_answers_a_python_client(start_py_server, open_client):
    _, url = start_py_server()
    client = open_client(url, name="pytest-client")
    assert client.request("ping", b"a", b"b") == [b"a", b"b"]
    assert client.request("none") == []
    assert client.request("text") == "h\u00e9llo".encode()
    assert client.request("list") == [b"a", b"b"]
    assert client.request("args", args=b"\x81\xa1k\x01") == b"\x81\xa1k\x01"  # {k: 1}
    method, session, peer_name = client.request("whoami")
    assert (method, session, peer_name) == (b"whoami", client.session.encode(),
                                             b"pytest-client")
    assert client.request("peers") == b"1"
    peers = client.peers()
    assert len(peers) == 1 and peers[0]["name"] == "pytest-pyserver"


def test_python_server_send_reaches_client_on_data(start_py_server, open_client):
    _, url = start_py_server()
    client = open_client(url)
    got = []
    client.on_data(lambda channel, frames: got.append((channel, frames)))
    assert client.request("push") == b"pushed"
    assert wait_until(lambda: got, 5), "no DATA"
    assert got == [("news", [b"pushed", b"2"])]


def test_single_client_python_server_denies_a_second_client(start_py_server, open_client,
                                                           spawn):
    _, url = start_py_server(multi=False)
    first = spawn([CLI_BIN, "ping", url, "-c", "1000", "-i", "1s"])
    first.wait_line(r"^reply from ")
    with pytest.raises(procmod.Denied) as info:
        procmod.connect(url, timeout=5)
    assert info.value.code == 409
