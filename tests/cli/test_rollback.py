#!/usr/bin/python3
"""workflow-create leaves nothing half-made, interrupts included.

    /usr/bin/python3 tests/cli/test_rollback.py --build-dir build [-v]

The Glare server here behaves like the real one (glare-api.md section 15):
an upload the client breaks off ends in a 500 and the artifact answers 409
to DELETE for about a second.  SIGINT or SIGTERM arrives while a resource is
being uploaded (the server reads it slowly); afterwards no artifact may be
left.  A draft that cannot be deleted in time is named with the command that
removes it, and a later workflow-create of that name and version offers to
replace a draft glarex left, never anybody else's.
"""

import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cli_support as S  # noqa: E402

WF = """---
version: '2.0'
two:
  tasks:
    a:
      action: std.echo output=<% glare('two', '1.0', 'a.sh') %>
      on-success: b
    b:
      action: std.echo output=<% glare('two', '1.0', 'big.bin') %>
"""
# Read at 256 KiB per 0.1 s, the upload takes 3.2 s; when the signal comes, more
# is still unsent than the sockets' buffers hold, so the upload is broken off.
BIG = 8 << 20
ADMIN = 'root:admin:admin'


class RollbackBase(unittest.TestCase):
    SERVER_ARGS = ()

    @classmethod
    def setUpClass(cls):
        cls.server = S.GlareServer(*cls.SERVER_ARGS)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.home = tempfile.mkdtemp(prefix='glarex-rollback-test-')
        self.addCleanup(shutil.rmtree, self.home, True)
        self.project = 'p' + self.id().rsplit('.', 1)[-1][:40]
        self.env = S.clean_environ(self.home)
        self.env.update(GLARE_URL=self.server.url,
                        OS_AUTH_TOKEN='alice:%s:member' % self.project)
        self.server.clear_faults()
        self.wf = self.write('two.yaml', WF.encode())
        self.a = self.write('a.sh', b'echo a\n')
        self.big = self.write('big.bin', os.urandom(BIG))

    def write(self, name, data):
        path = os.path.join(self.home, name)
        with open(path, 'wb') as f:
            f.write(data)
        return path

    def mine(self):
        return [a for a in self.server.artifacts() if a['owner'] == self.project]

    def create_args(self, *extra):
        return ['workflow-create', self.wf, '-r', self.a, '-r', self.big] + \
            list(extra)

    def slow_uploads(self):
        self.server.fault(kind='slowread', method='PUT',
                          path='*/resources/big.bin', chunk=256 << 10,
                          interval=0.1, count=-1)

    def wait_for_saving(self, timeout=30):
        """Until the big resource is being uploaded."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for art in self.mine():
                if (art['resources'].get('big.bin') or {}).get('status') \
                        == 'saving':
                    return art
            time.sleep(0.05)
        self.fail('the upload never started')

    def interrupt(self, sig, *extra):
        """workflow-create, interrupted by `sig` in the middle of an upload."""
        self.slow_uploads()
        p = subprocess.Popen([S.glarex_binary()] + self.create_args(*extra),
                             env=self.env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        art = self.wait_for_saving()
        p.send_signal(sig)
        out, err = p.communicate(timeout=60)
        return p.returncode, err.decode(), art

    def glarex(self, *args, code=0):
        r = S.run(args, self.env)
        self.assertEqual(r.code, code, r)
        return r


class InterruptTests(RollbackBase):

    def check_interrupt(self, sig, code):
        rc, err, art = self.interrupt(sig, '-v')
        self.assertEqual(rc, code, err)
        self.assertIn('interrupted while uploading', err)
        self.assertIn('deleted the draft artifact %s' % art['id'], err)
        # the server saw the upload broken off (500) and refused a DELETE
        self.assertIn('cannot be deleted yet', err)
        with open(os.path.join(self.server.dir, 'log')) as f:
            self.assertIn('"PUT /artifacts/workflows/%s/resources/big.bin '
                          'HTTP/1.1" 500' % art['id'], f.read())
        self.assertEqual(self.mine(), [])

    def test_sigint_mid_upload_leaves_nothing(self):
        self.check_interrupt(signal.SIGINT, 130)

    def test_sigterm_mid_upload_leaves_nothing(self):
        self.check_interrupt(signal.SIGTERM, 143)

    def test_sigint_while_the_definition_uploads(self):
        # a definition as big as the resource, read as slowly
        with open(self.wf, 'a') as f:
            f.write(('# %s\n' % ('x' * 77)) * (BIG // 80))
        self.server.fault(kind='slowread', method='PUT', path='*/workflow',
                          chunk=256 << 10, interval=0.1, count=-1)
        p = subprocess.Popen([S.glarex_binary()] + self.create_args(),
                             env=self.env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        deadline = time.time() + 30
        while time.time() < deadline and not any(
                (a['workflow'] or {}).get('status') == 'saving'
                for a in self.mine()):
            time.sleep(0.05)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
        self.assertEqual(self.mine(), [], err)
        self.assertEqual(p.returncode, 130, err)
        self.assertIn('interrupted while uploading the workflow', err.decode())

    def test_interrupted_six_times_leaves_nothing(self):
        for _ in range(6):
            rc, err, _ = self.interrupt(signal.SIGINT)
            self.assertEqual(self.mine(), [], err)
            self.assertEqual(rc, 130, err)


class LeftDraftTests(RollbackBase):
    # The artifact stays undeletable longer than the rollback keeps trying.
    SERVER_ARGS = ('--aborted-upload-hold', '7')

    def left_draft(self):
        start = time.monotonic()
        rc, err, art = self.interrupt(signal.SIGINT)
        self.assertEqual(rc, 130, err)
        self.assertLess(time.monotonic() - start, 20)
        [left] = self.mine()
        self.assertEqual((left['id'], left['status']), (art['id'], 'drafted'))
        self.assertEqual(left['metadata'], {'created_by':
                                            'glarex workflow-create'})
        return left, err

    def wait_until_deletable(self, art_id):
        deadline = time.time() + 30
        while time.time() < deadline:
            art = self.server.request('GET', '/artifacts/workflows/' + art_id)[1]
            if all(b['status'] != 'saving'
                   for b in art['resources'].values()):
                return
            time.sleep(0.2)
        self.fail('the draft stays busy')

    def test_left_draft_is_named_with_its_removal(self):
        left, err = self.left_draft()
        self.assertIn('draft artifact %s (two 1.0.0) was left behind'
                      % left['id'], err)
        command = re.search(r'remove it with: (glarex .*)', err).group(1)
        self.assertEqual(command, 'glarex --glare-url %s workflow-delete %s'
                         % (self.server.url, left['id']))
        self.wait_until_deletable(left['id'])
        self.glarex(*command.split()[1:])
        self.assertEqual(self.mine(), [])

    def test_replace_draft(self):
        left, _ = self.left_draft()
        self.wait_until_deletable(left['id'])
        self.server.clear_faults()
        # not on a terminal: refused, with what to do
        r = self.glarex(*self.create_args(), code=1)
        self.assertIn('exists as a draft an earlier workflow-create left (id %s)'
                      % left['id'], r.err)
        self.assertIn('--replace-draft', r.err)
        self.assertEqual([a['id'] for a in self.mine()], [left['id']])
        # with the flag: replaced
        self.glarex(*self.create_args('--replace-draft'))
        [art] = self.mine()
        self.assertNotEqual(art['id'], left['id'])
        self.assertEqual(art['status'], 'active')

    def test_replace_draft_asks_on_a_terminal(self):
        left, _ = self.left_draft()
        self.wait_until_deletable(left['id'])
        self.server.clear_faults()
        for answer, kept in ((b'n\n', True), (b'y\n', False)):
            code, text = run_on_terminal(self.create_args(), self.env, answer)
            self.assertIn('Delete it and create the artifact again? [y/N]', text)
            ids = [a['id'] for a in self.mine()]
            if kept:
                self.assertEqual((code, ids), (1, [left['id']]), text)
            else:
                self.assertEqual(code, 0, text)
                self.assertEqual(len(ids), 1)
                self.assertNotEqual(ids[0], left['id'])


class OthersDraftTests(RollbackBase):

    def test_somebody_elses_draft_is_left_alone(self):
        token = 'bob:%s:member' % self.project   # same project, other client
        status, art = self.server.request(
            'POST', '/artifacts/workflows', token,
            json.dumps({'name': 'two', 'version': '1.0'}).encode(),
            'application/json')
        self.assertEqual(status, 201, art)
        for extra in ((), ('--replace-draft',)):
            r = self.glarex(*self.create_args(*extra), code=1)
            self.assertIn('already exists', r.err)
            self.assertEqual([a['id'] for a in self.mine()], [art['id']])
        self.assertIn('is not a draft left by workflow-create', r.err)


def run_on_terminal(args, env, answer, timeout=60):
    """glarex with stdin and stderr on a terminal; types `answer` at the prompt."""
    master, slave = pty.openpty()
    p = subprocess.Popen([S.glarex_binary()] + list(args), env=env,
                         stdin=slave, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    text, sent, deadline = b'', False, time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            text += data
            if not sent and b'[y/N]' in text:
                os.write(master, answer)
                sent = True
        elif p.poll() is not None:
            break
    p.stdout.read()
    p.stdout.close()
    code = p.wait(timeout=timeout)
    os.close(master)
    return code, text.decode('utf-8', 'replace')


if __name__ == '__main__':
    S.build_dir()
    unittest.main()
