"""A TCP proxy in front of a test server that holds every connection until released.

It catches a client mid-way on purpose: a ``modelreg register`` whose upload to S3 has begun (its
first connection ``arrived``) and cannot finish until the test calls ``release()``. Then it forwards
bytes both ways unchanged. Threads only; closed at the end of the test.
"""

from __future__ import annotations

import socket
import threading


class HeldProxy:
    """``127.0.0.1:port`` -> ``127.0.0.1:target``, each connection waiting for ``release()`` first."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.arrived = threading.Event()  # a client connected (and is being held)
        self._open = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def release(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._open.set()
        for sock in [self._listener, *self._sockets]:
            try:
                sock.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            self._sockets.append(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        self.arrived.set()
        self._open.wait()
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target))
        except OSError:
            client.close()
            return
        self._sockets.append(upstream)
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
        _pump(client, upstream)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
