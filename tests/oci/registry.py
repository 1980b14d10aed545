"""A real registry for the tests: Debian's docker-registry (CNCF distribution 2.8).

Each Registry runs `/usr/bin/docker-registry serve CONFIG` on 127.0.0.1 at a free
port, with filesystem storage (and its access log) in a temporary directory, and is
stopped by its PID.  Options: htpasswd users (bcrypt, made with python3-bcrypt),
`proxy` (a pull-through cache of another registry's URL), `delete` (whether the
registry allows deletes) and `token` (a TokenIssuer: the registry asks for bearer
tokens from it, `auth: token`).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import bcrypt

BINARY = '/usr/bin/docker-registry'


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_until_up(url, proc, seconds=20):
    """Whether the server `proc` started answers `url`/v2/ (any HTTP status: a 401 with
    auth is up) within `seconds`; False once it has exited."""
    deadline = time.time() + seconds
    while True:
        try:
            urllib.request.urlopen(url + '/v2/', timeout=2)
            return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                return False
            time.sleep(0.05)


class Registry:
    def __init__(self, users=None, proxy=None, delete=True, token=None):
        self.dir = tempfile.mkdtemp(prefix='glarex-registry-')
        self.port = free_port()
        self.storage = os.path.join(self.dir, 'data')
        self.log_path = os.path.join(self.dir, 'registry.log')
        lines = ['version: 0.1', 'log:', '  level: info', '  accesslog:',
                 '    disabled: false', 'storage:', '  filesystem:',
                 '    rootdirectory: %s' % self.storage, '  delete:',
                 '    enabled: %s' % ('true' if delete else 'false'), 'http:',
                 '  addr: 127.0.0.1:%d' % self.port,
                 '  secret: glarex-test-secret']
        if users:
            path = os.path.join(self.dir, 'htpasswd')
            with open(path, 'w') as f:
                for user, password in users.items():
                    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4))
                    f.write('%s:%s\n' % (user, hashed.decode()))
            lines += ['auth:', '  htpasswd:', '    realm: glarex-test',
                      '    path: %s' % path]
        if token:
            lines += ['auth:', '  token:', '    realm: %s/token' % token.url,
                      '    service: %s' % token.service, '    issuer: %s' % token.issuer,
                      '    rootcertbundle: %s' % token.cert]
        if proxy:
            lines += ['proxy:', '  remoteurl: %s' % proxy]
        config = os.path.join(self.dir, 'config.yml')
        with open(config, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        self.log = open(self.log_path, 'w')
        self.proc = subprocess.Popen([BINARY, 'serve', config], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.url = 'http://127.0.0.1:%d' % self.port
        self.host = '127.0.0.1:%d' % self.port
        if not wait_until_up(self.url, self.proc):
            self.stop()
            raise RuntimeError('docker-registry did not start: see ' + self.log_path)

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def blob_file(self, digest):
        hexd = digest.split(':', 1)[1]
        return os.path.join(self.storage, 'docker', 'registry', 'v2', 'blobs', 'sha256',
                            hexd[:2], hexd, 'data')

    def access_log(self):
        with open(self.log_path, errors='replace') as f:
            return [line for line in f if '"GET /v2/' in line or '"HEAD /v2/' in line
                    or '"PUT /v2/' in line or '"POST /v2/' in line
                    or '"DELETE /v2/' in line]

    def blob_gets(self):
        """How many times each blob was served: {digest: count} (GET, 2xx)."""
        counts = {}
        for line in self.access_log():
            m = re.search(r'"GET /v2/\S+/blobs/(sha256:[0-9a-f]{64}) HTTP/[0-9.]+" (\d+)',
                          line)
            if m and m.group(2).startswith('2'):
                counts[m.group(1)] = counts.get(m.group(1), 0) + 1
        return counts


class TokenIssuer:
    """tests/support/registry_token_issuer.py on 127.0.0.1 at a free port: users are
    {name: (password, 'prefix=actions;...')}, `anonymous` the grants of anonymous
    requests. requests() lists what it was asked."""

    service = 'glarex-test-registry'
    issuer = 'glarex-test-issuer'

    def __init__(self, users, anonymous='', lifetime=300):
        self.dir = tempfile.mkdtemp(prefix='glarex-token-issuer-')
        self.cert = os.path.join(self.dir, 'cert.pem')
        script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              'support', 'registry_token_issuer.py')
        args = ['/usr/bin/python3', script, '--dir', self.dir, '--issuer', self.issuer,
                '--anonymous', anonymous, '--lifetime', str(lifetime), '--users']
        args += ['%s:%s:%s' % (u, p, grants) for u, (p, grants) in users.items()]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith('PORT '):
            self.stop()
            raise RuntimeError('the token issuer did not start')
        self.url = 'http://127.0.0.1:%d' % int(line.split()[1])

    def requests(self):
        try:
            with open(os.path.join(self.dir, 'requests.log')) as f:
                return [json.loads(line) for line in f]
        except FileNotFoundError:
            return []

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait()
        self.proc.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)
