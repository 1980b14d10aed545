#!/usr/bin/python3
"""What the glarex command accepts as input, and what it will not do with it.

    /usr/bin/python3 tests/cli/test_inputs.py --build-dir build [-v] [TestClass]

YAML alias bombs (render, workflow-create --dry-run), file arguments that are
not regular files or are too big, JSON context files read as JSON, a long
Mistral fault string (a fake Mistral on 127.0.0.1), workflow-delete of one
exact version only, read-only commands on a missing store or cache, and a
password in the Glare URL kept out of --debug and --dry-run.
"""

import http.server
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cli_support as S  # noqa: E402

WF = """---
version: '2.0'
wf:
  tasks:
    run:
      action: std.echo output=<% glare('wf', '1.0', 's.sh') %>
"""


def laughs(levels, first='"<% $.x %>"', indent=''):
    """"Billion laughs": each anchor a list of 9 aliases of the one before."""
    lines = ['%sl0: &l0 [%s, a, a, a, a, a, a, a, a]' % (indent, first)]
    for i in range(1, levels):
        lines.append('%sl%d: &l%d [%s]' % (indent, i, i,
                                          ', '.join(['*l%d' % (i - 1)] * 9)))
    return '\n'.join(lines) + '\n'


def limit_memory():
    # A regression must fail the test, not take the machine's memory with it.
    # (ASan reserves terabytes of address space: no limit there.)
    if not os.environ.get('GLAREX_TEST_PRELOAD'):
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


class Base(unittest.TestCase):
    def setUp(self):
        self.home = tempfile.mkdtemp(prefix='glarex-inputs-test-')
        self.addCleanup(shutil.rmtree, self.home, True)
        self.env = S.clean_environ(self.home)
        self.env['GLARE_URL'] = 'file://' + os.path.join(self.home, 'store')

    def glarex(self, *args, code=0, env=None, stdin=None, timeout=30):
        e = dict(self.env)
        e.update(env or {})
        p = subprocess.run([S.glarex_binary()] + list(args), env=e, input=stdin,
                           capture_output=True, timeout=timeout,
                           preexec_fn=limit_memory)
        r = S.Result(args, p.returncode, p.stdout.decode('utf-8', 'replace'),
                     p.stderr.decode('utf-8', 'replace'))
        if code is not None:
            self.assertEqual(r.code, code, r)
        return r

    def write(self, name, text):
        path = os.path.join(self.home, name)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def script(self):
        return self.write('s.sh', 'echo hi\n')


class AliasBombTests(Base):
    def test_render_of_an_alias_bomb_is_refused(self):
        bomb = self.write('bomb.yaml', laughs(9))
        self.assertLess(os.path.getsize(bomb), 700)
        r = self.glarex('render', bomb, '-c', '{"x": 1}', code=1)
        self.assertIn('bomb.yaml: ', r.err)
        self.assertIn('1000000 nodes', r.err)
        self.assertIn('(line 7,', r.err)

    def test_dry_run_of_an_alias_bomb_is_refused(self):
        text = WF + '      input:\n' + laughs(
            9, first="\"<% glare('wf', '1.0', 's.sh') %>\"", indent='        ')
        wf = self.write('wf.yaml', text)
        r = self.glarex('workflow-create', wf, '-r', self.script(), '--dry-run', code=1)
        self.assertIn('wf.yaml: ', r.err)
        self.assertIn('aliases', r.err)
        self.assertIn('(line 14,', r.err)

    def test_context_file_alias_bomb_is_refused(self):
        ctx = self.write('ctx.yaml', laughs(9))
        r = self.glarex('eval', '<% $.l0 %>', '--context-file', ctx, code=1)
        self.assertIn('ctx.yaml: ', r.err)

    def test_shared_nodes_below_the_cap_still_work(self):
        doc = self.write('doc.yaml', laughs(3))
        r = self.glarex('render', doc, '-c', '{"x": 7}')
        self.assertEqual(r.json['l2'][0][0][0], 7)


