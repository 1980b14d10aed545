#!/usr/bin/python3
"""Tests of the glarex command line tool, run as a user runs it.

    /usr/bin/python3 tests/cli/test_cli.py --build-dir build [-v] [TestClass]

Every command runs against both backends: the local directory store (the
embedded default, $XDG_DATA_HOME/glarex/store) and a Glare server
(tests/glare_server.py).  Also: usage errors and exit codes, --help,
-f json, configuration precedence, Keystone authentication with a fake
Keystone (re-authentication after a 401), rollback of a half-made artifact,
concurrent creation, terminals (progress bar, binary refused).

The Mistral half of workflow-create is in test_mistral.py.
"""

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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cli_support as S  # noqa: E402
from fake_keystone import FakeKeystone  # noqa: E402

WF_TEMPLATE = """---
version: '2.0'
%(wf)s:
  tasks:
    run:
      action: std.echo output=<%% glare('%(name)s', '%(version)s', '%(key)s') %%>
"""

TWO_RESOURCES = """---
version: '2.0'
two:
  tasks:
    a:
      action: std.echo output=<% glare('two', '1.0', 'a.sh') %>
      on-success: b
    b:
      action: std.echo output="{{ glare('glare://two@1.0/b.sh') }}"
"""


def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


class Base(unittest.TestCase):
    """A private HOME per test; subclasses pick the store."""

    def setUp(self):
        self.home = tempfile.mkdtemp(prefix='glarex-cli-test-')
        self.addCleanup(shutil.rmtree, self.home, True)
        self.env = S.clean_environ(self.home)

    def glarex(self, *args, env=None, code=0, stdin=None, binary=False):
        e = dict(self.env)
        e.update(env or {})
        r = S.run(args, e, stdin=stdin, binary=binary)
        if code is not None:
            self.assertEqual(r.code, code, r)
        return r

    def write(self, name, text, mode='w'):
        path = os.path.join(self.home, name)
        with open(path, mode) as f:
            f.write(text)
        return path

    def workflow(self, wf='wf', name=None, version='1.0', key='s.sh'):
        return self.write(wf + '.yaml', WF_TEMPLATE % {
            'wf': wf, 'name': name or wf, 'version': version, 'key': key})


# {=======================================================================
# Every command, against each backend
# =======================================================================

