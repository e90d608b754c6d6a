"""A loopback HTTP server on raw sockets, for tests that need a server to send what http.server would not (a
byte at a time, a Content-Length it does not keep): one thread per connection, the request read up to its blank
line, the answer left to a subclass."""
from __future__ import annotations

import socket
import threading


class RawSocketServer:
    """Serves on 127.0.0.1 (an ephemeral port) until `serving()` is false; `answer(conn, path)` answers one
    request, on a socket with `conn_timeout` seconds per read."""

    conn_timeout = 10.0

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serving(self) -> bool:
        return True

    def answer(self, conn: socket.socket, path: str) -> None:
        raise NotImplementedError

    def _serve(self):
        with self.sock:
            while self.serving():
                try:
                    conn, _ = self.sock.accept()
                except socket.timeout:
                    continue
                threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket):
        with conn:
            conn.settimeout(self.conn_timeout)
            request = b""
            while b"\r\n\r\n" not in request:
                data = conn.recv(4096)
                if not data:
                    return
                request += data
            try:
                self.answer(conn, request.split(b" ", 2)[1].decode("latin-1"))
            except OSError:  # the client hung up
                return
