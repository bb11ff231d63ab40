"""Ctrl-C during a blocking wait, and 1,000 connect/close cycles that leak no thread and
no file descriptor."""

import os
import signal
import threading
import time

import pytest

import procmod
from conftest import wait_until

CYCLES = 1000


def test_ctrl_c_interrupts_a_waiting_request(start_py_server, start_py_peer):
    server, url = start_py_server()
    waiter = start_py_peer("waiter", url)
    waiter.wait_line(r"^waiting$")
    server.wait_line(r"^sleeping$")  # the REQUEST is in; the waiter is blocked on it
    sent = time.monotonic()
    waiter.signal(signal.SIGINT)
    code = waiter.wait(timeout=2)
    took = time.monotonic() - sent
    assert code == 130, waiter.describe()
    assert "KeyboardInterrupt" in waiter.stdout()
    print(f"\nrequest() ended by SIGINT after {took * 1000:.0f} ms")


def test_ctrl_c_interrupts_reverse_connect(start_py_peer):
    waiter = start_py_peer("reverse-waiter")
    waiter.wait_line(r"^listening tcp://127\.0\.0\.1:\d+$")
    waiter.signal(signal.SIGINT)
    assert waiter.wait(timeout=2) == 130, waiter.describe()
    assert "KeyboardInterrupt" in waiter.stdout()


def test_ctrl_c_ends_a_python_server_run(start_py_server):
    server, _ = start_py_server()
    server.signal(signal.SIGINT)
    server.wait(timeout=2)
    # run() returned (or raised KeyboardInterrupt), and the script went on to close.
    assert server.wait_line(r"^done ", timeout=0.1)


def threads_now():
    return len(os.listdir("/proc/self/task"))


def fds_now():
    return len(os.listdir("/proc/self/fd"))


def test_1000_connect_close_cycles_leak_nothing(start_server):
    _, url = start_server(multi=True)
    with procmod.connect(url) as client:  # warm-up: whatever is made once
        client.request("ping", b"warm")
    py_threads, threads, fds = threading.active_count(), threads_now(), fds_now()

    start = time.monotonic()
    for i in range(CYCLES):
        with procmod.connect(url) as client:
            if i % 100 == 0:
                assert client.request("ping", b"%d" % i) == b"%d" % i
    elapsed = time.monotonic() - start
    print(f"\n{CYCLES} connect/close cycles in {elapsed:.1f} s "
          f"({elapsed / CYCLES * 1000:.1f} ms each)")

    # Threads and descriptors may take a moment to go after close(): poll.
    settled = wait_until(lambda: threads_now() <= threads + 1 and fds_now() <= fds + 2, 5)
    assert settled, (f"threads {threads} -> {threads_now()}, "
                     f"descriptors {fds} -> {fds_now()} after {CYCLES} cycles")
    assert threading.active_count() <= py_threads + 1
    assert client.closed
    with pytest.raises(procmod.Closed):
        client.request("ping")
