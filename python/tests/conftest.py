"""Fixtures for the procmod binding's tests: real procmod processes, started with port 0,
waited for by their ready line (with a deadline), and killed and reaped at teardown.

Binaries come from PROCMOD_SERVER, PROCMOD_BROKER and PROCMOD_CLI, by default the
build tree next to this repository. One process holds one procmod module at a time, so
every Client or Server a test opens in this process goes through `open_client` /
`open_server`, which close it at teardown even when the test fails half-way.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

import procmod

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
SERVER_BIN = os.environ.get("PROCMOD_SERVER", str(BUILD / "server" / "procmod-server"))
BROKER_BIN = os.environ.get("PROCMOD_BROKER", str(BUILD / "broker" / "procmod-broker"))
CLI_BIN = os.environ.get("PROCMOD_CLI", str(BUILD / "client" / "cli" / "procmod"))
PEERS_SCRIPT = str(Path(__file__).resolve().parent / "peers.py")

READY_TIMEOUT = 10.0


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes longer than 20 s")


def wait_until(pred, timeout, interval=0.005):
    """Polls pred() until it is true (returns its value) or `timeout` seconds pass
    (returns the last, false value)."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def free_port():
    """A port nothing listens on: bound to port 0 and released (for reverse mode, where
    the other side binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique_admin():
    return f"ipc:///tmp/procmod-pytest-{os.getpid()}-{uuid.uuid4().hex[:10]}.admin"


def binding_env():
    """The environment for a child Python that imports this same procmod module."""
    env = dict(os.environ)
    here = str(Path(procmod.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = here + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Proc:
    """A child process whose stdout lines are collected by a thread (so a ready line can
    be waited for with a deadline) and whose stderr goes to a file (shown on failure)."""

    def __init__(self, argv, log_dir, env=None):
        self.argv = [str(a) for a in argv]
        self.stderr_path = Path(log_dir) / f"{Path(self.argv[0]).name}-{uuid.uuid4().hex[:6]}.err"
        self._stderr = open(self.stderr_path, "wb")
        self.lines = []
        self._lock = threading.Lock()
        self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=self._stderr, env=env)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for raw in self.popen.stdout:
            with self._lock:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    @property
    def pid(self):
        return self.popen.pid

    def stdout(self):
        with self._lock:
            return "\n".join(self.lines)

    def stderr(self):
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def describe(self):
        return (f"{' '.join(self.argv)} (exit {self.popen.poll()})\n"
                f"--- stdout:\n{self.stdout()}\n--- stderr:\n{self.stderr()[-3000:]}")

    def wait_line(self, pattern, timeout=READY_TIMEOUT):
        """The first match of regex `pattern` on a stdout line; fails the test when none
        comes within `timeout` or the process exits first."""
        rx = re.compile(pattern)

        def find():
            with self._lock:
                for line in self.lines:
                    m = rx.search(line)
                    if m:
                        return m
            return None

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = find()
            if m:
                return m
            if self.popen.poll() is not None:
                self._reader.join(1)  # the last lines, then one more look
                m = find()
                if m:
                    return m
                break
            time.sleep(0.005)
        pytest.fail(f"no line matching {pattern!r} within {timeout} s from {self.describe()}")

    def wait(self, timeout):
        """The exit code; fails the test when the process is still running after `timeout`."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running after {timeout} s: {self.describe()}")

    def signal(self, sig):
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def stop(self):
        """SIGTERM, then SIGKILL after 5 s; always reaps."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._reader.join(5)
        self.popen.stdout.close()
        self._stderr.close()


@pytest.fixture
def spawn(tmp_path):
    """spawn(argv, env=None) -> Proc; every process is stopped and reaped at teardown."""
    procs = []

    def start(argv, env=None):
        p = Proc(argv, tmp_path, env=env)
        procs.append(p)
        return p

    yield start
    for p in reversed(procs):
        p.stop()


@pytest.fixture
def start_server(spawn):
    """start_server(*flags, admin=None, multi=False) -> (Proc, url): a forward
    procmod-server on a free port of 127.0.0.1, once its ready line is out."""

    def start(*flags, admin=None, multi=False):
        argv = [SERVER_BIN, "--port", "0", "--admin", admin or "none", *flags]
        if multi:
            argv.append("--multi-clients")
        proc = spawn(argv)
        m = proc.wait_line(r"procmod-server: ready on (tcp://127\.0\.0\.1:\d+)")
        return proc, m.group(1)

    return start


@pytest.fixture
def start_broker(spawn):
    """start_broker() -> (Proc, tcp://127.0.0.1:PORT)."""

    def start(*flags):
        proc = spawn([BROKER_BIN, "--port", "0", "--admin", "none", *flags])
        m = proc.wait_line(r"procmod-broker: ready on (tcp://127\.0\.0\.1:\d+)")
        return proc, m.group(1)

    return start


@pytest.fixture
def start_py_peer(spawn):
    """start_py_peer(*args) -> Proc: python/tests/peers.py in a child Python that
    imports this procmod module (a second process, since a process holds one module)."""

    def start(*args):
        return spawn([sys.executable, PEERS_SCRIPT, *args], env=binding_env())

    return start


@pytest.fixture
def start_py_server(start_py_peer):
    """start_py_server(multi=True) -> (Proc, endpoint): peers.py's procmod.Server
    (ping, sleep, fail, count) in a child Python."""

    def start(multi=True):
        proc = start_py_peer("server", "--multi" if multi else "--single")
        m = proc.wait_line(r"^ready (tcp://127\.0\.0\.1:\d+)$")
        return proc, m.group(1)

    return start


@pytest.fixture
def open_client():
    """open_client(url, **connect_kwargs) -> procmod.Client, closed at teardown."""
    clients = []

    def connect(url, **kwargs):
        c = procmod.connect(url, **kwargs)
        clients.append(c)
        return c

    yield connect
    for c in clients:
        c.close()


@pytest.fixture
def track():
    """track(obj) -> obj: a Client or Server made otherwise (reverse_connect, Server())
    that is closed at teardown."""
    objs = []

    def add(obj):
        objs.append(obj)
        return obj

    yield add
    for o in reversed(objs):
        o.close()


@pytest.fixture
def keys(tmp_path):
    """CURVE key pairs made by `procmod keygen`: keys(name) -> (secret .key, public .pub)."""
    out = tmp_path / "keys"

    def make(name):
        subprocess.run([CLI_BIN, "keygen", "--out", str(out), name], check=True,
                       stdout=subprocess.DEVNULL, timeout=10)
        return out / f"{name}.key", out / f"{name}.pub"

    return make
