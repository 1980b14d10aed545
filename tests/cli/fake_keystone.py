"""A tiny fake Keystone v3 for the glarex CLI's authentication tests.

Only ``POST /v3/auth/tokens`` with the password method is served.  The
server checks the request shape that Keystone requires, records every
request body, and hands out the next token of a list it was given (the last
one repeats), in the ``X-Subject-Token`` header with status 201, as Keystone
does.  Wrong credentials get Keystone's 401 JSON error.

    ks = FakeKeystone(tokens=['alice:projA:member'], password='secret')
    ks.start()            # ks.url is http://127.0.0.1:PORT (add /v3 or not)
    ...
    ks.requests           # list of parsed JSON bodies
    ks.stop()

With ``catalog``, the token answer carries that service catalog, as
Keystone's does: ``FakeKeystone.service('artifact', {('RegionOne',
'public'): url, ...})`` makes one entry.

Standard library only; runs in a thread of the test process.
"""

import http.server
import json
import threading


class FakeKeystone:
    def __init__(self, tokens, username='alice', password='secret',
                 project='projA', catalog=None):
        self.tokens = list(tokens)
        self.catalog = catalog
        self.username, self.password, self.project = username, password, project
        self.requests = []
        self.issued = []
        self._lock = threading.Lock()
        self._server = None
        self._thread = None

    @staticmethod
    def service(type_, endpoints):
        """One catalog entry: `endpoints` maps (region, interface) to a URL."""
        return {'type': type_, 'id': type_ + '-id', 'name': type_,
                'endpoints': [{'id': '%s-%s-%s' % (type_, r, i), 'region': r,
                               'region_id': r, 'interface': i, 'url': u}
                              for (r, i), u in sorted(endpoints.items())]}

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self._server.server_address[1]

    def start(self):
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, fmt, *args):
                pass

            def _send(self, status, body, token=None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                if token is not None:
                    self.send_header('X-Subject-Token', token)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                length = int(self.headers.get('Content-Length', 0))
                raw = self.rfile.read(length)
                if self.path != '/v3/auth/tokens':
                    return self._send(404, {'error': {
                        'code': 404, 'title': 'Not Found',
                        'message': 'The resource could not be found.'}})
                try:
                    body = json.loads(raw)
                    ident = body['auth']['identity']
                    user = ident['password']['user']
                    ok = (ident['methods'] == ['password']
                          and user['name'] == fake.username
                          and user['password'] == fake.password
                          and ('name' in user['domain']
                               or 'id' in user['domain']))
                    scope = body['auth'].get('scope', {}).get('project', {})
                    ok = ok and scope.get('name', scope.get('id', fake.project)) \
                        == fake.project
                except (ValueError, KeyError, TypeError):
                    body, ok = None, False
                with fake._lock:
                    fake.requests.append(body)
                    token = fake.tokens.pop(0) if len(fake.tokens) > 1 \
                        else fake.tokens[0]
                    if ok:
                        fake.issued.append(token)
                if not ok:
                    return self._send(401, {'error': {
                        'code': 401, 'title': 'Unauthorized',
                        'message': 'The request you have made requires '
                                   'authentication.'}})
                answer = {
                    'methods': ['password'],
                    'expires_at': '2099-01-01T00:00:00.000000Z',
                    'project': {'name': fake.project, 'id': fake.project,
                                'domain': {'id': 'default',
                                           'name': 'Default'}},
                    'user': {'name': fake.username, 'id': fake.username}}
                if fake.catalog is not None:
                    answer['catalog'] = fake.catalog
                self._send(201, {'token': answer}, token=token)

        self._server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                       Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
