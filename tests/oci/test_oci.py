#!/usr/bin/python3
"""The OCI registry store (oci://) against Debian's real docker-registry.

    /usr/bin/python3 tests/oci/test_oci.py --build-dir build [-v]

Every registry is started here on 127.0.0.1 at a free port, with its storage in a
temporary directory, and stopped by PID (tests/oci/registry.py).
"""

import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'cli'))

import cli_support as S  # noqa: E402
from registry import Registry  # noqa: E402

NS = 'glarex/wf'
SCRIPT_KEY = 'heal_vm_script.sh'
WF = """---
version: '2.0'
%(name)s:
  tasks:
    run:
      action: std.echo output=<%% glare('%(name)s', '1.0', 'run.sh') %%>
"""


class Base(unittest.TestCase):
    def setUp(self):
        self.home = tempfile.mkdtemp(prefix='glarex-oci-test-')
        self.env = S.clean_environ(self.home)

    def tearDown(self):
        shutil.rmtree(self.home, ignore_errors=True)

    def glarex(self, *args, code=0, url=None, env=None, timeout=120):
        r = S.run(('--glare-url', url or self.url) + args, env or self.env,
                  timeout=timeout)
        if code is not None:
            self.assertEqual(r.code, code, 'glarex %s: %s%s' % (' '.join(args), r.out,
                                                               r.err))
        return r

    def create(self, name, version, script, url=None, env=None, code=0):
        d = tempfile.mkdtemp(dir=self.home)
        wf = os.path.join(d, name + '.yaml')
        with open(wf, 'w') as f:
            f.write(WF % {'name': name})
        res = os.path.join(d, 'run.sh')
        with open(res, 'w') as f:
            f.write(script)
        return self.glarex('workflow-create', wf, '--version', version, '--resource',
                           'run.sh=' + res, url=url, env=env, code=code)

    def eval(self, ref, code=0, url=None, env=None, extra=()):
        return self.glarex('eval', '--raw', *extra, '<%% %s %%>' % ref, code=code,
                           url=url, env=env)