class CommandTests:
    """Mixed into one TestCase per backend; self.env points at the store."""

    def create_example(self, *extra, code=0):
        return self.glarex('workflow-create', S.EXAMPLE_WF, '--resource',
                           'heal_vm_script.sh=' + S.EXAMPLE_SCRIPT, *extra, code=code)

    def names(self):
        r = self.glarex('workflow-list', '-f', 'json', code=None)
        if r.code == 1 and 'no glarex store in' in r.err:
            return []  # never created: listing does not make one
        self.assertEqual(r.code, 0, r)
        return [(a['name'], a['version'], a['status']) for a in r.json['artifacts']]

    def test_create_show_list(self):
        r = self.create_example('-f', 'json', '--description', 'heals VMs',
                                '--tag', 'demo', '--tag', 'ops')
        art = r.json
        self.assertEqual((art['name'], art['version'], art['status']),
                         ('heal_vms', '1.0.0', 'active'))
        self.assertFalse(art['dry_run'])
        self.assertEqual(art['description'], 'heals VMs')
        self.assertEqual(sorted(art['tags']), ['demo', 'ops'])
        self.assertEqual(art['workflow']['sha256'], sha256(S.EXAMPLE_WF))
        [res] = art['resources']
        self.assertEqual(res['key'], 'heal_vm_script.sh')
        self.assertEqual(res['sha256'], sha256(S.EXAMPLE_SCRIPT))
        self.assertEqual(res['size'], os.path.getsize(S.EXAMPLE_SCRIPT))
        self.assertEqual(res['content_type'], 'text/x-shellscript')
        self.assertEqual(art['warnings'], [])

        show = self.glarex('workflow-show', 'heal_vms@1.0', '-f', 'json').json
        self.assertEqual(show['id'], art['id'])
        self.assertEqual(show['resources'], art['resources'])
        text = self.glarex('workflow-show', 'heal_vms').out
        self.assertIn('heal_vm_script.sh', text)
        self.assertIn(sha256(S.EXAMPLE_SCRIPT), text)
        self.assertIn(art['id'], self.glarex('workflow-show', art['id']).out)

        self.assertEqual(self.names(), [('heal_vms', '1.0.0', 'active')])
        self.assertIn('heal_vms', self.glarex('workflow-list').out)

    def test_text_output_of_create(self):
        r = self.create_example()
        self.assertIn('created heal_vms 1.0.0', r.out)
        self.assertIn(sha256(S.EXAMPLE_SCRIPT), r.out)
        self.assertIn('324 B', r.out)

    def test_versions_list_and_show_latest(self):
        for v in ('1.0', '1.10', '1.9'):
            self.glarex('workflow-create', self.workflow(version=v),
                        '--version', v, '-r', 's.sh=' + S.EXAMPLE_SCRIPT)
        self.glarex('workflow-create', self.workflow('other', key='x'),
                    '-r', 'x=' + S.EXAMPLE_SCRIPT)
        self.assertEqual([n[:2] for n in self.names()],
                         [('other', '1.0.0'), ('wf', '1.0.0'), ('wf', '1.9.0'),
                          ('wf', '1.10.0')])
        active = self.glarex('workflow-list', '--status', 'active', '-f', 'json')
        self.assertEqual(len(active.json['artifacts']), 4)
        drafted = self.glarex('workflow-list', '--status', 'drafted', '-f', 'json')
        self.assertEqual(drafted.json['artifacts'], [])
        only = self.glarex('workflow-list', '--name', 'other', '-f', 'json')
        self.assertEqual([a['name'] for a in only.json['artifacts']], ['other'])
        latest = self.glarex('workflow-show', 'wf', '-f', 'json').json
        self.assertEqual(latest['version'], '1.10.0')

    def test_resource_list_and_get(self):
        self.create_example()
        r = self.glarex('resource-list', 'heal_vms@1.0.0', '-f', 'json').json
        self.assertEqual(r['name'], 'heal_vms')
        self.assertEqual([x['key'] for x in r['resources']], ['heal_vm_script.sh'])
        self.assertIn('heal_vm_script.sh', self.glarex('resource-list', 'heal_vms').out)

        with open(S.EXAMPLE_SCRIPT, 'rb') as f:
            script = f.read()
        got = self.glarex('resource-get', 'heal_vms@1.0', 'heal_vm_script.sh',
                          binary=True)
        self.assertEqual(got.out, script)
        out = os.path.join(self.home, 'out.sh')
        self.glarex('resource-get', 'heal_vms@latest', 'heal_vm_script.sh', '-o', out)
        with open(out, 'rb') as f:
            self.assertEqual(f.read(), script)
        j = self.glarex('resource-get', 'heal_vms@>=1.0,<2', 'heal_vm_script.sh',
                        '-f', 'json').json
        self.assertEqual(j['content'], script.decode())
        self.assertEqual(j['sha256'], sha256(S.EXAMPLE_SCRIPT))
        r = self.glarex('resource-get', 'heal_vms@1.0', 'nope.sh', code=1)
        self.assertRegex(r.err, r"^glarex: .*nope\.sh")

    def test_binary_resource_refused_on_a_terminal(self):
        blob = bytes(range(256)) * 4
        path = self.write('blob.bin', blob, 'wb')
        wf = self.workflow(key='blob.bin')
        self.glarex('workflow-create', wf, '-r', 'blob.bin=' + path)
        got = self.glarex('resource-get', 'wf@1.0', 'blob.bin', binary=True)
        self.assertEqual(got.out, blob)
        code, tty, err = S.run_pty(['resource-get', 'wf@1.0', 'blob.bin'], self.env)
        self.assertEqual(code, 1, err)
        self.assertIn('binary', err)
        self.assertEqual(tty, '')
        j = self.glarex('resource-get', 'wf@1.0', 'blob.bin', '-f', 'json').json
        import base64
        self.assertEqual(base64.b64decode(j['content_base64']), blob)
        # text is fine on a terminal
        self.glarex('workflow-create', self.workflow('t', key='s.sh'),
                    '-r', 's.sh=' + S.EXAMPLE_SCRIPT)
        code, tty, err = S.run_pty(['resource-get', 't@1.0', 's.sh'], self.env)
        self.assertEqual(code, 0, err)
        self.assertIn('healed', tty)

    def test_eval_and_render_use_the_store(self):
        self.create_example()
        with open(S.EXAMPLE_SCRIPT) as f:
            script = f.read()
        r = self.glarex('eval', "<% glare('heal_vms', '1.0', 'heal_vm_script.sh') %>")
        self.assertEqual(json.loads(r.out), script)
        r = self.glarex('eval', '-r', '{{ glare("glare://heal_vms/heal_vm_script.sh") }}')
        self.assertEqual(r.out, script)
        info = self.glarex('eval', "<% glare_info('heal_vms', '1.0', "
                                   "'heal_vm_script.sh') %>").json
        self.assertEqual(info['sha256'], sha256(S.EXAMPLE_SCRIPT))

        doc = self.write('doc.yaml', "script: <% glare('heal_vms', '1.0', "
                                     "'heal_vm_script.sh') %>\n"
                                     "hosts: <% $.hosts %>\nkeep: plain\n")
        ctx = self.write('ctx.json', '{"hosts": ["a", "b"]}')
        r = self.glarex('render', doc, '--context-file', ctx).json
        self.assertEqual(r, {'script': script, 'hosts': ['a', 'b'], 'keep': 'plain'})

    def test_resolve(self):
        self.create_example()
        r = self.glarex('resolve', 'glare://heal_vms@1.0/heal_vm_script.sh',
                        '-f', 'json').json
        self.assertEqual((r['name'], r['version'], r['key']),
                         ('heal_vms', '1.0.0', 'heal_vm_script.sh'))
        self.assertEqual(r['sha256'], sha256(S.EXAMPLE_SCRIPT))
        e = self.glarex('resolve', '--explain', 'heal_vms', '1.0', 'heal_vm_script.sh',
                        '-f', 'json').json
        self.assertEqual(e['reference'], 'glare://heal_vms@1.0.0/heal_vm_script.sh')
        self.assertEqual(e['kind'], 'exact')
        self.assertEqual(e['sha256'], sha256(S.EXAMPLE_SCRIPT))
        self.assertIn(e['cache'], ('memory', 'disk', 'download'))
        # a fresh cache: every step shows, and the content is downloaded
        fresh = {'GLAREX_CACHE_DIR': os.path.join(self.home, 'fresh-cache')}
        t = self.glarex('resolve', '--explain', 'glare://heal_vms/heal_vm_script.sh',
                        '-f', 'table', env=fresh).out
        for step in ('input:', 'reference:', 'query:', 'candidates:', 'chosen:',
                     'sha256:', 'cache:'):
            self.assertIn(step, t)
        self.assertIn('miss (downloaded)', t)
        t = self.glarex('resolve', '--explain', 'glare://heal_vms/heal_vm_script.sh',
                        '-f', 'table', env=fresh).out
        self.assertIn('cache:      hit', t)
        r = self.glarex('resolve', '--explain', 'glare://heal_vms@9.9/x', '-f', 'table',
                        code=1)
        self.assertIn('reference:', r.out)
        self.assertTrue(r.err.startswith('glarex: '), r)

    def test_delete(self):
        art = self.create_example('-f', 'json').json
        d = self.glarex('workflow-delete', 'heal_vms@1.0', '-f', 'json').json
        self.assertEqual(d['deleted']['id'], art['id'])
        self.assertEqual(self.names(), [])
        r = self.glarex('workflow-show', 'heal_vms', code=1)
        self.assertIn("no workflow artifact 'heal_vms'", r.err)
        self.glarex('workflow-delete', 'heal_vms@1.0', code=1)

    def test_dry_run_changes_nothing(self):
        r = self.create_example('--dry-run', '-f', 'json').json
        self.assertTrue(r['dry_run'])
        self.assertEqual((r['name'], r['version']), ('heal_vms', '1.0.0'))
        self.assertEqual(r['resources'][0]['sha256'], sha256(S.EXAMPLE_SCRIPT))
        self.assertEqual(r['workflow']['sha256'], sha256(S.EXAMPLE_WF))
        self.assertIn('dry run', self.create_example('--dry-run').out)
        self.assertEqual(self.names(), [])

    def test_lint(self):
        wf = self.write('two.yaml', TWO_RESOURCES)
        a = self.write('a.sh', 'echo a\n')
        b = self.write('b.sh', 'echo b\n')
        r = self.glarex('workflow-create', wf, '-r', 'a.sh=' + a, code=1)
        self.assertIn("needs --resource 'b.sh=PATH'", r.err)
        self.assertIn('glare://two@1.0.0/b.sh', r.err)
        self.assertEqual(self.names(), [])
        # references to another version or artifact are not this one's business
        r = self.glarex('workflow-create', wf, '-r', a, '-r', b, '--version', '2.0',
                        '--dry-run')
        self.assertIn("resource 'a.sh' is not referenced", r.err)
        # an unused resource is only a warning
        r = self.glarex('workflow-create', wf, '-r', a, '-r', b, '-r',
                        'extra=' + a, '-f', 'json')
        self.assertEqual(r.json['warnings'],
                         ["resource 'extra' is not referenced by %s" % wf])
        self.assertIn('warning', r.err)
        self.assertEqual(len(r.json['resources']), 3)
        # -q silences warnings
        r = self.glarex('workflow-create', wf, '-r', a, '-r', b, '-r', 'extra=' + a,
                        '--version', '3.0', '-q')
        self.assertEqual(r.err, '')
        bad = self.write('bad.yaml', WF_TEMPLATE % {
            'wf': 'bad', 'name': 'bad', 'version': '1.x', 'key': 'k'})
        r = self.glarex('workflow-create', bad, code=1)
        self.assertIn("invalid reference", r.err)
        self.assertIn("'1.x'", r.err)

    def test_invalid_yaml_names_line_and_column(self):
        bad = self.write('bad.yaml', "version: '2.0'\nwf:\n  tasks: [a\n  b: c\n")
        r = self.glarex('workflow-create', bad, code=1)
        self.assertRegex(r.err, r'^glarex: .*bad\.yaml.*line \d+, column \d+')
        self.assertEqual(self.names(), [])

    def test_workflow_name_rules(self):
        book = self.write('book.yaml', "version: '2.0'\nname: my_book\nworkflows:\n"
                                       "  only_one:\n    tasks:\n      t:\n"
                                       "        action: std.noop\n")
        r = self.glarex('workflow-create', book, '-f', 'json').json
        self.assertEqual(r['name'], 'only_one')
        two = self.write('two.yaml', "version: '2.0'\na:\n  tasks: {}\nb:\n  tasks: {}\n")
        r = self.glarex('workflow-create', two, code=2)
        self.assertIn('defines 2 workflows', r.err)
        self.assertIn('usage: glarex workflow-create', r.err)
        r = self.glarex('workflow-create', two, '--name', 'pair', '--version', '0.1')
        self.assertIn(('pair', '0.1.0', 'active'), self.names())

    def test_duplicate_is_a_conflict(self):
        self.create_example()
        r = self.create_example(code=1)
        self.assertIn('already exists', r.err)
        self.assertEqual(len(self.names()), 1)

    def test_concurrent_create_one_wins(self):
        big = self.write('big.bin', os.urandom(3 << 20), 'wb')
        wf = self.workflow(key='big.bin')
        args = [S.glarex_binary(), 'workflow-create', wf, '-r', 'big.bin=' + big]
        procs = [subprocess.Popen(args, env=self.env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for _ in range(2)]
        results = [(p.wait(timeout=120), p.stdout.read().decode(),
                    p.stderr.read().decode()) for p in procs]
        for p in procs:
            p.stdout.close()
            p.stderr.close()
        codes = sorted(r[0] for r in results)
        self.assertEqual(codes, [0, 1], results)
        loser = [r for r in results if r[0] == 1][0]
        self.assertIn('already exists', loser[2])
        self.assertEqual(self.names(), [('wf', '1.0.0', 'active')])
        show = self.glarex('workflow-show', 'wf', '-f', 'json').json
        self.assertEqual(show['resources'][0]['sha256'], sha256(big))

    def test_progress_bar_on_a_terminal(self):
        big = self.write('big.bin', os.urandom(2 << 20), 'wb')
        wf = self.workflow(key='big.bin')
        code, tty, out = S.run_pty(['workflow-create', wf, '-r', 'big.bin=' + big],
                                   self.env, which='stderr')
        self.assertEqual(code, 0, tty)
        self.assertIn('big.bin', tty)
        self.assertIn('100%', tty)
        self.assertIn('created wf 1.0.0', out)
        # not on a pipe, not with -q
        self.glarex('workflow-delete', 'wf@1.0')
        r = self.glarex('workflow-create', wf, '-r', 'big.bin=' + big)
        self.assertNotIn('%', r.err)

    def test_cache_commands(self):
        self.create_example()
        self.glarex('eval', "<% glare('heal_vms', '1.0', 'heal_vm_script.sh') %>")
        ls = self.glarex('cache', 'ls', '-f', 'json').json
        self.assertIn(sha256(S.EXAMPLE_SCRIPT), [o['sha256'] for o in ls['objects']])
        self.assertIn(sha256(S.EXAMPLE_SCRIPT), self.glarex('cache', 'ls').out)
        st = self.glarex('cache', 'stats', '-f', 'json').json
        self.assertGreaterEqual(st['objects'], 1)
        self.assertGreaterEqual(st['bytes'], os.path.getsize(S.EXAMPLE_SCRIPT))
        self.assertIn('| objects ', self.glarex('cache', 'stats', '-f', 'table').out)
        # the counters of every process that used the cache: a second process reads
        # the content from disk, nothing is downloaded again
        self.glarex('eval', "<% glare('heal_vms', '1.0', 'heal_vm_script.sh') %>")
        t = self.glarex('cache', 'stats', '-f', 'json').json['totals']
        self.assertEqual((t['downloads'], t['misses'], t['disk_hits']), (1, 1, 1))
        self.assertEqual(t['bytes_downloaded'], os.path.getsize(S.EXAMPLE_SCRIPT))
        self.assertEqual(t['resolutions'], 2)
        self.assertIn('downloads=1', self.glarex('cache', 'stats', '-f', 'table').out)
        # corrupt the cached copy: verify removes it
        path = [o['path'] for o in ls['objects']
                if o['sha256'] == sha256(S.EXAMPLE_SCRIPT)][0]
        os.chmod(path, 0o644)
        with open(path, 'r+b') as f:
            f.write(b'X')
        v = self.glarex('cache', 'verify', '-f', 'json').json
        self.assertEqual([o['sha256'] for o in v['corrupt']], [sha256(S.EXAMPLE_SCRIPT)])
        self.assertIn('0 corrupt', self.glarex('cache', 'verify').out)
        gc = self.glarex('cache', 'gc', '-f', 'json').json
        self.assertIn('objects_removed', gc)
        self.glarex('eval', "<% glare('heal_vms', '1.0', 'heal_vm_script.sh') %>")
        p = self.glarex('cache', 'purge', '-f', 'json').json
        self.assertGreaterEqual(p['objects_removed'], 1)
        self.assertEqual(self.glarex('cache', 'ls', '-f', 'json').json['objects'], [])
        self.assertIn('removed', self.glarex('cache', 'purge').out)

    def test_offline(self):
        self.create_example()
        off = {'GLAREX_OFFLINE': '1'}
        r = self.glarex('eval', "<% glare('heal_vms', '1.0', 'heal_vm_script.sh') %>",
                        env=off, code=1)
        self.assertTrue(r.err.startswith('glarex: '))
        self.glarex('eval', "<% glare('heal_vms', '1.0', 'heal_vm_script.sh') %>")
        self.glarex('eval', "<% glare('heal_vms', '1.0', 'heal_vm_script.sh') %>",
                    env=off)
        self.glarex('eval', "<% glare('heal_vms', '1.0', 'heal_vm_script.sh') %>",
                    '--offline')


class DirStoreTests(CommandTests, Base):
    """The embedded default store: $XDG_DATA_HOME/glarex/store."""

    def test_default_store_location(self):
        default = '%s/data/glarex/store' % self.home
        r = self.glarex('workflow-list', '-f', 'json', code=1)
        self.assertIn("no glarex store in '%s'" % default, r.err)
        self.create_example('-q')
        r = self.glarex('workflow-list', '-f', 'json').json
        self.assertEqual(r['store'], 'file://' + default)

    def test_a_resource_over_the_cap_is_refused_before_anything_is_sent(self):
        # A resource over the blob cap (max_resource_size) is refused before
        # anything is sent: nothing is made, so nothing needs deleting.
        a = self.write('a.sh', 'echo a\n')
        big = self.write('b.sh', os.urandom((10 << 20) + 1), 'wb')
        wf = self.write('two.yaml', TWO_RESOURCES)
        r = self.glarex('workflow-create', wf, '-r', a, '-r', big, '-v',
                        '--max-resource-size', '10M', code=1)
        self.assertIn('b.sh: the store would refuse it: 10485761 bytes (10.0 MiB), '
                      'more than max_resource_size 10485760 bytes '
                      '(--max-resource-size)', r.err)
        self.assertNotIn('creating', r.err)
        self.assertEqual(self.names(), [])


class GlareStoreTests(CommandTests, Base):
    """A Glare server (tests/glare_server.py), trusted-auth tokens."""

    @classmethod
    def setUpClass(cls):
        cls.server = S.GlareServer()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        super().setUp()
        # a project per test: it sees only its own artifacts
        self.project = 'p%s' % self.id().rsplit('.', 1)[-1][:40]
        self.env.update(GLARE_URL=self.server.url,
                        OS_AUTH_TOKEN='alice:%s:member' % self.project)
        self.server.clear_faults()

    def mine(self):
        return [a for a in self.server.artifacts() if a['owner'] == self.project]

    def test_rollback_when_an_upload_fails_half_way(self):
        a = self.write('a.sh', 'echo a\n')
        b = self.write('b.sh', 'echo b\n')
        wf = self.write('two.yaml', TWO_RESOURCES)
        # the second resource is stored, then the server fails
        self.server.fault(kind='500', method='PUT', path='*/resources/b.sh', when='after')
        r = self.glarex('workflow-create', wf, '-r', a, '-r', b, code=1)
        self.assertIn('500', r.err)
        self.assertEqual(self.mine(), [])
        # the connection breaks in the middle of every answer for b.sh
        self.server.fault(kind='reset', method='PUT', path='*/resources/b.sh', count=-1)
        r = self.glarex('workflow-create', wf, '-r', a, '-r', b, code=1)
        self.assertEqual(self.mine(), [])
        self.server.clear_faults()
        # activation fails: still nothing left
        self.server.fault(kind='503', method='PATCH', path='/artifacts/*', count=-1)
        r = self.glarex('workflow-create', wf, '-r', a, '-r', b, code=1)
        self.assertIn('503', r.err)
        self.assertEqual(self.mine(), [])
        self.server.clear_faults()
        self.glarex('workflow-create', wf, '-r', a, '-r', b)
        self.assertEqual([x['status'] for x in self.mine()], ['active'])

    def test_interrupt_deletes_the_draft(self):
        a = self.write('a.sh', 'echo a\n')
        b = self.write('b.sh', 'echo b\n')
        wf = self.write('two.yaml', TWO_RESOURCES)
        self.server.fault(kind='delay', method='PUT', path='*/resources/b.sh',
                          seconds=4)
        p = subprocess.Popen([S.glarex_binary(), 'workflow-create', wf, '-r', a, '-r', b],
                             env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 30
        while not self.mine() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 130, err)
        self.assertIn('interrupted', err.decode())
        time.sleep(4)  # the delayed upload lands on a deleted artifact
        self.assertEqual(self.mine(), [])

    def test_debug_prints_curl_without_the_token(self):
        r = self.glarex('--debug', 'workflow-list')
        self.assertIn("curl -sS -X GET", r.err)
        self.assertIn("X-Auth-Token: ***", r.err)
        self.assertNotIn(self.project, r.err)

    def test_bad_token(self):
        r = self.glarex('workflow-list', env={'OS_AUTH_TOKEN': 'nonsense'}, code=1)
        self.assertIn('401', r.err)


# {=======================================================================
# Usage, help, formats, configuration
# =======================================================================

COMMANDS = ['workflow-create', 'workflow-list', 'workflow-show', 'workflow-delete',
            'workflow-get-definition', 'resource-list', 'resource-get', 'eval',
            'render', 'resolve', 'cache ls', 'cache stats', 'cache verify', 'cache gc',
            'cache purge', 'config show']


class UsageTests(Base):
    def test_help_on_every_command(self):
        for cmd in COMMANDS:
            r = self.glarex(*cmd.split(), '--help')
            self.assertIn('usage: glarex %s' % cmd, r.out)
            self.assertIn('--format', r.out)
            r2 = self.glarex('help', *cmd.split())
            self.assertEqual(r.out, r2.out)
        top = self.glarex('--help').out
        for cmd in COMMANDS:
            self.assertIn(cmd.split()[0], top)
        self.assertIn('ls', self.glarex('cache', '--help').out)
        self.assertRegex(self.glarex('--version').out, r'^glarex \d+\.\d+\.\d+\n$')

    def test_every_command_and_option_is_in_the_manual(self):
        import re
        docs = os.path.join(S.SOURCE_DIR, 'docs')
        with open(os.path.join(docs, 'glarex.1.md'), encoding='utf-8') as f:
            manual = f.read()
        with open(os.path.join(docs, 'configuration.md'), encoding='utf-8') as f:
            config = f.read()
        missing = []
        for cmd in COMMANDS:
            text = self.glarex(*cmd.split(), '--help').out
            words = cmd.split()
            if ('glarex ' + words[0]) not in manual or \
                    (len(words) > 1 and '`%s`' % words[1] not in manual):
                missing.append('glarex.1.md: command ' + cmd)
            for opt in set(re.findall(r'^\s+(?:-\w, )?(--[a-z][a-z-]*)', text, re.M)):
                if '`' + opt not in manual:
                    missing.append('glarex.1.md: %s %s' % (cmd, opt))
            for var in set(re.findall(r'\[([A-Z][A-Z_]+)\]', text)):
                if '`' + var + '`' not in config:
                    missing.append('configuration.md: ' + var)
        self.assertEqual(sorted(set(missing)), [])

    def test_usage_errors_exit_2(self):
        cases = [
            ([], 'no command'),
            (['frobnicate'], "unknown command 'frobnicate'"),
            (['workflow-list', '--bogus'], "unknown option '--bogus'"),
            (['workflow-list', '-Z'], "unknown option '-Z'"),
            (['workflow-list', 'extra'], "unexpected argument 'extra'"),
            (['workflow-show'], 'missing NAME[@VERSION]'),
            (['workflow-create'], 'missing FILE'),
            (['workflow-create', 'x.yaml', '--name'], "option '--name' needs a value"),
            (['workflow-create', 'x.yaml', '-r', '=x'], "--resource '=x'"),
            (['workflow-create', S.EXAMPLE_WF, '-r', 'k=a', '-r', 'k=b'], "'k' is given twice"),
            (['workflow-create', S.EXAMPLE_WF, '--version', 'abc'], "'abc'"),
            (['workflow-create', S.EXAMPLE_WF, '--version', 'latest'], 'exact version'),
            (['workflow-delete', 'heal_vms'], 'has no version'),
            (['workflow-list', '-f', 'xml'], "unknown format 'xml'"),
            (['workflow-list', '--dry-run=1'], "unknown option '--dry-run'"),
            (['eval', 'x', '--context', '{bad'], '--context is not JSON'),
            (['eval', 'x', '--context', '{}', '--context-file', 'f'], 'not both'),
            (['eval', '--recursive', 'not json'], 'TEMPLATE is not JSON'),
            (['render', 'doc.yaml'], 'missing --context-file'),
            (['resolve', 'a', 'b', 'c', 'd'], 'not 4 arguments'),
            (['resource-get', 'a'], 'missing KEY'),
            (['cache'], 'missing subcommand'),
            (['cache', 'shrink'], "unknown subcommand 'shrink'"),
            (['cache', 'ls', 'x'], "unexpected argument 'x'"),
            (['workflow-list', '--timeout', 'soon'], "'soon' is not a number"),
        ]
        for args, message in cases:
            r = self.glarex(*args, code=2)
            self.assertIn(message, r.err, r)
            self.assertTrue(r.err.startswith('glarex: '), r)
            self.assertEqual(r.out, '', r)

    def test_bad_configuration_is_a_usage_error(self):
        r = self.glarex('workflow-list', env={'GLAREX_OFFLINE': 'maybe'}, code=2)
        self.assertIn("GLAREX_OFFLINE: 'maybe' is not a boolean", r.err)
        conf = self.write('bad.conf', 'glare_url = file:///x\ncolour = blue\n')
        r = self.glarex('workflow-list', '--config', conf, code=2)
        self.assertIn('bad.conf:2: unknown key', r.err)
        r = self.glarex('workflow-list', '--config', '/nonexistent/glarex.conf', code=2)
        self.assertIn('/nonexistent/glarex.conf', r.err)

    def test_common_options_before_or_after_the_command(self):
        self.glarex('workflow-create', S.EXAMPLE_WF, '-r', S.EXAMPLE_SCRIPT, '-q')
        os.makedirs(os.path.join(self.home, 'cache', 'glarex'), exist_ok=True)
        a = self.glarex('-f', 'json', 'workflow-list').json
        b = self.glarex('workflow-list', '--format=json').json
        self.assertEqual(a, b)
        self.assertEqual(self.glarex('-q', 'cache', 'ls', '-f', 'table').out, '')


class EvalTests(Base):
    def test_eval_prints_compact_json(self):
        self.assertEqual(self.glarex('eval', 'hello').out, '"hello"\n')
        self.assertEqual(self.glarex('eval', '<% 1 + 2 %>').out, '3\n')
        self.assertEqual(self.glarex('eval', '<% $.a + 1 %>', '-c', '{"a": 0.1}').out,
                         '1.1\n')
        self.assertEqual(self.glarex('eval', '<% $.x %>', '-c', '{"x": {"k": [1, "b"]}}').out,
                         '{"k":[1,"b"]}\n')
        self.assertEqual(self.glarex('eval', 'n={{ _.n }}', '-c', '{"n": 2}').out,
                         '"n=2"\n')
        ctx = self.write('ctx.yaml', 'n: 5\n')
        self.assertEqual(self.glarex('eval', '<% $.n * 2 %>', '--context-file', ctx).out,
                         '10\n')
        r = self.glarex('eval', '--recursive', '{"a": "<% $.n %>", "<% k %>": ["{{ _.n }}"]}',
                        '-c', '{"n": 7}')
        self.assertEqual(r.json, {'a': 7, '<% k %>': [7]})
        self.assertEqual(self.glarex('eval', '-r', '<% str($.n) %>', '-c', '{"n": 7}').out,
                         '7')
        self.assertEqual(self.glarex('eval', '-f', 'json', 'x').json, 'x')

    def test_eval_errors_exit_1(self):
        for tmpl in ('<% $.a.b() %>', '<% 1 + %>', "<% glare('nope', '1.0', 'k') %>"):
            r = self.glarex('eval', tmpl, code=1)
            self.assertTrue(r.err.startswith('glarex: '), r)
            self.assertEqual(r.out, '')

    def test_render_reads_yaml_or_json(self):
        doc = self.write('doc.json', '{"a": "<% $.v %>", "b": "{{ _.v }}!"}')
        ctx = self.write('ctx.json', '{"v": "x"}')
        self.assertEqual(self.glarex('render', doc, '--context-file', ctx).json,
                         {'a': 'x', 'b': 'x!'})
        self.assertEqual(self.glarex('render', '-', '-c', '{"v": 1}',
                                     stdin=b'k: <% $.v %>\n').json, {'k': 1})
        bad = self.write('bad.yaml', 'a: [1\n')
        r = self.glarex('render', bad, '-c', '{}', code=1)
        self.assertIn('line', r.err)


class ConfigTests(Base):
    """flags > environment > config file > defaults."""

    def store_of(self, *args, env=None):
        r = self.glarex('workflow-list', '-f', 'json', *args, env=env, code=1)
        return 'file://' + r.err.split("no glarex store in '")[1].split("'")[0]

    def test_precedence(self):
        os.makedirs(os.path.join(self.home, 'config', 'glarex'))
        dirs = {}
        for n in ('file', 'env', 'flag'):
            dirs[n] = os.path.join(self.home, n)
        self.write('config/glarex/glarex.conf',
                   '# glarex\nglare_url = file://%s\n\ninsecure = no\n' % dirs['file'])
        self.assertEqual(self.store_of(), 'file://' + dirs['file'])
        env = {'GLARE_URL': 'file://' + dirs['env']}
        self.assertEqual(self.store_of(env=env), 'file://' + dirs['env'])
        self.assertEqual(self.store_of('--glare-url', 'file://' + dirs['flag'], env=env),
                         'file://' + dirs['flag'])
        # an empty variable counts as unset
        self.assertEqual(self.store_of(env={'GLARE_URL': ''}), 'file://' + dirs['file'])
        # --config replaces the default files
        other = self.write('other.conf', 'glare_url = "file://%s"\n' % dirs['env'])
        self.assertEqual(self.store_of('--config', other), 'file://' + dirs['env'])
        # no configuration at all: the embedded default store
        os.remove(os.path.join(self.home, 'config', 'glarex', 'glarex.conf'))
        self.assertEqual(self.store_of(), 'file://%s/data/glarex/store' % self.home)

    def test_cache_dir_setting(self):
        d = os.path.join(self.home, 'flagcache')
        os.makedirs(d)
        self.assertEqual(self.glarex('cache', 'stats', '-f', 'json', '--cache-dir', d)
                         .json['dir'], d)
        e = os.path.join(self.home, 'envcache')
        os.makedirs(e)
        self.assertEqual(self.glarex('cache', 'stats', '-f', 'json',
                                     env={'GLAREX_CACHE_DIR': e}).json['dir'], e)

    def test_secret_in_a_readable_config_file_warns(self):
        os.makedirs(os.path.join(self.home, 'config', 'glarex'))
        path = self.write('config/glarex/glarex.conf', 'os_auth_token = t0ken\n')
        os.chmod(path, 0o644)
        r = self.glarex('eval', '1')
        self.assertIn('chmod 600', r.err)
        self.assertNotIn('t0ken', r.err + r.out)
        os.chmod(path, 0o600)
        self.assertNotIn('chmod', self.glarex('eval', '1').err)


class KeystoneTests(Base):
    @classmethod
    def setUpClass(cls):
        cls.server = S.GlareServer()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def keystone(self, tokens, **kw):
        ks = FakeKeystone(tokens, **kw).start()
        self.addCleanup(ks.stop)
        self.env.update(GLARE_URL=self.server.url, OS_AUTH_URL=ks.url + '/v3',
                        OS_USERNAME='alice', OS_PASSWORD='secret',
                        OS_PROJECT_NAME='projA')
        return ks

    def test_password_token(self):
        ks = self.keystone(['alice:projK:member'])
        r = self.glarex('--debug', 'workflow-create', S.EXAMPLE_WF, '-r',
                        S.EXAMPLE_SCRIPT, '-f', 'json')
        self.assertEqual(r.json['owner'], 'projK')
        self.assertEqual(len(ks.requests), 1)
        auth = ks.requests[0]['auth']
        self.assertEqual(auth['identity']['password']['user'],
                         {'name': 'alice', 'password': 'secret',
                          'domain': {'name': 'Default'}})
        self.assertEqual(auth['scope']['project'],
                         {'name': 'projA', 'domain': {'name': 'Default'}})
        # the trace shows the requests, never the password or the token
        self.assertIn('/v3/auth/tokens', r.err)
        self.assertIn('"password":"***"', r.err)
        self.assertNotIn('secret', r.err)
        self.assertNotIn('projK', r.err)

    def test_auth_url_without_v3_and_domains(self):
        ks = self.keystone(['alice:projK:member'])
        self.env.update(OS_AUTH_URL=ks.url, OS_USER_DOMAIN_NAME='users',
                        OS_PROJECT_DOMAIN_NAME='projects')
        self.glarex('workflow-list')
        auth = ks.requests[0]['auth']
        self.assertEqual(auth['identity']['password']['user']['domain'], {'name': 'users'})
        self.assertEqual(auth['scope']['project']['domain'], {'name': 'projects'})

    def test_a_401_reauthenticates_once(self):
        # the first token is refused by Glare (not user:project:roles)
        ks = self.keystone(['expired', 'alice:projR:member'])
        r = self.glarex('workflow-create', S.EXAMPLE_WF, '-r', S.EXAMPLE_SCRIPT,
                        '-f', 'json', '-v')
        self.assertEqual(r.json['owner'], 'projR')
        self.assertEqual(len(ks.requests), 2)
        self.assertIn('authenticating again', r.err)
        # a token that stays bad: one retry, then the 401 is reported
        ks2 = self.keystone(['expired'])
        r = self.glarex('workflow-list', code=1)
        self.assertIn('401', r.err)
        self.assertEqual(len(ks2.requests), 2)

    def test_explicit_token_is_replaced_after_a_401(self):
        ks = self.keystone(['alice:projT:member'])
        r = self.glarex('workflow-list', env={'OS_AUTH_TOKEN': 'stale'})
        self.assertEqual(len(ks.requests), 1)
        self.assertEqual(r.code, 0)

    def test_wrong_password(self):
        ks = self.keystone(['alice:projK:member'])
        r = self.glarex('workflow-list', env={'OS_PASSWORD': 'wrong'}, code=1)
        self.assertIn('POST /v3/auth/tokens: 401', r.err)
        self.assertNotIn('wrong', r.err)
        self.assertEqual(len(ks.requests), 1)

    def test_incomplete_credentials(self):
        r = self.glarex('workflow-list', env={'GLARE_URL': self.server.url,
                                              'OS_AUTH_URL': 'http://127.0.0.1:1/v3'},
                        code=1)
        self.assertIn('OS_USERNAME', r.err)

    def test_token_flag_beats_environment(self):
        self.env.update(GLARE_URL=self.server.url, OS_AUTH_TOKEN='nonsense')
        self.glarex('workflow-list', code=1)
        self.glarex('workflow-list', '--os-auth-token', 'alice:projF:member')


if __name__ == '__main__':
    S.build_dir()  # takes --build-dir out of argv
    if not os.access(S.glarex_binary(), os.X_OK):
        sys.exit('no glarex binary at %s (give --build-dir)' % S.glarex_binary())
    unittest.main()
