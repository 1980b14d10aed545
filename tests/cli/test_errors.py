#!/usr/bin/python3
"""Errors that say what, where and the fix; one argument shape; exit statuses as the
man page's EXIT STATUS table gives them.

    /usr/bin/python3 tests/cli/test_errors.py --build-dir build [-v]
"""

import json
import os
import re
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cli_support as S  # noqa: E402

ALICE = 'alice:projA:member'
BOB = 'bob:projB:member'

WF = """---
version: '2.0'
%s:
  tasks:
    run:
      action: std.echo output=<%% glare('%s') %%>
"""


def exit_table():
    """{status: meaning} from the EXIT STATUS table of docs/glarex.1.md."""
    with open(os.path.join(S.SOURCE_DIR, 'docs', 'glarex.1.md'), encoding='utf-8') as f:
        text = f.read()
    section = text.split('## EXIT STATUS', 1)[1].split('\n## ', 1)[0]
    table = {}
    for statuses, meaning in re.findall(r'^\| ([0-9, ]+) \| (.*) \|$', section, re.M):
        for status in statuses.split(','):
            table[int(status)] = meaning
    return table


class Base(unittest.TestCase):
    def setUp(self):
        self.home = tempfile.mkdtemp(prefix='glarex-errors-test-')
        self.addCleanup(shutil.rmtree, self.home, True)
        self.env = S.clean_environ(self.home)

    def glarex(self, *args, env=None, code=0):
        r = S.run(args, dict(self.env, **(env or {})))
        if code is not None:
            self.assertEqual(r.code, code, r)
        return r

    def write(self, name, text):
        path = os.path.join(self.home, name)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def create(self, name, key, version='1.0', *extra, env=None):
        wf = self.write(name + '.yaml', WF % (name, key))
        return self.glarex('workflow-create', wf, '--version', version, '-q',
                           '-r', key + '=' + S.EXAMPLE_SCRIPT, *extra, env=env)


class ExitStatus(Base):
    """Every error class of the man page's table, run, with the status it gives."""

    def test_every_documented_class(self):
        table = exit_table()
        self.assertEqual(sorted(table), [0, 1, 2, 130, 143])
        self.create('wf', 's.sh')
        self.create('wf', 's.sh', '2.0')
        bad_conf = self.write('bad.conf', 'colour = blue\n')
        dup = self.write('dup.yaml', WF % ('wf', 's.sh'))
        lint = self.write('lint.yaml', WF % ('lint', 'missing.sh'))
        cases = [
            # (the words of the table's meaning, the command, its environment)
            ('success', ['workflow-list'], {}),
            ('--help', ['workflow-show', '--help'], {}),
            ('unknown command', ['workflow-lsit'], {}),
            ('unknown command or option', ['workflow-list', '--bogus'], {}),
            ('missing or extra argument', ['resource-get', 'wf'], {}),
            ('missing or extra argument', ['workflow-list', 'extra'], {}),
            ('bad option value', ['workflow-list', '-f', 'xml'], {}),
            ('bad option value', ['workflow-list', '-c', 'nosuch'], {}),
            ('bad option value', ['workflow-list', '--status', 'bogus'], {}),
            ('bad option value', ['workflow-list', '--timeout', 'soon'], {}),
            ('bad option value', ['eval', 'x', '--as-of', 'yesterday'], {}),
            ('bad option value', ['workflow-show', 'wf@abc'], {}),
            ('bad option value', ['workflow-show', 'wf@>=1.0'], {}),
            ('bad option value', ['resource-list', 'wf@1.0@'], {}),
            ('bad option value', ['resource-get', 'wf@abc', 's.sh'], {}),
            ('bad option value', ['resource-get', 'wf', 'abc', 's.sh'], {}),
            ('bad option value', ['resolve', 'glare://wf@@/s.sh'], {}),
            ('bad option value', ['eval', 'x', '--workflow', 'wf@bad'], {}),
            ('bad option value', ['workflow-list', '--glare-url', 'ftp://glare'], {}),
            ('bad option value', ['workflow-show', 'wf', '-f', 'shell', '--prefix', '1x'],
             {}),
            ('bad option value', ['workflow-delete', 'wf@latest'], {}),
            ('bad option value', ['completion', 'fish'], {}),
            ('invalid configuration value', ['workflow-list'], {'GLAREX_OFFLINE': 'maybe'}),
            ('invalid configuration value', ['workflow-list'], {'GLARE_URL': 'glare:9494'}),
            ('invalid configuration value', ['workflow-list'], {'MISTRAL_URL': 'mistral'}),
            ('or file', ['workflow-list', '--config', bad_conf], {}),
            ('not found', ['workflow-show', 'nosuch'], {}),
            ('not found', ['resource-get', 'wf@1.0', 'nokey.sh'], {}),
            ('not found', ['resolve', 'glare://wf@3.0/s.sh'], {}),
            ('conflict', ['workflow-create', dup, '-r', 's.sh=' + S.EXAMPLE_SCRIPT], {}),
            ('lint errors', ['workflow-create', lint], {}),
            ('an evaluation error', ['eval', '<% $.nope %>'], {}),
            ('an evaluation error', ['render', dup, '--context', '{"x": 1}',
                                     '--workflow', 'nosuch'], {}),
            ('I/O', ['resource-get', 'wf@1.0', 's.sh', '-o', '/nonexistent/dir/x'], {}),
            ('the store', ['workflow-list', '--glare-url', 'http://127.0.0.1:1'], {}),
            ('Keystone', ['workflow-list', '--glare-url', 'http://127.0.0.1:1',
                          '--os-auth-url', 'http://127.0.0.1:1/v3', '--os-username', 'u',
                          '--os-password', 'p'], {}),
        ]
        for words, args, env in cases:
            r = self.glarex(*args, env=env, code=None)
            self.assertIn(r.code, table, r)
            self.assertIn(words, table[r.code],
                          '%s: exit %d, and the table says %r for %d'
                          % (r, r.code, table[r.code], r.code))
            if r.code:
                self.assertTrue(r.err.startswith('glarex: '), r)


