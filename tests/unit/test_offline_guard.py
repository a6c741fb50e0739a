"""The offline guard of tests/unit/conftest.py: loopback works, everything else is refused."""

from __future__ import annotations

import socket
import threading

import pytest
import requests


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "localhost"])
def test_loopback_names_resolve(host: str, _block_network: list[str]) -> None:
    assert socket.getaddrinfo(host, 80)
    assert _block_network == []


@pytest.mark.parametrize(
    "host", ["10.0.0.1", "192.168.1.1", "8.8.8.8", "example.com", "localhost.example.com"]
)
def test_other_names_are_blocked(host: str, _block_network: list[str]) -> None:
    with pytest.raises(RuntimeError, match="unit tests are offline"):
        socket.getaddrinfo(host, 443)
    assert len(_block_network) == 1
    _block_network.clear()  # the attempt was the point of this test


def test_outbound_connect_is_blocked(_block_network: list[str]) -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(RuntimeError, match=r"192\.0\.2\.1"),
    ):
        sock.connect(("192.0.2.1", 443))
    with pytest.raises(RuntimeError, match="offline"):
        requests.get("https://example.com/", timeout=1)
    assert len(_block_network) == 2
    _block_network.clear()


def test_loopback_server_is_reachable(_block_network: list[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def answer() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        response = requests.get(f"http://127.0.0.1:{port}/", timeout=5)
        thread.join(timeout=5)
    assert response.status_code == 204
    assert _block_network == []
