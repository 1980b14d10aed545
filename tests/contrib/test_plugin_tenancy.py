#!/usr/bin/python3
"""The Mistral plugin in a real, authenticated Mistral engine process.

One Mistral 15 process (API, engine and executor; in-memory transport,
SQLite) runs with authentication on: keystonemiddleware validates every
token against a Keystone v3 stand-in on 127.0.0.1 (TokenKeystone below),
which accepts the trusted-auth tokens "user:project:roles" that
tests/glare_server.py also accepts. So each execution carries its own
security context, and the plugin must fetch as that identity:

- two projects own private artifacts of the same name and version with
  different bytes: each project's execution gets its own bytes, and a
  project without access gets the store's error, never bytes, although the
  engine's OS_AUTH_TOKEN is one of the two projects';
- a download the store delays by 5 s does not stop the engine: a Mistral
  API request to the same process answers in well under a second;
- glare('heal_vm_script.sh') names the running workflow's own artifact as
  of the execution's start: executions started before and after a new
  version is published run their matching script, and a sub-workflow sees
  its root execution's versions.

meson runs this file in the 'contrib' suite. To run it by hand:

    GLAREX_TEST_BUILD_DIR=build /usr/bin/python3 \\
        tests/contrib/test_plugin_tenancy.py
"""

import copy
import datetime
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test_contrib import (MISTRAL_PLUGIN_DIR, PYTHON,  # noqa: E402
                          GlareServer, install_mistral_plugin,
                          preload_sanitizer_runtime)

ALICE = 'alice:projA:member'
BOB = 'bob:projB:member'
CAROL = 'carol:projC:member'

# Long enough for an engine that blocks to be obvious, short for the suite.
DELAY_S = 5
# What the API may take while a download is pending elsewhere.
API_BUDGET_S = 1.0
# The plugin's as-of allowance in the engine (GLAREX_AS_OF_SKEW), small
# so that a version published a few seconds after a start is not "as of" it.
SKEW_MS = 1000

glare = None        # the GlareServer (trusted auth, control API)
keystone = None     # the TokenKeystone
mistral = None      # the MistralServer


def setUpModule():
    global glare, keystone, mistral
    for var in ('http_proxy', 'https_proxy', 'all_proxy', 'HTTP_PROXY',
                'HTTPS_PROXY', 'ALL_PROXY', 'no_proxy', 'NO_PROXY'):
        os.environ.pop(var, None)
    glare = GlareServer('--control').start()
    try:
        keystone = TokenKeystone().start()
        mistral = MistralServer(glare.url, keystone.url).start()
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    for owner in (mistral, keystone, glare):
        if owner is not None:
            (owner.stop if hasattr(owner, 'stop') else owner.cleanup)()


def as_project(token):
    """The test Glare server, called with another project's token."""
    view = copy.copy(glare)
    view.token = token
    return view


def publish(token, name, version, resources):
    view = as_project(token)
    af = view.create_draft(name, version)
    base = '/artifacts/workflows/%s' % af['id']
    view.expect(200, 'PUT', base + '/workflow', b'version: "2.0"\n',
                'application/x-yaml')
    for key, data in resources.items():
        view.expect(200, 'PUT', base + '/resources/' + key, data,
                    'text/x-shellscript')
    return view.expect(200, 'PATCH', base, json.dumps(
        [{'op': 'replace', 'path': '/status', 'value': 'active'}]).encode(),
        'application/json-patch+json')


