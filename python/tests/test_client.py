"""procmod.connect against real procmod-server processes (forward mode), and the
errors a user gets."""

import asyncio
import re
import socket
import time

import pytest

import procmod
from conftest import CLI_BIN, unique_admin, wait_until


def test_ping_echoes_one_frame_as_bytes(start_server, open_client):
    _, url = start_server()
    client = open_client(url)
    assert client.request("ping", b"x") == b"x"
    assert client.url == url
    assert re.fullmatch(r"[0-9a-f]{16}", client.session)
    assert not client.closed


def test_ping_echoes_several_frames_as_a_list(start_server, open_client):
    _, url = start_server()
    client = open_client(url)
    assert client.request("ping", b"a", "b", b"") == [b"a", b"b", b""]
    assert client.request("ping") == []  # no frames in, none out: a list of none


def test_call_returns_the_whole_reply(start_server, open_client):
    _, url = start_server()
    client = open_client(url)
    reply = client.call("ping", b"x", b"y")
    assert isinstance(reply, procmod.Reply)
    assert reply.frames == [b"x", b"y"]
    assert reply.result == b""
    info = client.call("info")
    # A msgpack map (fixmap 0x80-0x8f, map16 0xde, map32 0xdf) naming its keys.
    assert info.result[0] in range(0x80, 0x90) or info.result[0] in (0xDE, 0xDF)
    assert b"uptime_ms" in info.result and b"protocol" in info.result


def test_large_payload_round_trips(start_server, open_client):
    _, url = start_server()
    client = open_client(url)
    blob = bytes(range(256)) * 4096  # 1 MiB
    assert client.request("ping", blob) == blob


def test_unknown_method_raises_remote_error_404(start_server, open_client):
    _, url = start_server()
    client = open_client(url)
    with pytest.raises(procmod.RemoteError) as info:
        client.request("no.such.method", b"x")
    assert info.value.code == 404
    assert "unknown method" in str(info.value)
    assert isinstance(info.value, procmod.Error)
    assert client.request("ping", b"still") == b"still"  # the session lives on


def test_slow_handler_raises_timeout_and_the_client_goes_on(start_py_server, open_client):
    _, url = start_py_server()
    client = open_client(url)
    start = time.monotonic()
    with pytest.raises(procmod.Timeout) as info:
        client.request("sleep", b"1.5", timeout=0.3)
    elapsed = time.monotonic() - start
    assert isinstance(info.value, TimeoutError)
    assert 0.25 <= elapsed < 1.3, elapsed
    # The handler finishes later; the late REPLY must not be taken for the next one.
    assert client.request("ping", b"after", timeout=5) == b"after"


def test_request_timeout_option_applies_by_default(start_py_server, open_client):
    _, url = start_py_server()
    client = open_client(url, request_timeout=0.3)
    with pytest.raises(procmod.Timeout):
        client.request("sleep", b"1")


def test_nobody_listening_raises_unavailable():
    # A bound socket that does not listen holds the port and refuses connections.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(procmod.Unavailable) as info:
            procmod.connect(f"tcp://127.0.0.1:{port}", timeout=1.0)
        assert time.monotonic() - start < 4.0
        assert isinstance(info.value, ConnectionError)


def test_bad_url_raises_invalid_argument():
    with pytest.raises(procmod.InvalidArgument) as info:
        procmod.connect("foo://127.0.0.1:1", timeout=1.0)
    assert isinstance(info.value, ValueError)


def test_second_client_of_a_single_client_server_is_denied_409(start_server, spawn,
                                                               open_client):
    _, url = start_server()
    # The first client: the C++ CLI, pinging once a second (it holds the session).
    first = spawn([CLI_BIN, "ping", url, "-c", "1000", "-i", "1s"])
    first.wait_line(r"^reply from ")
    with pytest.raises(procmod.Denied) as info:
        procmod.connect(url, timeout=5.0)
    assert info.value.code == 409
    assert first.popen.poll() is None  # the first client stays


def test_wrong_connect_id_is_denied_403(start_server):
    _, url = start_server("--connect-id", "42")
    with pytest.raises(procmod.Denied) as info:
        procmod.connect(url, connect_id=7, timeout=5.0)
    assert info.value.code == 403