class FileArgumentTests(Base):
    def fifo(self):
        path = os.path.join(self.home, 'fifo')
        os.mkfifo(path)
        return path

    def assert_not_a_file(self, r, path):
        self.assertIn(path + ': is not a regular file', r.err)

    def test_context_file_device_and_fifo(self):
        for path in ('/dev/zero', self.fifo()):
            r = self.glarex('eval', '<% 1 %>', '--context-file', path, code=1)
            self.assert_not_a_file(r, path)
            r = self.glarex('render', self.write('d.json', '{}'), '--context-file', path,
                            code=1)
            self.assert_not_a_file(r, path)

    def test_workflow_file_device_and_fifo(self):
        for path in ('/dev/zero', self.fifo()):
            r = self.glarex('workflow-create', path, '--dry-run', code=1)
            self.assert_not_a_file(r, path)

    def test_resource_device_and_fifo(self):
        wf = self.write('wf.yaml', WF)
        for path in ('/dev/zero', self.fifo()):
            r = self.glarex('workflow-create', wf, '-r', 's.sh=' + path, '--dry-run',
                            code=1)
            self.assert_not_a_file(r, path)
            r = self.glarex('workflow-create', wf, '-r', 's.sh=' + path, code=1)
            self.assert_not_a_file(r, path)
        self.assertFalse(os.path.exists(os.path.join(self.home, 'store')))

    def test_directory_is_refused(self):
        r = self.glarex('render', self.home, '-c', '{}', code=1)
        self.assertIn('is a directory', r.err)

    def test_tls_files_are_files(self):
        fifo = self.fifo()
        for opt in ('--os-cacert', '--os-cert', '--os-key'):
            r = self.glarex('workflow-list', opt, fifo, code=2)
            self.assertIn("%s: '%s' is not a regular file" % (opt, fifo), r.err)
        r = self.glarex('workflow-list', env={'OS_CACERT': '/dev/zero'}, code=2)
        self.assertIn("OS_CACERT: '/dev/zero' is not a regular file", r.err)

    def test_config_fifo(self):
        r = self.glarex('eval', '<% 1 %>', '--config', self.fifo(), code=2)
        self.assertIn('is not a regular file', r.err)

    def test_documents_are_capped(self):
        big = os.path.join(self.home, 'big.yaml')
        with open(big, 'wb') as f:
            f.truncate((16 << 20) + 1)  # sparse: cheap to make and to read
        for args in (['render', big, '-c', '{}'],
                     ['eval', '<% 1 %>', '--context-file', big],
                     ['workflow-create', big, '--dry-run']):
            r = self.glarex(*args, code=1)
            self.assertIn('big.yaml: larger than 16 MiB', r.err)
        r = self.glarex('render', '-', '-c', '{}', stdin=b'a' * ((16 << 20) + 1),
                        code=1)
        self.assertIn('<stdin>: larger than 16 MiB', r.err)

    def test_standard_input_still_works(self):
        r = self.glarex('render', '-', '-c', '{"x": 2}', stdin=b'a: <% $.x %>\n')
        self.assertEqual(r.json, {'a': 2})


class JsonContextTests(Base):
    CONTEXT = '{"big": 1e+16, "small": 1e-05, "face": "\\ud83d\\ude00", "n": 3}'

    def test_json_context_file_reads_as_context_flag(self):
        path = self.write('ctx.json', self.CONTEXT)
        from_flag = self.glarex('eval', '<% $ %>', '-c', self.CONTEXT).json
        self.assertEqual(from_flag, {'big': 1e16, 'small': 1e-05, 'face': '\U0001F600',
                                     'n': 3})
        for name in ('ctx.json', 'ctx.txt', '-'):
            args = ['--context-file', path if name != '-' else '-']
            if name == 'ctx.txt':
                args[1] = self.write('ctx.txt', self.CONTEXT)
            r = self.glarex('eval', '<% $ %>', *args, stdin=self.CONTEXT.encode())
            self.assertEqual(r.json, from_flag, name)
        r = self.glarex('eval', '<% $.big + 1 %>', '--context-file', path)
        self.assertEqual(r.json, 1e16 + 1)
        self.assertEqual(
            self.glarex('render', self.write('t.json', '{"a": "<% $.small %>"}'),
                        '--context-file', path).json, {'a': 1e-05})

    def test_json_file_errors_are_json_errors(self):
        path = self.write('bad.json', '{"a": 1,\n "b": }')
        r = self.glarex('eval', '<% $ %>', '--context-file', path, code=1)
        self.assertIn('bad.json is not JSON', r.err)
        self.assertIn('line 2', r.err)

    def test_yaml_files_stay_yaml(self):
        # PyYAML (and so Mistral) reads 1e+16 without a dot as a string
        path = self.write('ctx.yaml', 'big: 1e+16\nyes_: yes\n')
        r = self.glarex('eval', '<% $ %>', '--context-file', path)
        self.assertEqual(r.json, {'big': '1e+16', 'yes_': True})