class ArgumentShape(Base):
    def test_name_at_version_everywhere(self):
        self.create('wf', 's.sh')
        new = self.glarex('resource-get', 'wf@1.0', 's.sh')
        self.assertEqual(new.err, '')
        old = self.glarex('resource-get', 'wf', '1.0', 's.sh')
        self.assertEqual(old.out, new.out)
        self.assertIn('NAME VERSION KEY is deprecated: write NAME@VERSION KEY', old.err)
        self.assertEqual(self.glarex('resource-get', 'wf', 's.sh').out, new.out)  # latest
        r = self.glarex('resolve', 'wf@1.0', 's.sh', '-f', 'json').json
        self.assertEqual((r['name'], r['version'], r['key']), ('wf', '1.0.0', 's.sh'))
        old = self.glarex('resolve', 'wf', '1.0', 's.sh', '-f', 'json')
        self.assertEqual(old.json, r)
        self.assertIn('deprecated', old.err)
        usage = self.glarex('resource-get', '--help').out
        self.assertIn('usage: glarex resource-get [options] NAME[@VERSION] KEY\n', usage)

    def test_one_meaning_per_short_option(self):
        commands = ['workflow-create', 'workflow-list', 'workflow-show', 'workflow-delete',
                    'resource-list', 'resource-get', 'eval', 'render', 'resolve',
                    'cache ls', 'cache stats', 'cache verify', 'cache gc', 'cache purge',
                    'cache invalidate']
        meaning = {}
        for cmd in commands:
            text = self.glarex(*cmd.split(), '--help').out
            for short, long in re.findall(r'^\s+(-\w), (--[a-z-]+)', text, re.M):
                meaning.setdefault(short, set()).add(long)
        self.assertEqual({s: m for s, m in meaning.items() if len(m) > 1}, {})
        self.assertEqual(meaning['-r'], {'--resource'})
        self.assertEqual(meaning['-c'], {'--column'})

    def test_old_short_spellings_still_work_with_a_note(self):
        r = self.glarex('eval', '-r', '<% $.a %>', '-c', '{"a": "x"}')
        self.assertEqual(r.out, 'x')
        self.assertIn("'-r' is deprecated and will be removed: write '--raw'", r.err)
        self.assertIn("'-c' is deprecated and will be removed: write '--context'", r.err)
        self.assertNotIn('-r, --raw', self.glarex('eval', '--help').out)


class ErrorTexts(Base):
    def test_eval_names_the_expression_and_column(self):
        r = self.glarex('eval', 'host: <% $.nope %>', code=1)
        self.assertIn("eval: expression 'host: <% $.nope %>', line 1, column 10: 'nope'",
                      r.err)
        self.assertIn('give it with --context or --context-file', r.err)
        r = self.glarex('eval', 'x {{ _.host }}', code=1)
        self.assertIn("expression 'x {{ _.host }}', line 1, column 3:", r.err)
        self.assertIn("has no attribute 'host'", r.err)

    def test_render_names_the_file_line_column_and_place(self):
        doc = self.write('doc.yaml', 'a: 1\nlist:\n- x\n- b:\n    c: "xx <% $.nope %>"\n')
        r = self.glarex('render', doc, '--context', '{"x": 1}', code=1)
        self.assertIn("%s:5:15: list[1].b.c: expression 'xx <%% $.nope %%>': 'nope'" % doc,
                      r.err)
        r = self.glarex('render', doc, '--context', '{"x": 1}', '-f', 'json', code=1)
        self.assertIn(':5:15:', r.err)

    def test_not_found_lists_what_exists_closest_first(self):
        self.create('wf', 'heal_vm_script.sh', '1.0')
        wf = self.write('more.yaml', WF.replace("glare('%s')", "glare('%s') %%> "
                                                "<%% glare('run.sh')") % ('wf', 'check.sh'))
        self.glarex('workflow-create', wf, '--version', '1.5', '-q',
                    '-r', 'check.sh=' + S.EXAMPLE_SCRIPT, '-r', 'run.sh=' + S.EXAMPLE_SCRIPT)
        r = self.glarex('eval', "<% glare('wf', '1.5', 'chek.sh') %>", code=1)
        self.assertIn("has no resource 'chek.sh'; its resources are: check.sh, run.sh",
                      r.err)
        r = self.glarex('eval', "<% glare('wf', '1.4', 'run.sh') %>", code=1)
        self.assertIn('the versions are: 1.5.0, 1.0.0', r.err)
        r = self.glarex('resource-get', 'wf@1.0', 'heal_vm_scrip.sh', code=1)
        self.assertIn('its resources are: heal_vm_script.sh', r.err)
        r = self.glarex('resource-get', 'wff@1.0', 'x', code=1)
        self.assertIn("no version of 'wff' exists (is the name right?)", r.err)
        r = self.glarex('workflow-show', 'wf@1.4', code=1)
        self.assertIn('its versions (highest first): 1.5.0, 1.0.0', r.err)


