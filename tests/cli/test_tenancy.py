#!/usr/bin/python3
"""Identities, as-of times, self references and invalidation through the glarex
command, run as a user runs it (one cache directory shared by every command).

    /usr/bin/python3 tests/cli/test_tenancy.py --build-dir build [-v]
"""

import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cli_support as S  # noqa: E402

ALICE = 'alice:projA:member'
BOB = 'bob:projB:member'

WF = """---
version: '2.0'
%(name)s:
  tasks:
    run:
      action: std.echo output=<%% glare('%(ref)s') %%>
"""


class Tenancy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = S.GlareServer()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.home = tempfile.mkdtemp(prefix='glarex-tenancy-test-')
        self.addCleanup(shutil.rmtree, self.home, True)
        self.env = S.clean_environ(self.home)
        self.env.update(GLARE_URL=self.server.url,
                        GLAREX_CACHE_DIR=os.path.join(self.home, 'cache'))

    def glarex(self, *args, token=ALICE, env=None, code=0):
        e = dict(self.env, OS_AUTH_TOKEN=token)
        e.update(env or {})
        r = S.run(args, e)
        if code is not None:
            self.assertEqual(r.code, code, r)
        return r

    def write(self, name, text):
        path = os.path.join(self.home, name)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def create(self, name, version, content, token=ALICE, ref='run.sh',
               extra=()):
        wf = self.write(name + '.yaml', WF % {'name': name, 'ref': ref})
        script = self.write('run-%s-%s.sh' % (name, version), content)
        return self.glarex('workflow-create', wf, '--name', name, '--version',
                           version, '-r', 'run.sh=' + script, *extra,
                           token=token)

    def test_projects_share_a_cache_not_private_bytes(self):
        self.create('repro', '1.0', 'echo alice secret\n', token=ALICE)
        r = self.glarex('resource-get', 'repro', '1.0', 'run.sh', token=ALICE)
        self.assertEqual(r.out, 'echo alice secret\n')
        # bob's project has no such artifact: the store's answer, no bytes
        r = self.glarex('resource-get', 'repro', '1.0', 'run.sh', token=BOB,
                        code=1)
        self.assertEqual(r.out, '')
        self.assertIn('no artifact', r.err)
        r = self.glarex('eval', "<% glare('repro', '1.0', 'run.sh') %>",
                        token=BOB, code=1)
        self.assertNotIn('secret', r.out + r.err)
        # with its own artifact of the same name and version, bob reads his own
        self.create('repro', '1.0', 'echo bob\n', token=BOB)
        r = self.glarex('resource-get', 'repro', '1.0', 'run.sh', token=BOB)
        self.assertEqual(r.out, 'echo bob\n')
        r = self.glarex('resource-get', 'repro', '1.0', 'run.sh', token=ALICE)
        self.assertEqual(r.out, 'echo alice secret\n')

    def test_delete_and_recreate_is_seen_at_once(self):
        self.create('again', '1.0', 'first\n')
        r = self.glarex('eval', "<% glare('again', '1.0', 'run.sh') %>")
        self.assertEqual(r.out.strip(), '"first\\n"')
        self.glarex('workflow-delete', 'again@1.0')
        self.create('again', '1.0', 'second\n')
        for args in (('eval', "<% glare('again', '1.0', 'run.sh') %>"),
                     ('resource-get', 'again', '1.0', 'run.sh')):
            r = self.glarex(*args)
            self.assertIn('second', r.out)
            self.assertNotIn('first', r.out)

    def test_cache_invalidate_for_changes_made_elsewhere(self):
        self.create('elsewhere', '1.0', 'old\n')
        self.glarex('resource-get', 'elsewhere', '1.0', 'run.sh')
        # another client replaces the artifact behind glarex's back
        [art] = self.server.artifacts(name='elsewhere')
        self.server.request('DELETE', '/artifacts/workflows/' + art['id'],
                            token=ALICE)
        self.create('elsewhere', '1.0', 'new\n',
                    extra=('--cache-dir', os.path.join(self.home, 'other')))
        r = self.glarex('resource-get', 'elsewhere', '1.0', 'run.sh')
        self.assertEqual(r.out, 'old\n')  # remembered for its TTL, as documented
        r = self.glarex('cache', 'invalidate', 'elsewhere@1.0')
        self.assertIn("'elsewhere'", r.out)
        r = self.glarex('resource-get', 'elsewhere', '1.0', 'run.sh')
        self.assertEqual(r.out, 'new\n')

    def test_as_of_and_self_references(self):
        self.create('selfwf', '1.0', 'one\n', ref='run.sh')
        t1 = int(time.time())
        time.sleep(max(0.0, t1 + 1.05 - time.time()))
        self.create('selfwf', '1.1', 'two\n', ref='run.sh')
        env = {'GLAREX_AS_OF_SKEW': '0'}
        r = self.glarex('eval', '--workflow', 'selfwf', "<% glare('run.sh') %>")
        self.assertEqual(r.out.strip(), '"two\\n"')
        # as of t1, with no allowance for clock skew, 1.1 is not there yet ...
        r = self.glarex('eval', '--workflow', 'selfwf', '--as-of',
                        '@%d' % t1, "<% glare('run.sh') %>", env=env)
        self.assertEqual(r.out.strip(), '"one\\n"')
        # ... and with the default allowance (10 s) it is
        r = self.glarex('eval', '--workflow', 'selfwf', '--as-of',
                        '@%d' % t1, "<% glare('run.sh') %>")
        self.assertEqual(r.out.strip(), '"two\\n"')
        r = self.glarex('resolve', '--workflow', 'selfwf@1.1',
                        'glare://run.sh', '-f', 'json')
        self.assertIn('"version": "1.1.0"', r.out.replace('":"', '": "'))
        r = self.glarex('eval', "<% glare('run.sh') %>", code=1)
        self.assertIn('--workflow', r.err)
        r = self.glarex('eval', '--as-of', 'soon', '<% 1 %>', code=2)
        self.assertIn('--as-of', r.err)

    def test_create_warns_about_a_hard_coded_own_version(self):
        self.create('pinned', '1.0', 'x\n', ref='run.sh')
        wf = self.write('hard.yaml', """---
version: '2.0'
pinned:
  tasks:
    run:
      action: std.echo output=<% glare('pinned', '1.0', 'run.sh') %>
""")
        script = self.write('s.sh', 'y\n')
        r = self.glarex('workflow-create', wf, '--name', 'pinned', '--version',
                        '1.1', '-r', 'run.sh=' + script, '--dry-run')
        self.assertIn("reads version 1.0.0 of 'pinned'", r.err)
        self.assertIn("glare('run.sh')", r.err)


if __name__ == '__main__':
    S.build_dir()  # consumes --build-dir
    unittest.main()
