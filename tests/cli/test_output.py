#!/usr/bin/python3
"""Output formats of the listing and show commands, as the OpenStack clients print
them (-f table|json|yaml|value|shell, -c, --sort-column, --prefix), each parsed by
the matching parser: json, PyYAML's safe_load, sh's eval, value lines, table rows.

    /usr/bin/python3 tests/cli/test_output.py --build-dir build [-v]
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cli_support as S  # noqa: E402

WF = """---
version: '2.0'
%s:
  tasks:
    run:
      action: std.echo output=<%% glare('s.sh') %%>
"""

# Stored by one tenant, printed to another: quotes, $(...), backquotes, a newline, an
# escape sequence and non-ASCII text must come out as data.
NASTY = 'say "hi" $(touch pwned) `touch pwned` \\ $HOME\nline two \x1b[31m red é'


def table_rows(text):
    """The cells of a table as PrettyTable draws it: header first."""
    rows = []
    for line in text.splitlines():
        if line.startswith('|'):
            rows.append([cell.strip() for cell in line[1:-1].split('|')])
        else:
            assert line.startswith('+') and set(line) <= set('+-'), line
    return rows


class OutputFormats(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.home = tempfile.mkdtemp(prefix='glarex-output-test-')
        cls.env = S.clean_environ(cls.home)
        wf = os.path.join(cls.home, 'wf.yaml')
        with open(wf, 'w') as f:
            f.write(WF % 'wf')
        for v in ('1.9', '1.10', '1.2'):
            S.run(['workflow-create', wf, '--version', v, '-q', '--description', NASTY,
                   '--tag', 'a', '--tag', 'b', '-r', 's.sh=' + S.EXAMPLE_SCRIPT],
                  cls.env)
        r = S.run(['eval', "<% glare('wf', '1.2', 's.sh') %>"], cls.env)
        assert r.code == 0, r

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.home, True)

    def glarex(self, *args, code=0):
        r = S.run(args, self.env)
        self.assertEqual(r.code, code, r)
        return r

    def both(self, *args):
        """The JSON and YAML outputs of one command: the same document."""
        doc = self.glarex(*args, '-f', 'json').json
        self.assertEqual(yaml.safe_load(self.glarex(*args, '-f', 'yaml').out), doc)
        return doc

    def test_json_and_yaml_of_every_listing_and_show_command(self):
        listed = self.both('workflow-list')
        self.assertEqual([a['version'] for a in listed['artifacts']],
                         ['1.2.0', '1.9.0', '1.10.0'])
        self.assertEqual(listed['artifacts'][0]['description'], NASTY)
        shown = self.both('workflow-show', 'wf@1.9')
        self.assertEqual((shown['version'], shown['tags']), ('1.9.0', ['a', 'b']))
        self.assertEqual(shown['description'], NASTY)
        res = self.both('resource-list', 'wf@1.2')
        self.assertEqual([x['key'] for x in res['resources']], ['s.sh'])
        self.assertEqual(len(self.both('cache', 'ls')['objects']), 1)
        self.assertEqual(self.both('cache', 'stats')['objects'], 1)
        self.assertEqual(self.both('resolve', 'glare://wf@1.2/s.sh')['key'], 's.sh')
        explained = self.glarex('resolve', '--explain', 'wf', 'latest', 's.sh', '-f', 'yaml')
        self.assertEqual(yaml.safe_load(explained.out)['reference'], 'glare://wf@latest/s.sh')

    def test_columns_and_sorting(self):
        doc = self.glarex('workflow-list', '-f', 'json', '-c', 'version', '-c', 'name',
                          '--sort-column', 'version', '--sort-descending').json
        # the command's column order, whatever the order of -c
        self.assertEqual([list(a) for a in doc['artifacts']], [['name', 'version']] * 3)
        self.assertEqual([a['version'] for a in doc['artifacts']],
                         ['1.10.0', '1.9.0', '1.2.0'])
        asc = self.glarex('workflow-list', '-f', 'value', '-c', 'version',
                          '--sort-column', 'version', '--sort-ascending').out
        self.assertEqual(asc, '1.2.0\n1.9.0\n1.10.0\n')
        show = self.glarex('workflow-show', 'wf', '-f', 'json', '-c', 'id', '-c',
                           'status').json
        self.assertEqual(sorted(show), ['id', 'status'])
        y = yaml.safe_load(self.glarex('workflow-show', 'wf', '-f', 'yaml', '-c',
                                       'version').out)
        self.assertEqual(y, {'version': '1.10.0'})

    def test_value(self):
        out = self.glarex('workflow-list', '-f', 'value', '-c', 'name', '-c', 'version',
                          '-c', 'tags').out
        self.assertEqual(out.splitlines(),
                         ['wf 1.2.0 a, b', 'wf 1.9.0 a, b', 'wf 1.10.0 a, b'])
        one = self.glarex('workflow-show', 'wf@1.2', '-f', 'value', '-c', 'name', '-c',
                          'version').out
        self.assertEqual(one, 'wf\n1.2.0\n')
        keys = self.glarex('resource-list', 'wf@1.2', '-f', 'value', '-c', 'key').out
        self.assertEqual(keys, 's.sh\n')

    def test_shell_reads_back_and_runs_nothing(self):
        out = self.glarex('workflow-show', 'wf@1.9', '-f', 'shell', '--prefix', 'wf_').out
        script = out + 'printf "%s\\0" "$wf_name" "$wf_version" "$wf_description" ' \
                       '"$wf_created_at"'
        work = tempfile.mkdtemp(dir=self.home)
        p = subprocess.run(['sh', '-c', 'eval "$1"', 'sh', script], cwd=work,
                           capture_output=True, check=True)
        name, version, desc, created, _ = p.stdout.decode().split('\0')
        shown = self.glarex('workflow-show', 'wf@1.9', '-f', 'json').json
        self.assertEqual((name, version, created),
                         ('wf', '1.9.0', shown['created_at']))
        self.assertEqual(desc, NASTY)
        self.assertEqual(os.listdir(work), [])  # nothing ran
        # without --prefix: the bare column names
        plain = self.glarex('cache', 'stats', '-f', 'shell', '-c', 'objects').out
        self.assertEqual(plain, 'objects="1"\n')

    def test_table(self):
        rows = table_rows(self.glarex('workflow-list', '-f', 'table').out)
        self.assertEqual(rows[0], ['id', 'name', 'version', 'status', 'visibility',
                                   'owner'])
        listed = self.glarex('workflow-list', '-f', 'json').json['artifacts']
        self.assertEqual([r[:3] for r in rows[1:]],
                         [[a['id'], a['name'], a['version']] for a in listed])
        rows = table_rows(self.glarex('workflow-show', 'wf@1.2', '-c', 'name', '-c',
                                      'description', '-f', 'table').out)
        self.assertEqual(rows[0], ['Field', 'Value'])
        self.assertEqual(rows[1], ['name', 'wf'])
        # the escape character is shown, not sent; a newline is a second line
        self.assertNotIn('\x1b', self.glarex('workflow-show', 'wf@1.2', '-f', 'table').out)
        self.assertIn(['description', 'say "hi" $(touch pwned) `touch pwned` \\ $HOME'],
                      rows)
        self.assertIn(['', 'line two \\x1b[31m red é'], rows)
        # "text" is the old name of table
        self.assertEqual(self.glarex('workflow-list', '-f', 'text').out,
                         self.glarex('workflow-list', '-f', 'table').out)
        # without -f: a table on a terminal, the JSON document on a pipe
        code, tty, _ = S.run_pty(['workflow-list'], self.env)
        self.assertEqual(code, 0)
        self.assertEqual(table_rows(tty.replace('\r\n', '\n'))[0][:3], ['id', 'name', 'version'])
        self.assertEqual(json.loads(self.glarex('workflow-list').out),
                         self.glarex('workflow-list', '-f', 'json').json)
        self.assertEqual(json.loads(self.glarex('workflow-show', 'wf@1.2').out)['name'], 'wf')
        # no rows: nothing, as cliff
        self.assertEqual(self.glarex('workflow-list', '--name', 'none', '-f', 'table').out, '')

    def test_usage_errors(self):
        cases = [
            (['workflow-list', '-c', 'nmae'], "no column 'nmae' (did you mean 'name'?)"),
            (['workflow-list', '--sort-column', 'size'], "no column 'size'"),
            (['workflow-list', '-f', 'shell'], 'prints one record'),
            (['workflow-list', '-f', 'jsn'], "did you mean 'json'?"),
            (['workflow-list', '--sort-ascending', '--sort-descending'], 'not both'),
            (['workflow-show', 'wf', '-f', 'shell', '--prefix', 'a-b'], "'a-b'"),
            (['workflow-show', 'wf', '--sort-column', 'name'], "'--sort-column'"),
            (['eval', 'x', '-f', 'yaml'], '-f table or -f json'),
            (['workflow-create', 'x.yaml', '-f', 'value'], '-f table or -f json'),
            (['resolve', '--explain', 'glare://wf/s.sh', '-c', 'key'], 'without -c'),
        ]
        for args, message in cases:
            r = self.glarex(*args, code=2)
            self.assertIn(message, r.err, r)
            self.assertEqual(r.out, '', r)


if __name__ == '__main__':
    S.build_dir()
    unittest.main()