class GlareErrors(Base):
    @classmethod
    def setUpClass(cls):
        cls.server = S.GlareServer()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        super().setUp()
        self.env.update(GLARE_URL=self.server.url)

    def test_a_refused_token_names_its_setting(self):
        r = self.glarex('workflow-list', env={'OS_AUTH_TOKEN': 'nonsense'}, code=1)
        self.assertIn('401', r.err)
        self.assertIn('the token came from OS_AUTH_TOKEN', r.err)
        r = self.glarex('workflow-list', '--os-auth-token', 'nonsense', code=1)
        self.assertIn('the token came from --os-auth-token', r.err)
        conf = self.write('glarex.conf', 'os_auth_token = nonsense\n')
        r = self.glarex('eval', "<% glare('a', '1.0', 'k') %>", '--config', conf, code=1)
        self.assertIn('the token came from %s:1' % conf, r.err)
        r = self.glarex('workflow-list', code=1)
        self.assertIn('no token was given: set OS_AUTH_TOKEN', r.err)

    def test_latest_means_what_glare_means(self):
        # the highest version is a draft: workflow-show NAME takes the highest active
        # one, as glare(NAME, 'latest') does
        name = 'lat%d' % os.getpid()
        self.create(name, 's.sh', '1.0', env={'OS_AUTH_TOKEN': ALICE})
        status, body = self.server.request(
            'POST', '/artifacts/workflows', token=ALICE,
            body=json.dumps({'name': name, 'version': '2.0.0'}).encode(),
            content_type='application/json')
        self.assertEqual(status, 201, body)
        env = {'OS_AUTH_TOKEN': ALICE}
        show = self.glarex('workflow-show', name, '-f', 'json', env=env).json
        info = self.glarex('eval', "<%% glare_info('%s', 'latest', 's.sh') %%>" % name,
                           env=env).json
        self.assertEqual(show['version'], '1.0.0')
        self.assertEqual(info['version'], show['version'])
        self.assertEqual(self.glarex('workflow-show', name + '@latest', '-f', 'json',
                                     env=env).json['version'], '1.0.0')
        # the draft is shown when named
        self.assertEqual(self.glarex('workflow-show', name + '@2.0', '-f', 'json',
                                     env=env).json['status'], 'drafted')

    def test_ambiguity_names_a_setting_glarex_has(self):
        name = 'amb%d' % os.getpid()
        self.create(name, 's.sh', env={'OS_AUTH_TOKEN': ALICE})
        [art] = [a for a in self.server.artifacts(name=name)]
        status, body = self.server.request(
            'PATCH', '/artifacts/workflows/' + art['id'],
            body=json.dumps([{'op': 'replace', 'path': '/visibility',
                              'value': 'public'}]).encode(),
            content_type='application/json-patch+json')
        self.assertEqual(status, 200, body)
        self.create(name, 's.sh', env={'OS_AUTH_TOKEN': BOB})
        ref = "<%% glare('%s', '1.0', 's.sh') %%>" % name
        r = self.glarex('eval', ref, env={'OS_AUTH_TOKEN': BOB}, code=1)
        self.assertIn('prefer_own_project', r.err)
        # ... which glarex has: as a flag, a variable and a configuration key
        self.glarex('eval', ref, '--prefer-own-project', env={'OS_AUTH_TOKEN': BOB})
        self.glarex('eval', ref, env={'OS_AUTH_TOKEN': BOB,
                                      'GLAREX_PREFER_OWN_PROJECT': '1'})
        conf = self.write('glarex.conf', 'prefer_own_project = yes\n')
        self.glarex('eval', ref, '--config', conf, env={'OS_AUTH_TOKEN': BOB})


if __name__ == '__main__':
    S.build_dir()
    unittest.main()
