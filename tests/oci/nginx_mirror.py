"""nginx as a caching registry mirror for the tests: contrib/registry-mirror/nginx.conf,
filled in with 127.0.0.1 at a free port, an origin URL and a cache directory, run by
`nginx -p DIR -c DIR/nginx.conf` as the test's own user (every path it writes is in a
temporary directory) and stopped by its PID.

`authorize=False` leaves the auth_request lines out: a mirror that answers any blob it
holds to anyone, which the tests use to show that their checks catch it.
"""

import os
import shutil
import signal
import subprocess
import tempfile

from registry import free_port, wait_until_up

NGINX = shutil.which('nginx', path=os.environ.get('PATH', '') + ':/usr/sbin:/sbin')
TEMPLATE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'contrib', 'registry-mirror', 'nginx.conf')


def template():
    with open(TEMPLATE) as f:
        return f.read()


class NginxMirror:
    def __init__(self, origin_url, authorize=True):
        self.dir = tempfile.mkdtemp(prefix='glarex-nginx-mirror-')
        self.port = free_port()
        self.cache = os.path.join(self.dir, 'cache')
        conf = (template().replace('@LISTEN@', '127.0.0.1:%d' % self.port)
                .replace('@ORIGIN@', origin_url).replace('@CACHE_DIR@', self.cache))
        if not authorize:
            conf = '\n'.join(line for line in conf.split('\n')
                             if 'auth_request' not in line
                             and '$origin_challenge' not in line)
        self.conf = os.path.join(self.dir, 'nginx.conf')
        with open(self.conf, 'w') as f:
            f.write(conf)
        # as root, nginx would run its workers as nobody, who cannot enter self.dir
        directives = 'daemon off;' + (' user root;' if os.geteuid() == 0 else '')
        self.stderr = open(os.path.join(self.dir, 'stderr.log'), 'w')
        self.proc = subprocess.Popen([NGINX, '-p', self.dir, '-c', self.conf, '-e',
                                      'stderr', '-g', directives],
                                     stdout=self.stderr, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.url = 'http://127.0.0.1:%d' % self.port
        self.host = '127.0.0.1:%d' % self.port
        if not wait_until_up(self.url, self.proc):
            log = self.log()
            self.stop()
            raise RuntimeError('nginx did not start: ' + log)

    def log(self):
        with open(os.path.join(self.dir, 'stderr.log'), errors='replace') as f:
            out = f.read()
        try:
            with open(os.path.join(self.dir, 'error.log'), errors='replace') as f:
                out += f.read()
        except FileNotFoundError:
            pass
        return out

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)  # fast shutdown of the master
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # the master and its workers
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)
