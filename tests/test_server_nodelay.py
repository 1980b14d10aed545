#!/usr/bin/python3
"""The test server answers without Nagle's delay, as the real Glare does.

A response written as headers then body, with Nagle's algorithm on, waits for the
client's delayed ACK of the headers (about 40 ms on Linux) before the body leaves: every
request on a kept-alive connection would cost 40 ms, and benchmarks against the test
server would measure that wait. Run: /usr/bin/python3 tests/test_server_nodelay.py
"""

import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_glare_server import ALICE, Server  # noqa: E402

REQUESTS = 20
# A stalled server needs REQUESTS * 40 ms = 800 ms; an unstalled one a few ms per
# request even on a loaded machine.
BOUND_S = REQUESTS * 0.015


def read_response(sock, buf):
    """Reads one response with a Content-Length body; returns (status, rest of buf)."""
    while b'\r\n\r\n' not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError('connection closed mid-response')
        buf += chunk
    head, buf = buf.split(b'\r\n\r\n', 1)
    lines = head.decode('latin-1').split('\r\n')
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(':')
        if name.strip().lower() == 'content-length':
            length = int(value.strip())
    while len(buf) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError('connection closed mid-body')
        buf += chunk
    return int(lines[0].split()[1]), buf[length:]


class NoDelayTest(unittest.TestCase):
    def setUp(self):
        self.server = Server().start()

    def tearDown(self):
        self.server.cleanup()

    def test_keepalive_requests_do_not_wait_for_delayed_acks(self):
        sock = socket.create_connection(('127.0.0.1', self.server.port), timeout=10)
        try:
            # the client sends each request in one segment: only the server can stall
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            request = ('GET /artifacts/workflows HTTP/1.1\r\nHost: 127.0.0.1\r\n'
                       'X-Auth-Token: %s\r\n\r\n' % ALICE).encode()
            buf = b''
            sock.sendall(request)
            status, buf = read_response(sock, buf)  # warm: connection and server
            self.assertEqual(status, 200)
            t0 = time.monotonic()
            for _ in range(REQUESTS):
                sock.sendall(request)
                status, buf = read_response(sock, buf)
                self.assertEqual(status, 200)
            elapsed = time.monotonic() - t0
        finally:
            sock.close()
        self.assertLess(elapsed, BOUND_S,
                        '%d kept-alive requests took %.0f ms: the server waits for '
                        'delayed ACKs (Nagle) between headers and body'
                        % (REQUESTS, elapsed * 1000))


if __name__ == '__main__':
    unittest.main()
