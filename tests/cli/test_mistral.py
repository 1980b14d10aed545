#!/usr/bin/python3
"""workflow-create against a real Mistral API server (Debian python3-mistral).

    /usr/bin/python3 tests/cli/test_mistral.py --build-dir build [-v]

The test starts Mistral's API (``python3 -m mistral.cmd.launch --server
api``) on 127.0.0.1 with authentication disabled, the fake transport and a
SQLite database whose schema it creates with mistral.db.v2.api.setup_db()
(the alembic migrations do not run on SQLite), plus tests/glare_server.py.
It checks that one workflow-create stores the artifact in Glare and the
workflow in Mistral, and that a failure on either side leaves neither.

Exits 77 (meson: skipped) when the mistral package is not installed.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cli_support as S  # noqa: E402

MISTRAL_CONF = """[DEFAULT]
transport_url = fake:/
[api]
host = 127.0.0.1
port = %(port)d
api_workers = 1
[pecan]
auth_enable = false
[database]
connection = sqlite:///%(db)s
[oslo_policy]
enforce_scope = false
"""

SETUP_DB = """
import sys
from mistral import config
config.parse_args(['--config-file', sys.argv[1]])
from mistral.db.v2 import api as db_api
db_api.setup_db()
"""

INVALID_FOR_MISTRAL = """---
version: '2.0'
broken:
  tasks:
    t:
      action: std.echo output=<% glare('broken', '1.0', 's.sh') %>
      no-such-property: 1
"""


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Mistral:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='glarex-mistral-')
        port = free_port()
        self.url = 'http://127.0.0.1:%d' % port
        conf = os.path.join(self.dir, 'mistral.conf')
        with open(conf, 'w') as f:
            f.write(MISTRAL_CONF % {'port': port,
                                    'db': os.path.join(self.dir, 'mistral.db')})
        log = open(os.path.join(self.dir, 'log'), 'wb')
        subprocess.run([S.PYTHON, '-c', SETUP_DB, conf], check=True, stdout=log,
                       stderr=log, timeout=120, cwd=self.dir)
        # its own session, so stop() can end the API and any worker it forked
        self.proc = subprocess.Popen(
            [S.PYTHON, '-m', 'mistral.cmd.launch', '--server', 'api',
             '--config-file', conf], stdout=log, stderr=log, cwd=self.dir,
            start_new_session=True)
        log.close()
        deadline = time.time() + 120
        while True:
            try:
                self.workflows()
                return
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    self.stop()
                    raise RuntimeError('the Mistral API did not start; see its log')
                time.sleep(0.3)

    def workflows(self):
        with urllib.request.urlopen(self.url + '/v2/workflows', timeout=10) as r:
            return json.loads(r.read())['workflows']

    def names(self):
        return sorted(w['name'] for w in self.workflows())

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class MistralBase(unittest.TestCase):
    """Real Mistral and a Glare server for the class; per test a home, a project of its
    own, and no workflow in Mistral."""

    @classmethod
    def setUpClass(cls):
        cls.mistral = Mistral()
        cls.glare = S.GlareServer()

    @classmethod
    def tearDownClass(cls):
        cls.glare.stop()
        cls.mistral.stop()

    def setUp(self):
        self.home = tempfile.mkdtemp(prefix='glarex-cli-test-')
        self.addCleanup(shutil.rmtree, self.home, True)
        self.project = 'p' + self.id().rsplit('.', 1)[-1][:40]
        self.env = S.clean_environ(self.home)
        self.env.update(GLARE_URL=self.glare.url,
                        OS_AUTH_TOKEN='alice:%s:member' % self.project)
        self.glare.clear_faults()
        for w in self.mistral.workflows():
            req = urllib.request.Request(self.mistral.url + '/v2/workflows/' + w['id'],
                                         method='DELETE')
            urllib.request.urlopen(req, timeout=10).close()

    def glarex(self, *args, code=0, env=None):
        e = dict(self.env)
        e.update(env or {})
        r = S.run(args, e)
        if code is not None:
            self.assertEqual(r.code, code, r)
        return r

    def mine(self):
        return sorted((a['version'], a['status']) for a in self.glare.artifacts()
                      if a['owner'] == self.project)



class MistralTests(MistralBase):
    def create(self, *extra, code=0, env=None):
        return self.glarex('workflow-create', S.EXAMPLE_WF, '-r', S.EXAMPLE_SCRIPT,
                           *extra, code=code, env=env)

    def test_one_command_creates_both(self):
        r = self.create('--mistral-url', self.mistral.url, '-f', 'json')
        art = r.json
        self.assertEqual(art['status'], 'active')
        self.assertEqual([w['name'] for w in art['mistral']], ['heal_vms'])
        self.assertEqual(self.mistral.names(), ['heal_vms'])
        [wf] = self.mistral.workflows()
        with open(S.EXAMPLE_WF) as f:
            self.assertEqual(wf['definition'], f.read())
        self.assertEqual(wf['id'], art['mistral'][0]['id'])
        self.assertEqual(self.mine(), [('1.0.0', 'active')])

    def test_mistral_url_from_the_environment(self):
        r = self.create(env={'MISTRAL_URL': self.mistral.url + '/v2'})
        self.assertIn('mistral:', r.out)
        self.assertEqual(self.mistral.names(), ['heal_vms'])
        # a dry run names Mistral and changes nothing
        self.glarex('workflow-delete', 'heal_vms@1.0')
        r = self.create('--dry-run', env={'MISTRAL_URL': self.mistral.url})
        self.assertIn('would create 1 workflow(s) in', r.out)

    def test_a_mistral_failure_rolls_back_glare(self):
        self.create('--mistral-url', self.mistral.url)
        # a definition Mistral rejects: its message, and nothing left anywhere
        # (a new version of heal_vms updates Mistral's: test_mistral_update.py)
        bad = os.path.join(self.home, 'broken.yaml')
        with open(bad, 'w') as f:
            f.write(INVALID_FOR_MISTRAL)
        r = self.glarex('workflow-create', bad, '-r', 's.sh=' + S.EXAMPLE_SCRIPT,
                        '--mistral-url', self.mistral.url, code=1)
        self.assertIn('POST /v2/workflows: 400', r.err)
        self.assertEqual(self.mine(), [('1.0.0', 'active')])
        self.assertEqual(self.mistral.names(), ['heal_vms'])

    def test_a_glare_failure_after_mistral_rolls_back_mistral(self):
        # activation is the last step, after Mistral has the workflow
        self.glare.fault(kind='500', method='PATCH', path='/artifacts/*', count=-1)
        r = self.create('--mistral-url', self.mistral.url, '-v', code=1)
        self.assertIn('500', r.err)
        self.assertEqual(self.mistral.names(), [])
        self.assertEqual(self.mine(), [])

    def test_unreachable_mistral(self):
        r = self.create('--mistral-url', 'http://127.0.0.1:%d' % free_port(), code=1)
        self.assertIn('POST /v2/workflows', r.err)
        self.assertEqual(self.mine(), [])


def main():
    """Runs the tests of the __main__ module; exits 77 without Mistral."""
    S.build_dir()
    try:
        subprocess.run([S.PYTHON, '-c', 'import mistral.cmd.launch'], check=True,
                       capture_output=True, timeout=120)
    except (subprocess.CalledProcessError, OSError):
        print('python3-mistral is not installed: skipping')
        sys.exit(77)
    unittest.main()


if __name__ == '__main__':
    main()