class TokenKeystone:
    """Keystone v3 on 127.0.0.1, as much as keystonemiddleware uses: version
    discovery, a service token (POST /v3/auth/tokens) with a catalog naming
    this identity endpoint, and validation (GET /v3/auth/tokens) of subject
    tokens of the form user:project:role1,role2, which become that user
    in that project with those roles. Any other token is unknown (404)."""

    SERVICE_TOKEN = 'mistral:service:service'

    def __init__(self):
        self.server = self.thread = None
        self.validated = []     # subject tokens asked about, in order

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.server.server_address[1]

    def version(self):
        return {'id': 'v3.14', 'status': 'stable',
                'updated': '2020-04-07T00:00:00Z',
                'links': [{'rel': 'self', 'href': self.url + '/v3/'}],
                'media-types': [{'base': 'application/json',
                                 'type': 'application/'
                                         'vnd.openstack.identity-v3+json'}]}

    def token_body(self, token):
        user, project, roles = token.split(':')
        domain = {'id': 'default', 'name': 'Default'}
        endpoint = self.url + '/v3'
        return {'token': {
            'methods': ['password'],
            'issued_at': '2026-01-01T00:00:00.000000Z',
            'expires_at': '2099-01-01T00:00:00.000000Z',
            'user': {'id': user, 'name': user, 'domain': domain},
            'project': {'id': project, 'name': project, 'domain': domain},
            'roles': [{'id': r, 'name': r} for r in roles.split(',')],
            'catalog': [{'type': 'identity', 'name': 'keystone', 'id': 'ks',
                         'endpoints': [
                             {'id': i, 'interface': i, 'url': endpoint,
                              'region': 'RegionOne',
                              'region_id': 'RegionOne'}
                             for i in ('public', 'internal', 'admin')]}]}}

    def start(self):
        keystone = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, fmt, *args):
                pass

            def reply(self, status, body, token=None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                if token:
                    self.send_header('X-Subject-Token', token)
                self.end_headers()
                self.wfile.write(data)

            def not_found(self):
                self.reply(404, {'error': {
                    'code': 404, 'title': 'Not Found',
                    'message': 'The resource could not be found.'}})

            def do_GET(self):
                path = self.path.split('?')[0].rstrip('/')
                if path == '':
                    return self.reply(300, {'versions': {
                        'values': [keystone.version()]}})
                if path == '/v3':
                    return self.reply(200, {'version': keystone.version()})
                if path != '/v3/auth/tokens' or \
                        self.headers.get('X-Auth-Token') != \
                        keystone.SERVICE_TOKEN:
                    return self.not_found()
                subject = self.headers.get('X-Subject-Token', '')
                keystone.validated.append(subject)
                parts = subject.split(':')
                if len(parts) != 3 or not all(parts):
                    return self.not_found()
                self.reply(200, keystone.token_body(subject), subject)

            def do_POST(self):
                self.rfile.read(int(self.headers.get('Content-Length', 0)))
                if self.path.rstrip('/') != '/v3/auth/tokens':
                    return self.not_found()
                self.reply(201, keystone.token_body(keystone.SERVICE_TOKEN),
                           keystone.SERVICE_TOKEN)

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                      Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


MISTRAL_CONF = """\
[DEFAULT]
transport_url = fake:/
graceful_shutdown_timeout = 5
log_file = {dir}/mistral.log
auth_type = keystone

[api]
host = 127.0.0.1
port = {port}
api_workers = 1

[pecan]
auth_enable = True

[keystone_authtoken]
www_authenticate_uri = {keystone}/v3
auth_url = {keystone}/v3
auth_type = password
username = mistral
password = secret
project_name = service
user_domain_name = Default
project_domain_name = Default
interface = public

[database]
connection = sqlite:///{dir}/mistral.sqlite

[executor]
type = local

[notifier]
type = local

[coordination]
backend_url =
"""

# mistral-server with the API in this process: with the in-memory transport
# a forked API would send its calls to a queue nobody reads.
LAUNCHER = """\
import sys
from mistral.cmd import launch
launch.launch_process = launch.launch_thread
sys.exit(launch.main())
"""


def free_port():
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class MistralServer:
    """Mistral 15 in one process on 127.0.0.1, authentication on, with the
    plugin installed and libglarex from GLAREX_TEST_BUILD_DIR."""

    def __init__(self, glare_url, keystone_url):
        build = os.environ.get('GLAREX_TEST_BUILD_DIR')
        if not build:
            raise RuntimeError('GLAREX_TEST_BUILD_DIR is not set')
        self.library = os.path.abspath(os.path.join(build, 'src',
                                                    'libglarex.so.0'))
        if not os.path.exists(self.library):
            raise RuntimeError('%s is missing: build first' % self.library)
        self.glare_url, self.keystone_url = glare_url, keystone_url
        self.dir = tempfile.mkdtemp(prefix='glarex-tenancy-')
        self.proc = self.log = None
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}))

    def mistral(self, *args):
        subprocess.run([PYTHON] + list(args), check=True, cwd=self.dir,
                       env=self.env, capture_output=True)

    def start(self):
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        conf = os.path.join(self.dir, 'mistral.conf')
        with open(conf, 'w') as fobj:
            fobj.write(MISTRAL_CONF.format(dir=self.dir, port=self.port,
                                           keystone=self.keystone_url))
        launcher = os.path.join(self.dir, 'launch.py')
        with open(launcher, 'w') as fobj:
            fobj.write(LAUNCHER)
        site = os.path.join(self.dir, 'site')
        install_mistral_plugin(site)
        self.env = dict(
            os.environ, PYTHONPATH=os.pathsep.join([MISTRAL_PLUGIN_DIR, site]),
            PYTHONDONTWRITEBYTECODE='1', GLARE_URL=self.glare_url,
            # The engine's own token: projA's. No execution of another
            # project may ever be served with it.
            OS_AUTH_TOKEN=ALICE,
            GLAREX_CACHE_DIR=os.path.join(self.dir, 'cache'),
            GLAREX_LIBRARY=self.library,
            GLAREX_AS_OF_SKEW=str(SKEW_MS / 1000))
        self.env.pop('GLAREX_OFFLINE', None)
        # The schema from Mistral's models (its migrations fail on SQLite).
        self.mistral('-c', 'from mistral import config; config.parse_args('
                     '["--config-file", "mistral.conf"]); from mistral.db.v2 '
                     'import api; api.setup_db()')
        for step in ('stamp', 'head'), ('populate',):
            self.mistral('-m', 'mistral.db.sqlalchemy.migration.cli',
                         '--config-file', conf, *step)
        self.log = open(os.path.join(self.dir, 'server.out'), 'wb')
        self.proc = subprocess.Popen(
            [PYTHON, launcher, '--server', 'all', '--config-file', conf],
            cwd=self.dir, env=self.env, stdout=self.log,
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('Mistral exited with %d: %s'
                                   % (self.proc.returncode, self.output()))
            try:
                self.call('GET', '/v2/', None)
                return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError('Mistral did not answer within 90 s: %s'
                           % self.output())

    def output(self):
        text = ''
        for name in ('server.out', 'mistral.log'):
            path = os.path.join(self.dir, name)
            if os.path.exists(path):
                with open(path, 'rb') as fobj:
                    text += fobj.read()[-4000:].decode('utf-8', 'replace')
        return text

    def stop(self):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def call(self, method, path, token, body=None, ctype='application/json'):
        req = urllib.request.Request(self.url + path, data=body,
                                     method=method)
        if token:
            req.add_header('X-Auth-Token', token)
        if body is not None:
            req.add_header('Content-Type', ctype)
        try:
            with self.opener.open(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read() or b'null')
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read()[:2000]

    def expect(self, status, method, path, token, body=None,
               ctype='application/json'):
        got, data = self.call(method, path, token, body, ctype)
        if got != status:
            raise AssertionError('%s %s: expected %d, got %d: %r'
                                 % (method, path, status, got, data))
        return data

    def define(self, token, yaml_text, update=False):
        """workflow-create (or workflow-update) in the token's project."""
        return self.expect(200 if update else 201,
                           'PUT' if update else 'POST', '/v2/workflows',
                           token, yaml_text.encode(), 'text/plain')

    def start_execution(self, token, workflow):
        return self.expect(201, 'POST', '/v2/executions', token, json.dumps(
            {'workflow_name': workflow}).encode())

    def wait(self, token, execution, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ex = self.expect(200, 'GET', '/v2/executions/' + execution['id'],
                             token)
            if ex['state'] not in ('IDLE', 'RUNNING'):
                return ex
            time.sleep(0.2)
        raise AssertionError('execution %s still %s after %d s: %s'
                             % (execution['id'], ex['state'], timeout,
                                self.output()))


def started_ms(execution):
    """The execution's created_at, as Mistral's API gives it (UTC)."""
    stamp = datetime.datetime.strptime(execution['created_at'],
                                       '%Y-%m-%d %H:%M:%S')
    return (stamp - datetime.datetime(1970, 1, 1)) // \
        datetime.timedelta(milliseconds=1)


def one_fetch_workflow(workflow, artifact, key):
    """A workflow whose output `text` is glare(artifact, '1.0', key)."""
    return """\
version: '2.0'
%s:
  output:
    text: <%% task(fetch).result %%>
  tasks:
    fetch:
      action: std.echo output=<%% glare('%s', '1.0', '%s') %%>
""" % (workflow, artifact, key)


class TenancyTest(unittest.TestCase):
    """Each execution fetches as its own security context."""

    WORKFLOW = one_fetch_workflow('tenancy_wf', 'shared_wf', 's.sh')

    @classmethod
    def setUpClass(cls):
        cls.bytes = {ALICE: b'#!/bin/sh\necho project A\n',
                     BOB: b'#!/bin/sh\necho project B\n'}
        for token, data in cls.bytes.items():
            publish(token, 'shared_wf', '1.0', {'s.sh': data})
        for token in (ALICE, BOB, CAROL):
            mistral.define(token, cls.WORKFLOW)

    def test_each_project_gets_its_own_bytes(self):
        started = {token: mistral.start_execution(token, 'tenancy_wf')
                   for token in (ALICE, BOB, CAROL)}
        done = {token: mistral.wait(token, ex)
                for token, ex in started.items()}
        for token in (ALICE, BOB):
            with self.subTest(project=token):
                self.assertEqual(done[token]['state'], 'SUCCESS',
                                 done[token].get('state_info'))
                self.assertEqual(json.loads(done[token]['output']),
                                 {'text': self.bytes[token].decode()})
        carol = done[CAROL]
        self.assertEqual(carol['state'], 'ERROR', carol['output'])
        # The store's answer to projC: no such artifact; never bytes.
        error = carol['state_info']
        self.assertTrue("error=glare('shared_wf', '1.0', 's.sh'): no artifact "
                        "'shared_wf' version 1.0.0 in workflows" in error,
                        error[:600])
        for data in self.bytes.values():
            self.assertNotIn(data.decode().strip(), error)
        self.assertIn(CAROL, keystone.validated)


class HubTest(unittest.TestCase):
    """A download does not stop the engine's other green threads."""

    WORKFLOW = one_fetch_workflow('slow_wf', 'slow_wf', 'slow.sh')

    def test_api_answers_while_a_download_waits(self):
        data = b'#!/bin/sh\necho slow\n'
        publish(ALICE, 'slow_wf', '1.0', {'slow.sh': data})
        mistral.define(ALICE, self.WORKFLOW)
        glare.expect(201, 'POST', '/__control/faults', json.dumps({
            'kind': 'delay', 'seconds': DELAY_S, 'method': 'GET',
            'path': '/artifacts/workflows/*/resources/slow.sh'}).encode(),
            'application/json')
        # Mistral may evaluate the first task inside POST /v2/executions:
        # start it from another thread, and measure once the download waits.
        started = []
        poster = threading.Thread(target=lambda: started.append(
            mistral.start_execution(ALICE, 'slow_wf')))
        poster.start()
        # The rule is taken when the download arrives, before the delay.
        deadline = time.monotonic() + 30
        while glare.expect(200, 'GET', '/__control/faults')['faults']:
            self.assertLess(time.monotonic(), deadline,
                            'the engine never asked for slow.sh')
            time.sleep(0.05)
        begin = time.monotonic()
        mistral.expect(200, 'GET', '/v2/workflows', ALICE)
        took = time.monotonic() - begin
        self.assertLess(took, API_BUDGET_S,
                        'GET /v2/workflows took %.1f s while one execution '
                        'waited for a download' % took)
        poster.join(60)
        self.assertEqual(len(started), 1, 'POST /v2/executions failed')
        done = mistral.wait(ALICE, started[0])
        self.assertEqual(done['state'], 'SUCCESS', done.get('state_info'))
        self.assertEqual(json.loads(done['output']), {'text': data.decode()})


class SelfReferenceTest(unittest.TestCase):
    """glare('key') is the running workflow's artifact as of the root
    execution's start."""

    WORKFLOW = """\
version: '2.0'
heal_vm:
  output:
    own: <% task(run).result %>
    sub: <% task(sub).result.own %>
  tasks:
    pause:
      action: std.sleep seconds=6
      on-success: run
    run:
      action: std.echo output=<% glare('heal_vm_script.sh') %>
      on-success: sub
    sub:
      workflow: heal_sub
heal_sub:
  output:
    own: <% task(run).result %>
  tasks:
    run:
      action: std.echo output=<% glare('glare://heal_sub_script.sh') %>
"""

    @staticmethod
    def scripts(version):
        return ({'heal_vm_script.sh': b'echo heal_vm %s\n' % version},
                {'heal_sub_script.sh': b'echo heal_sub %s\n' % version})

    def publish(self, version):
        own, sub = self.scripts(version.encode())
        publish(ALICE, 'heal_vm', version, own)
        publish(ALICE, 'heal_sub', version, sub)

    def expected(self, version):
        own, sub = self.scripts(version.encode())
        return {'own': own['heal_vm_script.sh'].decode(),
                'sub': sub['heal_sub_script.sh'].decode()}

    def test_executions_run_the_versions_of_their_start(self):
        self.publish('1.0')
        mistral.define(ALICE, self.WORKFLOW)
        before = mistral.start_execution(ALICE, 'heal_vm')
        # Publish 2.0 once the first execution's start (plus the as-of
        # allowance) is past, while it still sleeps; its sub-workflow starts
        # after that.
        publish_at = started_ms(before) + SKEW_MS + 1500
        time.sleep(max(0.0, publish_at / 1000 - time.time()))
        self.publish('2.0')
        mistral.define(ALICE, self.WORKFLOW, update=True)
        after = mistral.start_execution(ALICE, 'heal_vm')
        done_before = mistral.wait(ALICE, before)
        done_after = mistral.wait(ALICE, after)
        for done, version in ((done_before, '1.0'), (done_after, '2.0')):
            with self.subTest(version=version):
                self.assertEqual(done['state'], 'SUCCESS',
                                 done.get('state_info'))
                self.assertEqual(json.loads(done['output']),
                                 self.expected(version))


class InProcessIdentityTest(unittest.TestCase):
    """The plugin with Mistral's own context objects in this process, for
    what a test engine cannot easily produce."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='glarex-identity-')
        os.environ.update({
            'GLARE_URL': glare.url, 'OS_AUTH_TOKEN': ALICE,
            'GLAREX_CACHE_DIR': os.path.join(cls.tmp, 'cache'),
            'GLAREX_LIBRARY': mistral.library})
        install_mistral_plugin(os.path.join(cls.tmp, 'site'))
        import importlib
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            importlib.import_module('mistral.config')   # its options
            cls.auth_ctx = importlib.import_module('mistral.context')
        importlib.import_module('oslo_config.cfg').CONF.set_override(
            'auth_enable', True, group='pecan')
        cls.plugin = importlib.import_module('glarex_mistral')
        cls.caller = importlib.import_module('glarex_mistral._caller')
        cls.data = b'#!/bin/sh\necho trusted by projB\n'
        publish(BOB, 'trust_wf', '1.0', {'t.sh': cls.data})

    @classmethod
    def tearDownClass(cls):
        cls.auth_ctx.set_ctx(None)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_trust_scoped_context(self):
        """A trust-scoped context (Mistral's cron triggers) is the
        execution's identity like any other: projB's token, not the
        engine's projA one."""
        self.auth_ctx.set_ctx(self.auth_ctx.MistralContext(
            auth_token=BOB, project_id='projB', user_id='trustee',
            roles=['member'], is_trust_scoped=True, trust_id='trust-1'))
        try:
            self.assertEqual(self.plugin.glare_(None, 'trust_wf', '1.0',
                                                't.sh'), self.data.decode())
        finally:
            self.auth_ctx.set_ctx(None)

    def test_no_security_context_fails_without_a_request(self):
        self.auth_ctx.set_ctx(None)
        before = glare.requests()
        with self.assertRaises(self.plugin.GlarexError) as cm:
            self.plugin.glare_(None, 'trust_wf', '1.0', 't.sh')
        self.assertEqual(cm.exception.code, -11)     # GLAREX_EAUTH
        self.assertIn('without a security context', str(cm.exception))
        self.assertEqual(glare.requests(), before)

    def test_start_is_utc_whatever_the_local_zone(self):
        saved = os.environ.get('TZ')
        os.environ['TZ'] = 'America/New_York'
        time.tzset()
        try:
            self.assertEqual(self.caller.epoch_ms(
                datetime.datetime(2026, 12, 3, 10, 40, 5, 123999)),
                1796294405123)
        finally:
            if saved is None:
                os.environ.pop('TZ')
            else:
                os.environ['TZ'] = saved
            time.tzset()

    def test_execution_cache_is_bounded(self):
        from unittest import mock
        reads = []

        def read(execution_id):
            reads.append(execution_id)
            return 'wf', 0

        with mock.patch.object(self.caller, 'EXECUTION_CACHE_SIZE', 3), \
                mock.patch.object(self.caller, '_read_execution', read), \
                mock.patch.object(self.caller, '_executions',
                                  type(self.caller._executions)()):
            for execution_id in 'abcde':
                self.caller._execution(execution_id)
            self.caller._execution('e')
            self.assertEqual(list(self.caller._executions), ['c', 'd', 'e'])
            self.caller._execution('a')
            self.assertEqual(reads, list('abcdea'))


if __name__ == '__main__':
    preload_sanitizer_runtime()
    unittest.main()
