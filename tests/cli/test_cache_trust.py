#!/usr/bin/python3
"""resource-get never writes out bytes under a digest they do not have.

    /usr/bin/python3 tests/cli/test_cache_trust.py --build-dir build [-v]

Against the local directory store, with a resource over the 8 MiB stream threshold
(large objects are mapped from the cache, not held in memory):

- the cached object's bytes are changed on disk: resource-get refuses to write them
  and a later call fetches the genuine bytes again;
- another user (nobody, through setpriv; the tests run as root) pre-created the
  cache directory mode 0777 and planted the object: the directory is refused.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cli_support as S  # noqa: E402
from test_cli import WF_TEMPLATE  # noqa: E402

BIG = 9 * 1024 * 1024  # over the 8 MiB stream threshold, under the store's 10 MiB cap


class ResourceGetVerifies(unittest.TestCase):

    def setUp(self):
        self.home = tempfile.mkdtemp(prefix='glarex-trust-test-')
        self.addCleanup(shutil.rmtree, self.home, True)
        self.env = S.clean_environ(self.home)
        self.blob = bytes(i % 251 for i in range(BIG))
        self.sha = hashlib.sha256(self.blob).hexdigest()
        path = os.path.join(self.home, 'big.bin')
        with open(path, 'wb') as f:
            f.write(self.blob)
        wf = os.path.join(self.home, 'wf.yaml')
        with open(wf, 'w') as f:
            f.write(WF_TEMPLATE % {'wf': 'wf', 'name': 'wf', 'version': '1.0',
                                   'key': 'big.bin'})
        self.glarex('workflow-create', wf, '-r', 'big.bin=' + path)

    def glarex(self, *args, env=None, code=0):
        e = dict(self.env)
        e.update(env or {})
        r = S.run(args, e, binary=True)
        if code is not None:
            self.assertEqual(r.code, code, r)
        return r

    def get(self, out, env=None, code=0):
        return self.glarex('resource-get', 'wf', '1.0', 'big.bin', '-o', out,
                           env=env, code=code)

    def object_path(self, cache_dir):
        return os.path.join(cache_dir, 'objects', self.sha[:2], self.sha[2:])

    def test_changed_large_object_is_not_written(self):
        first = os.path.join(self.home, 'first.bin')
        r = self.get(first)
        self.assertIn(self.sha, r.err)
        with open(first, 'rb') as f:
            self.assertEqual(f.read(), self.blob)

        obj = self.object_path(os.path.join(self.home, 'cache', 'glarex'))
        os.chmod(obj, 0o600)
        with open(obj, 'r+b') as f:
            f.seek(BIG // 2)
            f.write(b'X')
        os.chmod(obj, 0o400)

        second = os.path.join(self.home, 'second.bin')
        r = self.get(second, code=1)
        self.assertIn('changed on disk', r.err)
        self.assertNotIn('wrote', r.err)
        self.assertFalse(os.path.exists(second))
        r = self.glarex('resource-get', 'wf', '1.0', 'big.bin', code=None)
        self.assertTrue(r.code == 0 and r.out == self.blob or r.code == 1 and r.out == b'',
                        'changed bytes written to standard output')

        third = os.path.join(self.home, 'third.bin')
        self.get(third)  # fetched again, verified
        with open(third, 'rb') as f:
            self.assertEqual(f.read(), self.blob)

    @unittest.skipUnless(os.geteuid() == 0 and os.access('/usr/bin/setpriv', os.X_OK),
                         'needs root and setpriv for a second user')
    def test_cache_directory_planted_by_another_user_is_refused(self):
        shared = os.path.join(self.home, 'shared')
        os.chmod(self.home, 0o777)
        obj = self.object_path(shared)
        subprocess.run(
            ['/usr/bin/setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups',
             '/bin/sh', '-c',
             'umask 0 && mkdir -p "$1" "$2/tmp" && head -c %d /dev/zero | tr "\\000" X > "$3"'
             % BIG, 'sh', os.path.dirname(obj), shared, obj],
            check=True)
        self.assertEqual(os.stat(obj).st_uid, 65534)

        out = os.path.join(self.home, 'out.bin')
        r = self.get(out, env={'GLAREX_CACHE_DIR': shared}, code=1)
        self.assertIn('is owned by uid 65534', r.err)
        self.assertIn('choose another cache directory', r.err)
        self.assertNotIn('wrote', r.err)
        self.assertFalse(os.path.exists(out))


if __name__ == '__main__':
    S.build_dir()  # takes --build-dir out of argv
    if not os.access(S.glarex_binary(), os.X_OK):
        sys.exit('no glarex binary at %s (give --build-dir)' % S.glarex_binary())
    unittest.main()
