#!/usr/bin/python3
"""nginx as a caching registry mirror (contrib/registry-mirror/nginx.conf) in front of
Debian's real docker-registry: N hosts reading a fresh version at once cost the origin
one GET per blob, the mirror answers only those the origin authorises, and a tampered
copy is still refused by glarex's sha256 check.

    /usr/bin/python3 tests/oci/test_oci_mirror.py --build-dir build [-v]

Exits 77 (skipped) without nginx or docker-registry.
"""

import base64
import hashlib
import http.client
import json
import os
import subprocess
import sys
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'cli'))

import cli_support as S  # noqa: E402
import nginx_mirror  # noqa: E402
import registry  # noqa: E402

if not nginx_mirror.NGINX or not os.path.exists(registry.BINARY):
    print('skipped: needs nginx and docker-registry (scripts/packages.txt)')
    sys.exit(77)

from nginx_mirror import NginxMirror  # noqa: E402
from registry import Registry, TokenIssuer  # noqa: E402
from test_oci import NS, Base  # noqa: E402

SERIES = (1, 2, 4, 8)


def digest_of(data):
    return 'sha256:' + hashlib.sha256(data).hexdigest()


class MirrorBase(Base):
    def hosts_read(self, url, name, hosts, tag, env=None):
        """`hosts` processes, each with its own cache directory, read `name` 1.0's
        run.sh from `url` at the same moment; returns the origin's blob GETs per blob
        that this wave cost."""
        before = self.origin.blob_gets()
        procs = []
        for i in range(hosts):
            env_i = S.clean_environ(os.path.join(self.home, '%s-%s-host%d' % (name, tag, i)))
            env_i.update(env or {})
            procs.append(subprocess.Popen(
                [S.glarex_binary(), '--glare-url', url, 'eval', '--raw',
                 "<%% glare('%s', '1.0', 'run.sh') %%>" % name], env=env_i,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        results = [(p.communicate(timeout=120), p.returncode) for p in procs]
        for (out, err), code in results:
            self.assertEqual(code, 0, err.decode())
            self.assertEqual(out, ('echo %s\n' % name).encode())
        after = self.origin.blob_gets()
        return {d: after[d] - before.get(d, 0) for d in after
                if after[d] - before.get(d, 0)}

    def blob(self, mirror, path, auth=None, method='GET', headers=()):
        """(status, headers, body) of a request to the mirror."""
        req = urllib.request.Request(mirror.url + '/v2/' + path, method=method)
        if auth:
            req.add_header('Authorization', auth)
        for k, v in headers:
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()


class Coalescing(MirrorBase):
    """An anonymous origin, nginx and distribution's pull-through proxy in front of it."""

    @classmethod
    def setUpClass(cls):
        cls.origin = Registry()
        cls.nginx = NginxMirror(cls.origin.url)
        cls.proxy = Registry(proxy=cls.origin.url)

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()
        cls.nginx.stop()
        cls.origin.stop()

    def setUp(self):
        super().setUp()
        self.url = 'oci://%s/%s' % (self.origin.host, NS)

    def through(self, mirror):
        return '%s?mirror=%s' % (self.url, mirror.host)

    def test_eight_hosts_fetch_each_blob_from_the_origin_once(self):
        rows = {'nginx': [], 'distribution': []}
        for hosts in SERIES:
            name = 'fleet%d' % hosts
            self.create(name, '1.0', 'echo %s\n' % name)
            cold = self.hosts_read(self.through(self.nginx), name, hosts, 'cold')
            warm = self.hosts_read(self.through(self.nginx), name, hosts, 'warm')
            rows['nginx'].append((hosts, sorted(cold.values()), sum(warm.values())))
            # the config and the resource, each fetched once for all the hosts
            self.assertEqual(len(cold), 2, cold)
            self.assertEqual(sorted(cold.values()), [1, 1],
                             '%d hosts: origin GETs per blob %s' % (hosts, cold))
            self.assertEqual(warm, {}, 'the origin served blobs the mirror holds')
        for hosts in SERIES:
            name = 'proxied%d' % hosts
            self.create(name, '1.0', 'echo %s\n' % name)
            cold = self.hosts_read(self.through(self.proxy), name, hosts, 'cold')
            rows['distribution'].append((hosts, sorted(cold.values()), None))
            # distribution 2.8 fetches twice on a miss, and again for each request
            # that arrives while it stores the blob
            for n in cold.values():
                self.assertLessEqual(n, 2 * hosts)
        print('\nmirrors: origin blob GETs per blob (config, resource) when N hosts '
              'with empty caches read a fresh version at once', file=sys.stderr)
        for kind in ('nginx', 'distribution'):
            for hosts, cold, warm in rows[kind]:
                print('  %-12s N=%d  first wave: %s%s' % (
                    kind, hosts, cold,
                    '' if warm is None else '  second wave: %d' % warm), file=sys.stderr)

    def test_manifests_and_tags_pass_through_uncached(self):
        self.create('moving', '1.0', 'echo one\n')
        tags = json.loads(self.blob(self.nginx, '%s/moving/tags/list' % NS)[2])
        self.assertEqual(tags['tags'], ['1.0.0'])
        self.create('moving', '1.1', 'echo two\n')
        tags = json.loads(self.blob(self.nginx, '%s/moving/tags/list' % NS)[2])
        self.assertEqual(sorted(tags['tags']), ['1.0.0', '1.1.0'])
        r = self.eval("glare('moving', 'latest', 'run.sh')", url=self.through(self.nginx))
        self.assertEqual(r.out, 'echo two\n')
        # a read-only mirror: pushes go to the origin
        status = self.blob(self.nginx, '%s/moving/blobs/uploads/' % NS, method='POST')[0]
        self.assertEqual(status, 403)

    def test_range_and_head_are_answered_from_the_copy(self):
        body = b'echo ranged and headed\n'
        self.create('ranged', '1.0', body.decode())
        path = '%s/ranged/blobs/%s' % (NS, digest_of(body))
        # the first request, a range: the mirror fetches the whole blob once
        status, _, got = self.blob(self.nginx, path, headers=[('Range', 'bytes=5-10')])
        self.assertEqual((status, got), (206, body[5:11]))
        status, headers, got = self.blob(self.nginx, path, method='HEAD')
        self.assertEqual((status, got), (200, b''))
        self.assertEqual(headers['Content-Length'], str(len(body)))
        status, _, got = self.blob(self.nginx, path, headers=[('Range', 'bytes=-4')])
        self.assertEqual((status, got), (206, body[-4:]))
        status, _, got = self.blob(self.nginx, path)
        self.assertEqual((status, got), (200, body))
        self.assertEqual(self.origin.blob_gets()[digest_of(body)], 1)

    def test_a_digest_is_answered_only_for_a_repository_that_holds_it(self):
        body = b'echo held\n'
        self.create('held', '1.0', body.decode())
        path = '%s/held/blobs/%s' % (NS, digest_of(body))
        self.assertEqual(self.blob(self.nginx, path)[2], body)
        # a digest the repository does not hold: the origin's own answer, not a 500,
        # even when the mirror holds that digest for another repository
        status = self.blob(self.nginx, '%s/held/blobs/%s' % (NS, digest_of(b'none')))[0]
        self.assertEqual(status, 404)
        self.create('elsewhere', '1.0', 'echo elsewhere\n')
        status, _, got = self.blob(self.nginx, '%s/elsewhere/blobs/%s' % (NS, digest_of(body)))
        self.assertEqual(status, 404)
        self.assertNotIn(body, got)
        # the origin authorises exactly the repository and digest the cache answers
        # for: the path as nginx normalised it, not the raw request line
        conn = http.client.HTTPConnection('127.0.0.1', self.nginx.port, timeout=30)
        self.addCleanup(conn.close)
        for raw, expected in (('elsewhere/../held', 200), ('held/../elsewhere', 404),
                              ('held%2F..%2Felsewhere', 404)):
            conn.request('GET', '/v2/%s/%s/blobs/%s' % (NS, raw, digest_of(body)))
            r = conn.getresponse()
            got = r.read()
            self.assertEqual(r.status, expected, raw)
            self.assertEqual(got == body, expected == 200, raw)

    def test_a_tampered_copy_in_the_mirror_is_refused(self):
        self.create('tampered', '1.0', 'echo genuine\n')
        ref = "glare('tampered', '1.0', 'run.sh')"
        url = self.through(self.nginx)
        self.assertEqual(self.eval(ref, url=url).out, 'echo genuine\n')
        # the cache file of a blob is the one naming its digest (docs/store.md)
        key = b'\nKEY: ' + digest_of(b'echo genuine\n').encode() + b'\n'
        forged = []
        for root, _, names in os.walk(self.nginx.cache):
            for n in names:
                path = os.path.join(root, n)
                with open(path, 'rb') as f:
                    data = f.read()
                if key in data:
                    self.assertTrue(data.endswith(b'echo genuine\n'))
                    with open(path, 'wb') as f:  # same length, other bytes
                        f.write(data.replace(b'echo genuine\n', b'echo  forged\n'))
                    forged.append(path)
        self.assertEqual(len(forged), 1, 'no cached copy of the blob')
        home = os.path.join(self.home, 'fresh')
        env = S.clean_environ(home)
        r = self.eval(ref, url=url, env=env, code=1)
        self.assertIn('sha256 mismatch', r.err)
        self.assertNotIn('forged', r.out)
        for root, _, names in os.walk(os.path.join(home, 'cache')):
            for n in names:
                with open(os.path.join(root, n), 'rb') as f:
                    self.assertNotIn(b'forged', f.read(), os.path.join(root, n))

    def test_with_the_mirror_down_reads_fall_back_to_the_origin(self):
        self.create('fallback', '1.0', 'echo fallback\n')
        down = NginxMirror(self.origin.url)
        down.stop()
        r = self.eval("glare('fallback', '1.0', 'run.sh')", url=self.through(down))
        self.assertEqual(r.out, 'echo fallback\n')
        self.assertEqual(self.origin.blob_gets()[digest_of(b'echo fallback\n')], 1)


def basic(user, password):
    return 'Basic ' + base64.b64encode(('%s:%s' % (user, password)).encode()).decode()


class Authorised(MirrorBase):
    """An origin with htpasswd users: the mirror answers a blob it holds only to a
    client the origin lets read it."""

    @classmethod
    def setUpClass(cls):
        cls.origin = Registry(users={'alice': 'wonder'})
        cls.nginx = NginxMirror(cls.origin.url)
        cls.open = NginxMirror(cls.origin.url, authorize=False)

    @classmethod
    def tearDownClass(cls):
        cls.open.stop()
        cls.nginx.stop()
        cls.origin.stop()

    def setUp(self):
        super().setUp()
        self.url = 'oci://alice:wonder@%s/%s' % (self.origin.host, NS)

    def mirror_login(self, mirror, user, password):
        """An auth.json giving `mirror` these credentials: glarex sends the origin's
        own only to the origin, so a mirror that passes them on is named explicitly."""
        path = os.path.join(self.home, 'auth-%s-%d.json' % (user, mirror.port))
        with open(path, 'w') as f:
            json.dump({'auths': {mirror.host: {'username': user, 'password': password}}}, f)
        return {'REGISTRY_AUTH_FILE': path}

    def leaks(self, mirror, path, body):
        """Whether a client without credentials, or with wrong ones, gets `body` of a
        blob the mirror holds (alice read it through the mirror just before)."""
        status, _, got = self.blob(mirror, path, auth=basic('alice', 'wonder'))
        self.assertEqual((status, got), (200, body))
        leaked = False
        for auth in (None, basic('alice', 'nope'), basic('mallory', 'x')):
            for method in ('GET', 'HEAD'):
                status, headers, got = self.blob(mirror, path, auth=auth, method=method)
                if status != 401:
                    leaked = True
                    continue
                self.assertNotIn(body, got)
                self.assertEqual(headers['WWW-Authenticate'], 'Basic realm="glarex-test"')
        return leaked

    def test_only_clients_the_origin_authorises_get_a_cached_blob(self):
        body = b'echo secret\n'
        self.create('secret', '1.0', body.decode())
        path = '%s/secret/blobs/%s' % (NS, digest_of(body))
        self.assertFalse(self.leaks(self.nginx, path, body))
        # the check is not vacuous: without auth_request the cached copy is anyone's
        self.assertTrue(self.leaks(self.open, path, body))

    def test_glarex_logs_in_to_the_mirror_with_the_credentials_filed_for_it(self):
        body = b'echo login\n'
        self.create('login', '1.0', body.decode())
        url = '%s?mirror=%s' % (self.url, self.nginx.host)
        env = self.mirror_login(self.nginx, 'alice', 'wonder')
        cold = self.hosts_read(url, 'login', 4, 'cold', env=env)
        self.assertEqual(sorted(cold.values()), [1, 1], cold)
        self.assertEqual(self.hosts_read(url, 'login', 4, 'warm', env=env), {})
        # no credentials for the mirror: it refuses, and the origin answers
        before = self.origin.blob_gets()[digest_of(body)]
        r = self.eval("glare('login', '1.0', 'run.sh')", url=url)
        self.assertEqual(r.out, body.decode())
        self.assertEqual(self.origin.blob_gets()[digest_of(body)], before + 1)
        # no credentials anywhere: nothing, from the mirror's copy or the origin
        anonymous = 'oci://%s/%s?mirror=%s' % (self.origin.host, NS, self.nginx.host)
        r = self.eval("glare('login', '1.0', 'run.sh')", url=anonymous, code=1)
        self.assertIn('asks for credentials', r.err)
        self.assertNotIn('echo', r.out)
        wrong = self.mirror_login(self.nginx, 'alice', 'nope')
        r = self.eval("glare('login', '1.0', 'run.sh')", url=anonymous,
                      env=dict(self.env, **wrong), code=1)
        self.assertNotIn('echo', r.out)
        self.assertNotIn('nope', r.err)


class BearerAuthorised(MirrorBase):
    """An origin that asks for bearer tokens: the mirror passes its challenge on, and
    the token glarex gets for the mirror goes to the mirror only."""

    @classmethod
    def setUpClass(cls):
        cls.issuer = TokenIssuer({'alice': ('wonder', 'glarex/=*')})
        cls.origin = Registry(token=cls.issuer)
        cls.nginx = NginxMirror(cls.origin.url)

    @classmethod
    def tearDownClass(cls):
        cls.nginx.stop()
        cls.origin.stop()
        cls.issuer.stop()

    def setUp(self):
        super().setUp()
        self.url = 'oci://alice:wonder@%s/%s' % (self.origin.host, NS)

    def test_a_bearer_origin_through_the_mirror(self):
        body = b'echo tokened\n'
        self.create('tokened', '1.0', body.decode())
        path = '%s/tokened/blobs/%s' % (NS, digest_of(body))
        status, headers, got = self.blob(self.nginx, path)
        self.assertEqual(status, 401)
        self.assertNotIn(body, got)
        self.assertIn('Bearer realm="%s/token"' % self.issuer.url,
                      headers['WWW-Authenticate'])
        auth = os.path.join(self.home, 'auth.json')
        with open(auth, 'w') as f:
            json.dump({'auths': {self.nginx.host: {'username': 'alice',
                                                   'password': 'wonder'}}}, f)
        url = '%s?mirror=%s' % (self.url, self.nginx.host)
        cold = self.hosts_read(url, 'tokened', 4, 'cold', env={'REGISTRY_AUTH_FILE': auth})
        self.assertEqual(sorted(cold.values()), [1, 1], cold)
        # nothing filed for the mirror: its challenge is answered anonymously, never
        # with the origin's credentials, the mirror refuses, and the origin answers
        before = len(self.issuer.requests())
        r = self.eval("glare('tokened', '1.0', 'run.sh')", url=url)
        self.assertEqual(r.out, body.decode())
        asked = [a['user'] for a in self.issuer.requests()[before:]]
        self.assertIn('', asked)
        self.assertEqual(self.origin.blob_gets()[digest_of(body)], 2)
        # anonymous requests get no token with pull rights, so nothing
        anonymous = 'oci://%s/%s?mirror=%s' % (self.origin.host, NS, self.nginx.host)
        r = self.eval("glare('tokened', '1.0', 'run.sh')", url=anonymous, code=1)
        self.assertNotIn('tokened', r.out)
        self.assertEqual(self.blob(self.nginx, path, auth='Bearer forged')[0], 401)


if __name__ == '__main__':
    S.build_dir()
    unittest.main()
