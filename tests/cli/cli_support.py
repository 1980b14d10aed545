"""Shared helpers of the glarex CLI tests (standard library only).

The binary is BUILD/src/cli/glarex, where BUILD is given by --build-dir DIR
on the command line or the GLAREX_TEST_BUILD_DIR environment variable (meson
sets it), defaulting to ./build.  Every test runs the binary with its own
temporary HOME and XDG directories and none of the caller's OS_*, GLARE_*,
GLAREX_* or MISTRAL_URL variables, so nothing touches the real user's files.
"""

import json
import os
import pty
import select
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get('GLAREX_TEST_SOURCE_DIR') or \
    os.path.dirname(os.path.dirname(HERE))
PYTHON = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') \
    else sys.executable
GLARE_SERVER = os.path.join(SOURCE_DIR, 'tests', 'glare_server.py')
EXAMPLE_DIR = os.path.join(SOURCE_DIR, 'examples', 'heal_vms')
EXAMPLE_WF = os.path.join(EXAMPLE_DIR, 'heal_vms.yaml')
EXAMPLE_SCRIPT = os.path.join(EXAMPLE_DIR, 'heal_vm_script.sh')


def build_dir():
    argv = sys.argv
    for i, a in enumerate(argv):
        if a == '--build-dir' and i + 1 < len(argv):
            value = argv[i + 1]
            del argv[i:i + 2]
            os.environ['GLAREX_TEST_BUILD_DIR'] = value
            break
        if a.startswith('--build-dir='):
            os.environ['GLAREX_TEST_BUILD_DIR'] = a.split('=', 1)[1]
            del argv[i]
            break
    return os.path.abspath(os.environ.get('GLAREX_TEST_BUILD_DIR', 'build'))


def glarex_binary():
    return os.path.join(build_dir(), 'src', 'cli', 'glarex')


def clean_environ(home):
    """The environment of one test: only neutral variables, private dirs."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith(('OS_', 'GLARE', 'XDG_'))
                   or k == 'MISTRAL_URL')}
    env.update(HOME=home,
               XDG_DATA_HOME=os.path.join(home, 'data'),
               XDG_CACHE_HOME=os.path.join(home, 'cache'),
               XDG_CONFIG_HOME=os.path.join(home, 'config'),
               LC_ALL='C.UTF-8')
    return env


class Result:
    def __init__(self, args, code, out, err):
        self.args, self.code, self.out, self.err = args, code, out, err

    @property
    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return 'glarex %s -> %d\nstdout: %s\nstderr: %s' % (
            ' '.join(self.args), self.code, self.out[:2000], self.err[:2000])


def run(args, env, stdin=None, timeout=120, binary=False):
    p = subprocess.run([glarex_binary()] + list(args), env=env,
                       input=stdin, capture_output=True, timeout=timeout)
    out = p.stdout if binary else p.stdout.decode('utf-8', 'replace')
    return Result(args, p.returncode, out, p.stderr.decode('utf-8', 'replace'))


def run_pty(args, env, which='stdout', timeout=60):
    """Runs with stdout or stderr on a terminal; returns (code, tty_text, other)."""
    master, slave = pty.openpty()
    kw = {'stdout': subprocess.PIPE, 'stderr': subprocess.PIPE}
    kw[which] = slave
    p = subprocess.Popen([glarex_binary()] + list(args), env=env,
                         stdin=subprocess.DEVNULL, **kw)
    os.close(slave)
    other_pipe = p.stderr if which == 'stdout' else p.stdout
    chunks, deadline = [], time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the other end is closed
                break
            if not data:
                break
            chunks.append(data)
        elif p.poll() is not None:
            break
    other = other_pipe.read()
    other_pipe.close()
    code = p.wait(timeout=timeout)
    os.close(master)
    return code, b''.join(chunks).decode('utf-8', 'replace'), \
        other.decode('utf-8', 'replace')


class GlareServer:
    """tests/glare_server.py on 127.0.0.1, a free port, a private data dir."""

    def __init__(self, *extra):
        self.dir = tempfile.mkdtemp(prefix='glarex-cli-glare-')
        with open(os.path.join(self.dir, 'log'), 'wb') as log:
            self.proc = subprocess.Popen(
                [PYTHON, GLARE_SERVER, '--port', '0', '--data',
                 os.path.join(self.dir, 'data'), '--control'] + list(extra),
                stdout=subprocess.PIPE, stderr=log)
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith('listening on '):
            self.stop()
            raise RuntimeError('glare_server.py did not start: %r' % line)
        self.url = line[len('listening on '):]

    def request(self, method, path, token='root:admin:admin', body=None,
                content_type=None):
        req = urllib.request.Request(self.url + path, method=method, data=body)
        if token:
            req.add_header('X-Auth-Token', token)
        if content_type:
            req.add_header('Content-Type', content_type)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                data = r.read()
                return r.status, json.loads(data) if data else None
        except urllib.error.HTTPError as e:
            data = e.read()
            try:
                return e.code, json.loads(data)
            except ValueError:
                return e.code, data

    def artifacts(self, **filters):
        """Every workflows artifact (admin view), drafts included."""
        query = '&'.join('%s=eq:%s' % kv for kv in filters.items())
        status, body = self.request('GET', '/artifacts/workflows?limit=1000&'
                                    + query)
        assert status == 200, (status, body)
        return body['artifacts']

    def fault(self, **rule):
        status, body = self.request('POST', '/__control/faults', token=None,
                                    body=json.dumps(rule).encode(),
                                    content_type='application/json')
        assert status == 201, (status, body)

    def clear_faults(self):
        self.request('DELETE', '/__control/faults', token=None)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)