def test_right_connect_id_is_admitted(start_server, open_client):
    _, url = start_server("--connect-id", "42")
    assert open_client(url, connect_id=42).request("ping", b"ok") == b"ok"


def test_context_manager_says_bye_and_the_server_exits_0(start_server):
    server, url = start_server()  # single client: it ends when its client leaves
    with procmod.connect(url) as client:
        assert client.request("ping", b"x") == b"x"
    assert client.closed
    assert server.wait(timeout=5) == 0, server.describe()
    assert "bye" in server.stderr()


def test_use_after_close_raises_closed(start_server):
    _, url = start_server(multi=True)
    client = procmod.connect(url)
    client.close()
    client.close()  # idempotent
    assert client.closed
    with pytest.raises(procmod.Closed):
        client.request("ping", b"x")
    with pytest.raises(procmod.Closed):
        client.call("ping")
    with pytest.raises(procmod.Closed):
        client.send(b"x")
    with pytest.raises(procmod.Closed):
        client.peers()


def test_a_new_client_after_close(start_server, open_client):
    _, url = start_server(multi=True)
    with procmod.connect(url) as first:
        first_session = first.session
    second = open_client(url)
    assert second.request("ping", b"again") == b"again"
    assert second.session != first_session


def test_connect_by_connection_file(start_server, open_client, tmp_path):
    path = tmp_path / "viz.json"
    _, url = start_server("--connection-file", str(path))
    assert path.exists()  # written before the ready line
    client = open_client(str(path))
    assert client.request("ping", b"via file") == b"via file"


def test_server_going_away_is_reported(start_server, open_client):
    server, url = start_server(multi=True)
    client = open_client(url)
    events = []
    client.on_disconnected(lambda reason, message: events.append((reason, message)))
    server.stop()  # SIGTERM: the server says BYE to every client
    assert wait_until(lambda: events, 5), "on_disconnected was not called"
    assert events[0][0] == "bye"
    with pytest.raises((procmod.Unavailable, procmod.Closed)):
        client.request("ping", b"x", timeout=2)


def test_peers_lists_the_server(start_server, open_client):
    _, url = start_server("--name", "pytest-viz")
    peers = open_client(url).peers()
    assert len(peers) == 1
    assert peers[0]["name"] == "pytest-viz"
    assert peers[0]["role"] == "server"


def test_monitor_list_shows_our_connection(start_server, open_client):
    admin = unique_admin()
    _, url = start_server(admin=admin, multi=True)
    client = open_client(url, name="pytest-monitored")
    rows = procmod.monitor_list(admin)
    mine = [r for r in rows if r["session"] == client.session]
    assert len(mine) == 1, rows
    assert mine[0]["name"] == "pytest-monitored"
    assert mine[0]["role"] == "client"


def test_monitor_list_of_nobody_raises():
    with pytest.raises(procmod.Error):
        procmod.monitor_list(unique_admin(), timeout=0.5)


def test_request_async_in_asyncio_run(start_server, open_client):
    _, url = start_server()
    client = open_client(url)
    assert asyncio.run(client.request_async("ping", b"a")) == b"a"


def test_two_concurrent_request_async_do_not_block_the_loop(start_py_server, open_client):
    _, url = start_py_server()
    client = open_client(url)

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        tick_task = asyncio.create_task(ticker())
        results = await asyncio.gather(client.request_async("sleep", b"0.3", timeout=5),
                                       client.request_async("ping", b"b", timeout=5))
        tick_task.cancel()
        return results, ticks

    (slept, pong), ticks = asyncio.run(main())
    assert slept == b"slept" and pong == b"b"
    assert ticks >= 10, f"the loop ran only {ticks} ticks during a 0.3 s request"


def test_request_async_error_raises_in_the_coroutine(start_server, open_client):
    _, url = start_server()
    client = open_client(url)

    async def main():
        with pytest.raises(procmod.RemoteError) as info:
            await client.request_async("no.such.method")
        return info.value.code

    assert asyncio.run(main()) == 404