class Store(Base):
    """One anonymous registry for the demo, the layout, versions and failures."""

    @classmethod
    def setUpClass(cls):
        cls.registry = Registry()

    @classmethod
    def tearDownClass(cls):
        cls.registry.stop()

    def setUp(self):
        super().setUp()
        self.url = 'oci://%s/%s' % (self.registry.host, NS)

    def get(self, path, accept=None):
        req = urllib.request.Request(self.registry.url + '/v2/' + path)
        if accept:
            req.add_header('Accept', accept)
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read()

    def test_readme_demo_with_the_registry_as_the_store(self):
        r = self.glarex('workflow-create', S.EXAMPLE_WF, '--resource',
                        '%s=%s' % (SCRIPT_KEY, S.EXAMPLE_SCRIPT))
        self.assertIn('created heal_vms 1.0.0 in ' + self.url, r.out)
        r = self.glarex('workflow-list', '-f', 'table')
        self.assertRegex(r.out, r'\| heal_vms +\| 1\.0\.0 +\| active ')
        r = self.glarex('workflow-show', 'heal_vms@1.0')
        self.assertIn(SCRIPT_KEY, r.out)
        with open(S.EXAMPLE_SCRIPT) as f:
            script = f.read()
        r = self.glarex('resource-get', 'heal_vms', '1.0', SCRIPT_KEY)
        self.assertEqual(r.out, script)
        r = self.eval("glare('heal_vms', '1.0', '%s')" % SCRIPT_KEY)
        self.assertEqual(r.out, script)
        self.glarex('workflow-delete', 'heal_vms@1.0.0')
        r = self.glarex('workflow-list', code=None)
        self.assertNotIn('heal_vms', r.out)
        # deleted: the tag is gone from the registry
        tags = json.loads(self.get('%s/heal_vms/tags/list' % NS))
        self.assertFalse(tags.get('tags'))
        r = self.glarex('resource-get', 'heal_vms', '1.0', SCRIPT_KEY, code=1)

    def test_ids_lead_back_to_the_artifact(self):
        r = self.create('byid', '3.1', 'echo by id\n')
        art = json.loads(self.glarex('workflow-show', 'byid@3.1', '-f', 'json').out)
        aid = art['id']
        self.assertRegex(aid, r'^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-'
                              r'[0-9a-f]{12}$')
        # a new process knows nothing of it: the catalog and the tags lead to it
        self.assertEqual(self.eval("glare('glare://id/%s/run.sh')" % aid).out,
                         'echo by id\n')
        self.assertIn('byid', self.glarex('workflow-show', aid).out)
        r = self.glarex('resource-list', 'byid@3.1', code=None)
        self.assertIn('run.sh', r.out + r.err)
        self.glarex('workflow-delete', aid)
        r = self.eval("glare('glare://id/%s/run.sh')" % aid, code=1)
        self.assertIn(aid, r.err)

    def test_the_lua_module_reads_the_registry(self):
        lua = shutil.which('lua5.4')
        module = os.path.join(S.build_dir(), 'src', 'module', 'glarex.so')
        if not lua or not os.path.exists(module):
            self.skipTest('no lua5.4 or no Lua module in this build')
        self.create('fromlua', '1.0', 'echo from lua\n')
        script = ('local glarex = require "glarex"\n'
                  'local ctx = assert(glarex.open{url = %r, cache_dir = %r})\n'
                  'io.write(ctx:fetch("fromlua", "1.0", "run.sh"))\n'
                  'io.write(ctx:fetch("glare://fromlua@latest/run.sh"))\n'
                  % (self.url, os.path.join(self.home, 'luacache')))
        env = dict(self.env, LUA_CPATH=os.path.dirname(module) + '/?.so')
        if os.environ.get('GLAREX_TEST_PRELOAD'):  # an ASan build: lua5.4 is not one
            env['LD_PRELOAD'] = os.environ['GLAREX_TEST_PRELOAD']
            env.setdefault('ASAN_OPTIONS', 'detect_leaks=0')
        p = subprocess.run([lua, '-'], input=script.encode(), env=env,
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(p.stdout, b'echo from lua\n' * 2)

    def test_the_layout_is_oras_readable_by_plain_http(self):
        self.create('layout', '1.2', 'echo layout\n')
        tags = json.loads(self.get('%s/layout/tags/list' % NS))
        self.assertEqual(tags['tags'], ['1.2.0'])
        m = json.loads(self.get('%s/layout/manifests/1.2.0' % NS,
                                'application/vnd.oci.image.manifest.v1+json'))
        self.assertEqual(m['schemaVersion'], 2)
        self.assertEqual(m['mediaType'], 'application/vnd.oci.image.manifest.v1+json')
        self.assertEqual(m['config']['mediaType'],
                         'application/vnd.glarex.workflow.config.v1+json')
        self.assertRegex(m['annotations']['org.opencontainers.image.created'],
                         r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$')
        files = {}
        for layer in m['layers']:
            body = self.get('%s/layout/blobs/%s' % (NS, layer['digest']))
            self.assertEqual('sha256:' + hashlib.sha256(body).hexdigest(),
                             layer['digest'])
            self.assertEqual(len(body), layer['size'])
            files[layer['annotations']['org.opencontainers.image.title']] = body
        self.assertEqual(files['run.sh'], b'echo layout\n')
        self.assertIn(b"glare('layout', '1.0', 'run.sh')", files['workflow.yaml'])
        config = json.loads(self.get('%s/layout/blobs/%s' % (NS, m['config']['digest'])))
        self.assertEqual(config['name'], 'layout')
        self.assertEqual(config['version'], '1.2.0')
        self.assertEqual(config['workflow'], 'workflow.yaml')

    def test_latest_range_pin_and_as_of(self):
        self.create('vers', '1.0', 'one\n')
        time.sleep(1.1)  # created annotations have whole seconds
        between = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
        time.sleep(1.1)
        self.create('vers', '1.1', 'one one\n')
        self.create('vers', '2.0', 'two\n')
        self.assertEqual(self.eval("glare('vers', 'latest', 'run.sh')").out, 'two\n')
        self.assertEqual(self.eval("glare('vers', '>=1.0,<2', 'run.sh')").out,
                         'one one\n')
        pin = hashlib.sha256(b'one\n').hexdigest()
        self.assertEqual(self.eval("glare('vers', 'sha256=%s', 'run.sh')" % pin).out,
                         'one\n')
        r = self.eval("glare('vers', 'sha256=%s', 'run.sh')" % ('0' * 64), code=1)
        self.assertIn('no active version', r.err)
        r = self.eval("glare('vers', 'latest', 'run.sh')",
                      extra=('--as-of', between, '--as-of-skew', '0'))
        self.assertEqual(r.out, 'one\n')

    def test_a_failed_create_leaves_no_tag(self):
        d = tempfile.mkdtemp(dir=self.home)
        wf = os.path.join(d, 'half.yaml')
        with open(wf, 'w') as f:
            f.write(WF % {'name': 'half'})
        big = os.path.join(d, 'big.bin')
        with open(big, 'wb') as f:
            f.write(b'\0' * (10 * 1024 * 1024 + 1))  # above the 10 MiB blob cap
        run = os.path.join(d, 'run.sh')
        with open(run, 'w') as f:
            f.write('echo half\n')
        r = self.glarex('workflow-create', wf, '--version', '1.0', '--resource',
                        'run.sh=' + run, '--resource', 'big.bin=' + big, code=1)
        self.assertIn('10485760', r.err)
        self.assertNotIn('left behind', r.err)
        # the workflow's blob went up, but no manifest: nothing names it
        with self.assertRaises(urllib.error.HTTPError):
            self.get('%s/half/manifests/1.0.0' % NS)
        r = self.glarex('workflow-list', code=None)
        self.assertNotIn('half', r.out)
        # and the name and version are free
        self.create('half', '1.0', 'now whole\n')

    def test_an_interrupted_create_leaves_no_tag(self):
        d = tempfile.mkdtemp(dir=self.home)
        wf = os.path.join(d, 'cut.yaml')
        with open(wf, 'w') as f:
            f.write(WF % {'name': 'cut'})
        run = os.path.join(d, 'run.sh')
        with open(run, 'w') as f:
            f.write('echo cut\n')
        res = ['--resource', 'run.sh=' + run]
        for i in range(40):  # many uploads: the kill lands among them
            p = os.path.join(d, 'r%02d' % i)
            with open(p, 'wb') as f:
                f.write(os.urandom(64 * 1024))
            res += ['--resource', 'r%02d=%s' % (i, p)]
        start = len(self.registry.access_log())
        p = subprocess.Popen([S.glarex_binary(), '--glare-url', self.url,
                              'workflow-create', wf, '--version', '1.0'] + res,
                             env=self.env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline and p.poll() is None:
            ups = [l for l in self.registry.access_log()[start:] if '"PUT /v2/' in l]
            if len(ups) >= 3:
                break
            time.sleep(0.01)
        self.assertIsNone(p.poll(), 'workflow-create ended before it could be killed')
        os.kill(p.pid, signal.SIGKILL)  # no chance to clean up
        p.wait()
        with self.assertRaises(urllib.error.HTTPError):
            self.get('%s/cut/manifests/1.0.0' % NS)
        r = self.glarex('workflow-list', code=None)
        self.assertNotIn('cut', r.out)
        self.create('cut', '1.0', 'whole\n')

    def test_a_corrupt_blob_is_refused_and_nothing_cached(self):
        self.create('tamper', '1.0', 'echo genuine\n')
        digest = 'sha256:' + hashlib.sha256(b'echo genuine\n').hexdigest()
        path = self.registry.blob_file(digest)
        with open(path, 'wb') as f:
            f.write(b'echo  forged\n')  # same length, other bytes
        r = self.eval("glare('tamper', '1.0', 'run.sh')", code=1)
        self.assertIn('sha256 mismatch', r.err)
        self.assertNotIn('forged', r.out)
        r = self.glarex('resource-get', 'tamper', '1.0', 'run.sh', code=1)
        self.assertIn('sha256 mismatch', r.err)
        cache = os.path.join(self.home, 'cache')
        for root, _, names in os.walk(cache):
            for n in names:
                with open(os.path.join(root, n), 'rb') as f:
                    self.assertNotIn(b'forged', f.read(), os.path.join(root, n))
        with open(path, 'wb') as f:
            f.write(b'echo genuine\n')
        self.assertEqual(self.eval("glare('tamper', '1.0', 'run.sh')").out,
                         'echo genuine\n')

    def test_bad_urls_say_how_to_write_them(self):
        for url, words in (('oci://127.0.0.1:1', 'names no namespace'),
                           ('oci://127.0.0.1:1/Upper', 'lower-case'),
                           ('oci://127.0.0.1:1/ns?x=1', 'mirror=host[:port]'),
                           ('oci://u:secret@127.0.0.1:1/', 'oci://u:***@127.0.0.1:1/')):
            r = self.glarex('workflow-list', url=url, code=1)
            self.assertIn(words, r.err)
            self.assertIn('oci://host[:port]/namespace', r.err)
            self.assertNotIn('secret', r.err)


    def test_mirrors_credential_files_and_keys_are_capped(self):
        five = '&'.join('mirror=127.0.0.1:%d' % (i + 1) for i in range(5))
        r = self.glarex('workflow-list', url=self.url + '?' + five, code=1)
        self.assertIn('names more than 4 mirrors', r.err)
        auth = os.path.join(self.home, 'auth.json')
        with open(auth, 'w') as f:
            f.write('{"auths": {}, "pad": "%s"}' % ('x' * (1024 * 1024)))
        r = self.glarex('workflow-list', env=dict(self.env, REGISTRY_AUTH_FILE=auth),
                        code=1)
        self.assertIn('is larger than 1048576 bytes', r.err)
        self.assertIn(auth, r.err)
        d = tempfile.mkdtemp(dir=self.home)
        wf = os.path.join(d, 'keys.yaml')
        with open(wf, 'w') as f:
            f.write(WF % {'name': 'keys'})
        run = os.path.join(d, 'run.sh')
        with open(run, 'w') as f:
            f.write('echo keys\n')
        r = self.glarex('workflow-create', wf, '--version', '1.0', '--resource',
                        'run.sh=' + run, '--resource', '%s=%s' % ('k' * 256, run), code=1)
        self.assertIn('the key is 256 bytes long, more than 255', r.err)
        many = []
        for i in range(255):  # run.sh and 255 more: one too many
            many += ['--resource', 'k%03d=%s' % (i, run)]
        r = self.glarex('workflow-create', wf, '--version', '1.0', '--resource',
                        'run.sh=' + run, *many, code=1)
        self.assertIn('256 resources, more than 255', r.err)
        with self.assertRaises(urllib.error.HTTPError):
            self.get('%s/keys/manifests/1.0.0' % NS)


class NoDeletes(Base):
    def test_a_registry_without_deletes_says_how_to_allow_them(self):
        registry = Registry(delete=False)
        self.addCleanup(registry.stop)
        self.url = 'oci://%s/%s' % (registry.host, NS)
        self.create('kept', '1.0', 'echo kept\n')
        r = self.glarex('workflow-delete', 'kept@1.0', code=1)
        self.assertIn('does not allow deletes', r.err)
        self.assertIn('storage: delete: enabled: true', r.err)
        self.assertEqual(self.glarex('resource-get', 'kept', '1.0', 'run.sh').out,
                         'echo kept\n')


class Auth(Base):
    """htpasswd (bcrypt) users; credentials from the URL and from auth.json."""

    @classmethod
    def setUpClass(cls):
        cls.registry = Registry(users={'alice': 'wonder', 'bob': 'builder'})

    @classmethod
    def tearDownClass(cls):
        cls.registry.stop()

    def setUp(self):
        super().setUp()
        self.url = 'oci://alice:wonder@%s/%s' % (self.registry.host, NS)

    def test_basic_auth_from_the_url_and_the_credential_files(self):
        self.create('locked', '1.0', 'echo locked\n')
        anonymous = 'oci://%s/%s' % (self.registry.host, NS)
        r = self.eval("glare('locked', '1.0', 'run.sh')", url=anonymous, code=1)
        self.assertIn('asks for credentials', r.err)
        wrong = 'oci://alice:nope@%s/%s' % (self.registry.host, NS)
        r = self.eval("glare('locked', '1.0', 'run.sh')", url=wrong, code=1)
        self.assertIn("refused the credentials of user 'alice'", r.err)
        self.assertNotIn('nope', r.err)
        # --debug shows the header the registry asked for, not what it holds
        r = self.glarex('--debug', 'resource-get', 'locked', '1.0', 'run.sh')
        self.assertIn("Authorization: ***", r.err)
        for secret in ('wonder', base64.b64encode(b'alice:wonder').decode()):
            self.assertNotIn(secret, r.err + r.out)
        # podman's REGISTRY_AUTH_FILE, "auth": base64(user:password)
        auth = os.path.join(self.home, 'auth.json')
        with open(auth, 'w') as f:
            json.dump({'auths': {self.registry.host: {
                'auth': base64.b64encode(b'bob:builder').decode()}}}, f)
        env = dict(self.env, REGISTRY_AUTH_FILE=auth)
        r = self.eval("glare('locked', '1.0', 'run.sh')", url=anonymous, env=env)
        self.assertEqual(r.out, 'echo locked\n')
        # docker's ~/.docker/config.json with a scheme in the key
        os.makedirs(os.path.join(self.home, '.docker'))
        with open(os.path.join(self.home, '.docker', 'config.json'), 'w') as f:
            json.dump({'auths': {'http://' + self.registry.host: {
                'username': 'bob', 'password': 'builder'}}}, f)
        r = self.glarex('resource-get', 'locked', '1.0', 'run.sh', url=anonymous)
        self.assertEqual(r.out, 'echo locked\n')

    def test_two_credentials_share_no_cache_entries(self):
        self.create('scoped', '1.0', 'echo scoped\n')
        ref = "glare('scoped', '1.0', 'run.sh')"
        index = os.path.join(self.home, 'cache', 'glarex', 'index')

        def entries():
            return sorted(os.path.join(r, n) for r, _, ns in os.walk(index) for n in ns)

        self.assertEqual(self.eval(ref).out, 'echo scoped\n')
        alice = entries()
        self.assertTrue(alice, 'no index entry under ' + index)
        bob = 'oci://bob:builder@%s/%s' % (self.registry.host, NS)
        self.assertEqual(self.eval(ref, url=bob).out, 'echo scoped\n')
        both = entries()
        self.assertGreater(len(both), len(alice), 'bob was answered from alice\'s entry')
        # an identity the registry refuses gets nothing from the others' answers
        mallory = 'oci://mallory:x@%s/%s' % (self.registry.host, NS)
        r = self.eval(ref, url=mallory, code=1)
        self.assertNotIn('scoped', r.out)


class Mirror(Base):
    """A pull-through mirror (distribution's proxy mode) in front of the origin."""

    HOSTS = 8

    @classmethod
    def setUpClass(cls):
        cls.origin = Registry()
        cls.mirror = Registry(proxy=cls.origin.url)

    @classmethod
    def tearDownClass(cls):
        cls.mirror.stop()
        cls.origin.stop()

    def setUp(self):
        super().setUp()
        self.url = 'oci://%s/%s' % (self.origin.host, NS)
        self.mirrored = '%s?mirror=%s' % (self.url, self.mirror.host)

    def hosts_read(self, name, hosts, tag):
        """`hosts` processes, each with its own cache directory, read `name` through
        the mirror at the same moment; returns the origin's blob GETs per blob."""
        before = self.origin.blob_gets()
        procs = []
        for i in range(hosts):
            env = S.clean_environ(os.path.join(self.home, '%s-host%d' % (tag, i)))
            procs.append(subprocess.Popen(
                [S.glarex_binary(), '--glare-url', self.mirrored, 'eval', '--raw',
                 "<%% glare('%s', '1.0', 'run.sh') %%>" % name], env=env,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        for p in procs:
            out, err = p.communicate(timeout=120)
            self.assertEqual(p.returncode, 0, err.decode())
            self.assertEqual(out, ('echo %s\n' % name).encode())
        after = self.origin.blob_gets()
        return {d: after[d] - before.get(d, 0) for d in after
                if after[d] - before.get(d, 0)}

    def test_reads_go_through_the_mirror_and_fall_back_to_the_origin(self):
        rows = []
        for hosts in (1, 8):
            name = 'fleet%d' % hosts
            self.create(name, '1.0', 'echo %s\n' % name)
            served = sum(self.mirror.blob_gets().values())
            cold = self.hosts_read(name, hosts, 'cold')
            self.assertGreaterEqual(sum(self.mirror.blob_gets().values()) - served, hosts)
            # the mirror stores a blob in the background after serving it
            deadline = time.time() + 20
            while time.time() < deadline and not all(
                    os.path.exists(self.mirror.blob_file(d)) for d in cold):
                time.sleep(0.05)
            warm = self.hosts_read(name, hosts, 'warm')
            rows.append((hosts, sorted(cold.values()), sum(warm.values())))
            # once the mirror holds the blobs, the origin serves none of them again
            self.assertEqual(warm, {}, 'the origin served blobs the mirror holds')
            # simultaneous first reads: distribution 2.8's proxy fetches a blob from
            # the origin twice on a miss and once for each request that arrives while
            # it is still storing it
            for n in cold.values():
                self.assertLessEqual(n, 2 * hosts)
        print('\nmirror: origin blob GETs per blob (config, resource) when N hosts '
              'with empty caches read a fresh version at once through one '
              'pull-through mirror, then N more', file=sys.stderr)
        for hosts, cold, warm in rows:
            print('  N=%d  first wave: %s  second wave: %d' % (hosts, cold, warm),
                  file=sys.stderr)
        # the catalog is the origin's: a pull-through mirror lists only what it holds
        self.create('unmirrored', '1.0', 'echo unmirrored\n')
        r = self.glarex('workflow-list', url=self.mirrored)
        self.assertIn('unmirrored', r.out)
        self.assertIn('fleet8', r.out)
        # the mirror down: reads fall back to the origin
        dead = '%s?mirror=127.0.0.1:1' % self.url
        r = self.eval("glare('fleet1', '1.0', 'run.sh')", url=dead)
        self.assertEqual(r.out, 'echo fleet1\n')


class FakeRegistry:
    """A registry that misbehaves on purpose (http.server, 127.0.0.1, a free port):
    it asks for basic auth and serves one artifact, fake 1.0.0, whose run.sh blob the
    mode `redirect` sends to another host, `loop` redirects to itself; `big` serves a
    manifest over the 4 MiB cap, `bigconfig` a config over 1 MiB and `pages` an endless
    list of tag pages."""

    def __init__(self, mode):
        import http.server
        import threading
        self.mode, self.seen = mode, []
        wf = b"---\nversion: '2.0'\nfake:\n  tasks: {}\n"
        run = b'echo fake\n'
        config = json.dumps({'name': 'fake', 'version': '1.0.0', 'description': '',
                             'tags': [], 'metadata': {}, 'workflow': 'workflow.yaml'},
                            sort_keys=True).encode()
        if mode == 'bigconfig':
            config = config[:-1] + b', "pad": "' + b'x' * (1024 * 1024) + b'"}'

        def desc(media, body, title=None, field=None):
            d = {'mediaType': media, 'size': len(body),
                 'digest': 'sha256:' + hashlib.sha256(body).hexdigest()}
            if title:
                d['annotations'] = {'org.opencontainers.image.title': title,
                                    'org.glarex.field': field,
                                    'org.glarex.md5': hashlib.md5(body).hexdigest()}
            return d

        manifest = json.dumps({
            'schemaVersion': 2,
            'mediaType': 'application/vnd.oci.image.manifest.v1+json',
            'config': desc('application/vnd.glarex.workflow.config.v1+json', config),
            'layers': [desc('x/y', wf, 'workflow.yaml', 'workflow'),
                       desc('x/y', run, 'run.sh', 'resources')],
            'annotations': {'org.opencontainers.image.created': '2026-01-01T00:00:00Z'},
        }).encode()
        if mode == 'big':
            manifest += b' ' * (4 * 1024 * 1024)
        blobs = {desc('', b)['digest']: b for b in (wf, run, config)}
        run_digest = desc('', run)['digest']
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self, status, body=b'', headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                if self.command != 'HEAD':
                    self.wfile.write(body)

            def do_GET(self):
                outer.seen.append((self.server.server_address[1], self.path,
                                   self.headers.get('Authorization')))
                if self.server is outer.other:
                    return self.answer(200, run)
                if self.headers.get('Authorization') != 'Basic ' + base64.b64encode(
                        b'u:p').decode():
                    return self.answer(401, b'{}', [('WWW-Authenticate',
                                                     'Basic realm="fake"')])
                p = self.path
                if '/tags/list' in p:
                    link = [('Link', '</v2/ns/fake/tags/list?last=x&n=1>; rel="next"')] \
                        if outer.mode == 'pages' else []
                    return self.answer(200, json.dumps(
                        {'name': 'ns/fake', 'tags': ['1.0.0']}).encode(), link)
                if '/manifests/' in p:
                    return self.answer(200, manifest, [
                        ('Content-Type', 'application/vnd.oci.image.manifest.v1+json')])
                digest = p.rsplit('/', 1)[-1]
                if digest == run_digest and outer.mode == 'redirect':
                    return self.answer(307, b'', [('Location', 'http://127.0.0.1:%d/b'
                                                   % outer.other.server_address[1])])
                if digest == run_digest and outer.mode == 'loop':
                    return self.answer(307, b'', [('Location', p)])
                if digest in blobs:
                    return self.answer(200, blobs[digest])
                return self.answer(404, b'{}')

            do_HEAD = do_GET

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.other = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        for srv in (self.server, self.other):
            threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.url = 'oci://u:p@127.0.0.1:%d/ns' % self.server.server_address[1]

    def stop(self):
        for srv in (self.server, self.other):
            srv.shutdown()
            srv.server_close()


class Limits(Base):
    """What a registry answers is bounded, and credentials stay with their host."""

    def fake(self, mode):
        f = FakeRegistry(mode)
        self.addCleanup(f.stop)
        self.url = f.url
        return f

    def test_a_redirect_to_another_host_carries_no_credentials(self):
        f = self.fake('redirect')
        r = self.glarex('resource-get', 'fake', '1.0', 'run.sh')
        self.assertEqual(r.out, 'echo fake\n')
        other = [a for port, _, a in f.seen if port == f.other.server_address[1]]
        self.assertEqual(other, [None])
        self.assertTrue(any(a for port, _, a in f.seen
                            if port == f.server.server_address[1]))

    def test_redirects_are_capped(self):
        self.fake('loop')
        r = self.glarex('resource-get', 'fake', '1.0', 'run.sh', code=1)
        self.assertIn('redirected too many times', r.err)

    def test_manifests_are_capped(self):
        self.fake('big')
        r = self.glarex('resource-get', 'fake', '1.0', 'run.sh', code=1)
        self.assertIn('GET the manifest of ns/fake:1.0.0', r.err)
        self.assertIn('larger than the 4194304-byte cap', r.err)

    def test_configs_are_capped(self):
        self.fake('bigconfig')
        r = self.glarex('resource-get', 'fake', '1.0', 'run.sh', code=1)
        self.assertIn('GET the config of ns/fake:1.0.0', r.err)
        self.assertIn('larger than the 1048576-byte cap', r.err)

    def test_tag_pages_are_capped(self):
        f = self.fake('pages')
        r = self.glarex('resource-get', 'fake', '1.0', 'run.sh', code=1)
        self.assertIn('more than 100 pages of 1000 names', r.err)
        self.assertLessEqual(len([p for _, p, _ in f.seen if '/tags/list' in p]), 202)


if __name__ == '__main__':
    S.build_dir()
    unittest.main()
