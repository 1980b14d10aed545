#!/usr/bin/python3
"""The OCI store against a registry that asks for bearer tokens (distribution's
`auth: token`), with a token issuer the test starts (tests/support/
registry_token_issuer.py): tokens got with the store's credentials, kept until they
expire, and refusals that name who was refused and what to do.

    /usr/bin/python3 tests/oci/test_oci_bearer.py --build-dir build [-v]
"""

import http.server
import json
import os
import sys
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'cli'))

import cli_support as S  # noqa: E402
from registry import Registry, TokenIssuer  # noqa: E402
from test_oci import NS, Base  # noqa: E402


class Bearer(Base):
    @classmethod
    def setUpClass(cls):
        cls.issuer = TokenIssuer({'alice': ('wonder', 'glarex/=*'),
                                  'bob': ('builder', 'glarex/=pull')})
        cls.registry = Registry(token=cls.issuer)

    @classmethod
    def tearDownClass(cls):
        cls.registry.stop()
        cls.issuer.stop()

    def setUp(self):
        super().setUp()
        self.url = self.as_user('alice', 'wonder')

    def as_user(self, user, password):
        return 'oci://%s:%s@%s/%s' % (user, password, self.registry.host, NS)

    def test_tokens_for_the_store_credentials_kept_for_the_run(self):
        before = len(self.issuer.requests())
        self.create('tokened', '1.0', 'echo tokened\n')
        asked = self.issuer.requests()[before:]
        # one token per scope the registry named (push, then pull for the checks),
        # not one per request: a create sends a dozen requests
        self.assertTrue(asked, 'no token was asked for')
        self.assertLessEqual(len(asked), 3, asked)
        self.assertTrue(all(a['user'] == 'alice' and a['status'] == 200 for a in asked))
        r = self.eval("glare('tokened', '1.0', 'run.sh')", url=self.as_user('bob', 'builder'))
        self.assertEqual(r.out, 'echo tokened\n')
        r = self.glarex('resource-get', 'tokened', '1.0', 'run.sh')
        self.assertEqual(r.out, 'echo tokened\n')

    def test_a_user_without_push_is_told_what_was_refused(self):
        r = self.create('bobs', '1.0', 'echo bob\n', url=self.as_user('bob', 'builder'),
                        code=1)
        self.assertIn('refused the token', r.err)
        self.assertIn('user bob', r.err)
        self.assertIn('push', r.err)
        self.assertNotIn('builder', r.err)

    def test_bad_credentials_and_anonymous_requests(self):
        self.create('guarded', '1.0', 'echo guarded\n')
        r = self.eval("glare('guarded', '1.0', 'run.sh')", url=self.as_user('alice', 'nope'),
                      code=1)
        self.assertIn("refused the credentials of user 'alice'", r.err)
        self.assertNotIn('nope', r.err)
        r = self.eval("glare('guarded', '1.0', 'run.sh')",
                      url='oci://%s/%s' % (self.registry.host, NS), code=1)
        self.assertIn('anonymous requests', r.err)
        self.assertIn('docker login', r.err)
        self.assertNotIn('guarded\n', r.out)


class FakeTokenEndpoint(Base):
    """A registry stand-in whose token endpoint answers too much, or a realm in clear."""

    def serve(self, token_body, scope):
        """A registry whose every /v2/ request is a 401 naming scope() and whose /token
        answers token_body(); returns the store URL and the token requests' list."""
        asked = []

        class Registry(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.startswith('/token'):
                    asked.append(self.path)
                    body = json.dumps(token_body(len(asked))).encode()
                    self.send_response(200)
                else:
                    body = b'{}'
                    self.send_response(401)
                    self.send_header('WWW-Authenticate',
                                     'Bearer realm="http://127.0.0.1:%d/token",service="r",'
                                     'scope="%s"' % (srv.server_address[1], scope(len(asked))))
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Registry)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        return 'oci://127.0.0.1:%d/%s' % (srv.server_address[1], NS), asked

    def test_a_token_answer_is_capped(self):
        url, asked = self.serve(lambda n: {'token': 'x' * (100 * 1024)},
                                lambda n: 'repository:glarex/wf/x:pull')
        r = self.eval("glare('x', '1.0', 'run.sh')", url=url, code=None)
        self.assertNotEqual(r.code, 0)
        self.assertIn('larger than the 65536-byte cap', r.err)
        self.assertIn('token for registry', r.err)
        self.assertEqual(len(asked), 1, asked)

    def test_a_registry_that_keeps_asking_is_left_with_its_own_refusal(self):
        """Each 401 names the actions in another order, as distribution's do, then
        another scope: one token per scope, a bounded number of tries, and the refusal
        is the registry's (no OpenStack token is involved, so none is suggested)."""
        spellings = ['repository:glarex/wf/x:pull,push', 'repository:glarex/wf/x:push,pull']

        def scope(n):
            return spellings.pop(0) if spellings else 'repository:glarex/wf/y%d:pull' % n

        url, asked = self.serve(lambda n: {'token': 't%d' % n}, scope)
        r = self.eval("glare('x', '1.0', 'run.sh')", url=url, code=None)
        self.assertNotEqual(r.code, 0)
        # the two spellings of the first scope are one scope: its token is refused
        self.assertIn('refused the token', r.err)
        self.assertEqual(len(asked), 1, asked)
        r = self.eval("glare('x', '1.0', 'run.sh')", url=url, code=None)
        self.assertNotEqual(r.code, 0)
        self.assertIn('401', r.err)
        self.assertNotIn('OS_AUTH_TOKEN', r.err)
        self.assertLessEqual(len(asked), 1 + 3, asked)

if __name__ == '__main__':
    S.build_dir()
    unittest.main()
