"""The other ways to reach a server: reverse connection (the server dials us), a
procmod-broker, CURVE, and a render pair (a data server and a render server)."""

import pytest

import procmod
from conftest import SERVER_BIN


def test_reverse_connect_takes_a_server_that_dials_in(spawn, track):
    started = []

    def on_listening(endpoint):
        # Runs once we listen, before the wait: the server may dial now.
        started.append(spawn([SERVER_BIN, "--reverse", "--client-url", endpoint,
                              "--admin", "none"]))
        started.append(endpoint)

    client = track(procmod.reverse_connect("tcp://127.0.0.1:0", on_listening=on_listening,
                                           timeout=15))
    server, endpoint = started
    assert endpoint.startswith("tcp://127.0.0.1:") and not endpoint.endswith(":0")
    server.wait_line(r"procmod-server: connected to ")
    assert client.request("ping", b"reverse") == b"reverse"
    assert len(client.peers()) == 1
    client.close()
    assert server.wait(timeout=5) == 0, server.describe()


def test_reverse_connect_times_out_without_a_server():
    with pytest.raises(procmod.Timeout):
        procmod.reverse_connect("tcp://127.0.0.1:0", timeout=0.5)


def test_broker_relays_to_the_service(start_broker, spawn, open_client):
    _, broker_url = start_broker()
    server = spawn([SERVER_BIN, "--broker-url", broker_url, "--service", "pytest-viz",
                    "--admin", "none"])
    server.wait_line(r"procmod-server: registered as pytest-viz with ")
    port = broker_url.rsplit(":", 1)[1]
    client = open_client(f"broker+tcp://127.0.0.1:{port}/pytest-viz")
    assert client.request("ping", b"via broker", b"2") == [b"via broker", b"2"]
    with pytest.raises(procmod.RemoteError) as info:
        client.request("no.such.method")
    assert info.value.code == 404


def curve_server(start_server, tmp_path, keys, *allowed):
    """A CURVE server admitting the .pub files `allowed`; its public key file."""
    secret, public = keys("server")
    authorized = tmp_path / "authorized"
    authorized.mkdir()
    for pub in allowed:
        (authorized / pub.name).write_bytes(pub.read_bytes())
    config = tmp_path / "server.yaml"
    config.write_text("security:\n"
                      "  curve:\n"
                      f"    secret_key_file: {secret}\n"
                      f"    authorized_keys_dir: {authorized}\n")
    proc, url = start_server("--config", str(config))
    return proc, url, public


def test_curve_admits_an_authorized_key(start_server, open_client, tmp_path, keys):
    client_key, client_pub = keys("client")
    server, url, server_pub = curve_server(start_server, tmp_path, keys, client_pub)
    client = open_client(url, key=str(client_key), server_key=str(server_pub))
    assert client.request("ping", b"secret") == b"secret"
    # The server saw our key (its log names it on admission).
    assert client_pub.read_text().strip() in server.stderr()


def test_curve_takes_the_server_key_as_text(start_server, open_client, tmp_path, keys):
    client_key, client_pub = keys("client")
    _, url, server_pub = curve_server(start_server, tmp_path, keys, client_pub)
    client = open_client(url, key=str(client_key), server_key=server_pub.read_text().strip())
    assert client.request("ping", b"z85") == b"z85"


def test_curve_denies_a_key_not_on_the_list(start_server, tmp_path, keys):
    _, client_pub = keys("client")
    stranger_key, _ = keys("stranger")
    _, url, server_pub = curve_server(start_server, tmp_path, keys, client_pub)
    with pytest.raises(procmod.Denied):
        procmod.connect(url, key=str(stranger_key), server_key=str(server_pub), timeout=5)


def test_curve_denies_a_plain_client(start_server, tmp_path, keys):
    _, client_pub = keys("client")
    _, url, _ = curve_server(start_server, tmp_path, keys, client_pub)
    with pytest.raises(procmod.Denied):
        procmod.connect(url, timeout=5)


def render_pair(start_server):
    _, data_url = start_server("--server-type", "data")
    _, render_url = start_server("--server-type", "render")
    return data_url, render_url


def test_render_pair_by_cdsrs_url(start_server, open_client):
    data_url, render_url = render_pair(start_server)
    p1, p2 = data_url.rsplit(":", 1)[1], render_url.rsplit(":", 1)[1]
    client = open_client(f"cdsrs://127.0.0.1:{p1}/127.0.0.1:{p2}")
    peers = client.peers()
    assert len(peers) == 2, peers
    assert sorted(p["role"] for p in peers) == ["data-server", "render-server"]
    assert client.request("ping", b"to the data server") == b"to the data server"


def test_render_pair_by_render_url(start_server, open_client):
    data_url, render_url = render_pair(start_server)
    client = open_client(data_url, render_url=render_url)
    assert len(client.peers()) == 2
    assert client.request("ping", b"x") == b"x"


def test_render_url_to_a_combined_server_is_refused(start_server):
    _, data_url = start_server("--server-type", "data")
    _, combined_url = start_server()
    with pytest.raises(procmod.Error):
        procmod.connect(data_url, render_url=combined_url, timeout=5)