class FakeMistral(http.server.BaseHTTPRequestHandler):
    fault = ''

    def do_POST(self):
        self.rfile.read(int(self.headers.get('Content-Length', 0)))
        body = json.dumps({'faultstring': self.fault, 'debuginfo': None}).encode()
        self.send_response(400)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class MistralFaultTests(Base):
    def test_a_128k_fault_string_is_reported(self):
        # Mistral's schema errors quote the whole definition: ~128 KB
        FakeMistral.fault = 'Invalid DSL: \u00e9t\u00e9 ' + 'x' * (128 << 10) + ' end'
        server = http.server.HTTPServer(('127.0.0.1', 0), FakeMistral)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        url = 'http://127.0.0.1:%d' % server.server_address[1]
        wf = self.write('wf.yaml', WF)
        r = self.glarex('workflow-create', wf, '-r', self.script(), '--mistral-url', url,
                        code=1)
        self.assertIn('400 Invalid DSL: \u00e9t\u00e9 xxx', r.err)
        self.assertNotIn('Bad Request', r.err)


class DeleteTests(Base):
    def test_delete_needs_one_exact_version(self):
        wf = self.write('wf.yaml', WF)
        s = self.script()
        for v in ('1.0', '1.1'):
            self.glarex('workflow-create', wf, '-r', s, '--version', v, '-q')
        for spec in ('wf@1.x', 'wf@>=1.0', 'wf@latest', 'wf@~1', 'wf'):
            r = self.glarex('workflow-delete', spec, code=2)
            self.assertIn(spec, r.err)
        listed = self.glarex('workflow-list', '-f', 'json').json['artifacts']
        self.assertEqual(sorted(a['version'] for a in listed), ['1.0.0', '1.1.0'])
        r = self.glarex('workflow-delete', 'wf@1.0', '-f', 'json')
        self.assertEqual(r.json['deleted']['version'], '1.0.0')
        listed = self.glarex('workflow-list', '-f', 'json').json['artifacts']
        self.assertEqual([a['version'] for a in listed], ['1.1.0'])
        self.glarex('workflow-delete', listed[0]['id'])


class ReadOnlyTests(Base):
    def test_a_missing_store_is_an_error_and_stays_missing(self):
        store = os.path.join(self.home, 'typo', 'store')
        env = {'GLARE_URL': 'file://' + store}
        for args in (['workflow-list'], ['workflow-show', 'wf'],
                     ['resource-list', 'wf@1.0'], ['resolve', 'glare://wf@1.0/s.sh'],
                     ['resource-get', 'wf', '1.0', 's.sh'],
                     ['eval', "<% glare('wf', '1.0', 's.sh') %>"]):
            r = self.glarex(*args, env=env, code=1)
            self.assertIn('no glarex store in \'%s\'' % store, r.err)
        self.glarex('workflow-delete', 'wf@1.0', env=env, code=1)
        self.assertEqual(self.glarex('eval', '<% 1 + 1 %>', env=env).json, 2)
        self.assertFalse(os.path.exists(os.path.join(self.home, 'typo')))

    def test_a_missing_cache_is_an_error_and_stays_missing(self):
        cache = os.path.join(self.home, 'typo-cache')
        for sub in ('ls', 'stats', 'verify', 'gc', 'purge'):
            r = self.glarex('cache', sub, '--cache-dir', cache, code=1)
            self.assertIn('no cache in ' + cache, r.err)
        self.assertFalse(os.path.exists(cache))
        self.assertFalse(os.path.exists(os.path.join(self.home, 'store')))


class UrlPasswordTests(Base):
    @classmethod
    def setUpClass(cls):
        cls.server = S.GlareServer()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_password_stays_out_of_debug_and_dry_run(self):
        url = self.server.url.replace('http://', 'http://user:s3cr3t@')
        env = {'GLARE_URL': url, 'OS_AUTH_TOKEN': 'alice:p1:member'}
        r = self.glarex('workflow-list', '--debug', env=env)
        self.assertIn('curl -sS -X GET', r.err)
        self.assertIn('user:***@127.0.0.1', r.err)
        wf = self.write('wf.yaml', WF)
        r2 = self.glarex('workflow-create', wf, '-r', self.script(), '--dry-run', env=env)
        self.assertIn('user:***@', r2.out)
        r3 = self.glarex('workflow-create', wf, '-r', self.script(), '--dry-run',
                         '-f', 'json', env=env)
        self.assertEqual(r3.json['store'], url.replace('s3cr3t', '***'))
        r4 = self.glarex('workflow-list', '-f', 'json', env=env)
        r5 = self.glarex('workflow-show', 'nothing', env=env, code=1)
        r6 = self.glarex('workflow-create', wf, '-r', self.script(), '-v', env=env)
        self.assertIn('created wf 1.0.0 in http://user:***@', r6.out)
        r7 = self.glarex('workflow-delete', 'wf@1.0', '-f', 'json', env=env)
        for r in (r, r2, r3, r4, r5, r6, r7):
            self.assertNotIn('s3cr3t', r.out + r.err, r)


if __name__ == '__main__':
    S.build_dir()
    unittest.main()
