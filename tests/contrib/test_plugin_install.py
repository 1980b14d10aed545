#!/usr/bin/python3
"""The Mistral plugin's install and service setup, as contrib/mistral/README.md
documents them, on this machine.

1. The documented `pip install --no-build-isolation --no-deps` with Debian's
   /usr/bin/python3 and pip, offline: --no-index, and in a network namespace
   of its own when this runs as root (unshare -n). The distribution lands in
   a temporary --target directory instead of the system's site-packages.
   The same command without --no-build-isolation must fail offline: that is
   why the README says it.
2. Real Mistral (Debian python3-mistral) finds the four functions through the
   installed distribution's entry points, and the Jinja filter forms work and
   fail as the README shows, against a local store.
3. The README's systemd drop-in passes `systemd-analyze verify` with the
   directives it shows, and the cache directory it describes (made by
   systemd for the unit's user, mode 0700) is one the plugin uses while a
   missing one the user cannot create is not (run as `nobody`, as root only).

    GLAREX_TEST_BUILD_DIR=build /usr/bin/python3 tests/contrib/test_plugin_install.py
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get('GLAREX_TEST_SOURCE_DIR') or \
    os.path.dirname(os.path.dirname(HERE))
PLUGIN_DIR = os.path.join(SOURCE_DIR, 'contrib', 'mistral')
README = os.path.join(PLUGIN_DIR, 'README.md')
EXAMPLE = os.path.join(SOURCE_DIR, 'examples', 'heal_vms')
PYTHON = '/usr/bin/python3'
IS_ROOT = os.geteuid() == 0

# Runs in a child python3 with the installed plugin on its path: evaluates
# each expression of argv[1] (JSON) with Mistral, prints {expr: result or
# "ERROR: ..."} as JSON.
EVALUATE = r'''
import json, logging, sys, warnings
warnings.simplefilter('ignore')
logging.disable(logging.CRITICAL)
from oslo_config import cfg
from mistral import expressions
from mistral.expressions import base
cfg.CONF.set_override('auth_enable', False, group='pecan')
out = {'functions': sorted(n for n in base.get_custom_functions()
                           if n.startswith('glare'))}
for expr in json.loads(sys.argv[1]):
    try:
        out[expr] = expressions.evaluate(expr, {})
    except Exception as e:
        out[expr] = 'ERROR: %s' % e
print(json.dumps(out))
'''


def readme_block(after):
    """The first fenced block of the README after the line holding `after`."""
    with open(README) as f:
        text = f.read()
    at = text.index(after)
    m = re.compile(r'```[a-z]*\n(.*?)```', re.S).search(text, at)
    return '\n'.join(line[3:] if line.startswith('   ') else line
                     for line in m.group(1).splitlines())


def sanitizer_env():
    """LD_PRELOAD for a python3 that loads an ASan build of libglarex."""
    if 'address' not in os.environ.get('GLAREX_TEST_SANITIZE', ''):
        return {}
    cc = os.environ.get('GLAREX_TEST_CC') or 'cc'
    libs = [subprocess.run([cc, '-print-file-name=' + lib], check=True,
                           capture_output=True, text=True).stdout.strip()
            for lib in ('libasan.so', 'libubsan.so')]
    return {'LD_PRELOAD': ' '.join(libs), 'ASAN_OPTIONS': 'detect_leaks=0'}


class PluginInstall(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        build = os.path.abspath(os.environ.get('GLAREX_TEST_BUILD_DIR', 'build'))
        cls.library = os.path.join(build, 'src', 'libglarex.so.0')
        cls.glarex = os.path.join(build, 'src', 'cli', 'glarex')
        cls.tmp = tempfile.mkdtemp(prefix='glarex-plugin-install-')
        os.chmod(cls.tmp, 0o755)  # `nobody` reads the plugin and the store
        cls.site = os.path.join(cls.tmp, 'site')
        cls.src = os.path.join(cls.tmp, 'src')
        shutil.copytree(PLUGIN_DIR, cls.src,
                        ignore=shutil.ignore_patterns('__pycache__', '*.egg-info',
                                                      'build'))
        cls.install = cls.pip('--no-build-isolation', '--target', cls.site)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def pip(cls, *extra):
        """The README's command, offline, with `extra` options."""
        documented = readme_block("**Install the package into Mistral's Python environment**")
        line = [ln for ln in documented.splitlines()
                if ln.startswith('pip install')][0].split()
        # pip install OPTIONS... PATH: the system-wide option gives way to --target
        opts = [o for o in line[2:-1] if o != '--break-system-packages']
        assert '--no-build-isolation' in opts and '--no-deps' in opts, line
        opts = [o for o in opts if o != '--no-build-isolation']
        cmd = [PYTHON, '-m', 'pip', 'install', '--no-index', '--disable-pip-version-check',
               '--no-cache-dir', '--no-compile'] + opts + list(extra) + [cls.src]
        if IS_ROOT and shutil.which('unshare'):
            cmd = ['unshare', '-n'] + cmd
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(('PIP_', 'PYTHON'))}
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)

    def run_as(self, user, args, env, **kw):
        if user:
            args = ['setpriv', '--reuid=' + user, '--regid=nogroup', '--clear-groups',
                    '--'] + args
        return subprocess.run(args, env=env, capture_output=True, text=True,
                              timeout=300, **kw)

    def store_env(self, store, cache):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(('OS_', 'GLARE', 'XDG_', 'PYTHON'))}
        env.update(GLARE_URL='file://' + store, GLAREX_CACHE_DIR=cache,
                   GLAREX_LIBRARY=self.library, HOME=self.tmp)
        return env

    def make_store(self, user=None):
        home = os.path.join(self.tmp, 'home-%s' % (user or 'me'))
        os.mkdir(home, 0o755)
        if user:
            shutil.chown(home, user)
        store = os.path.join(home, 'store')
        env = self.store_env(store, os.path.join(home, 'cli-cache'))
        r = self.run_as(user, [self.glarex, 'workflow-create', '-q',
                               os.path.join(EXAMPLE, 'heal_vms.yaml'), '-r',
                               os.path.join(EXAMPLE, 'heal_vm_script.sh')], env)
        self.assertEqual(r.returncode, 0, r.stderr)
        return store

    def evaluate(self, exprs, store, cache, user=None):
        env = self.store_env(store, cache)
        env.update(sanitizer_env(), PYTHONPATH=self.site)
        r = self.run_as(user, [PYTHON, '-c', EVALUATE, json.dumps(exprs)], env)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        return json.loads(r.stdout)

    def test_the_documented_command_installs_offline(self):
        self.assertEqual(self.install.returncode, 0, self.install.stdout +
                         self.install.stderr)
        [dist] = [d for d in os.listdir(self.site) if d.endswith('.dist-info')]
        self.assertTrue(dist.startswith('glarex_mistral-'), dist)
        with open(os.path.join(self.site, dist, 'entry_points.txt')) as f:
            points = f.read()
        self.assertIn('[mistral.expression.functions]', points)
        for name in ('glare', 'glare_path', 'glare_b64', 'glare_info'):
            self.assertIn('%s = glarex_mistral:%s_' % (name, name), points)
        # nothing written into the source tree
        self.assertEqual(sorted(os.listdir(PLUGIN_DIR)),
                         sorted(n for n in os.listdir(self.src)
                                if n not in ('build',) and not n.endswith('.egg-info')))

    def test_build_isolation_needs_the_network(self):
        r = self.pip('--target', os.path.join(self.tmp, 'isolated'))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('setuptools', r.stdout + r.stderr)

    def test_mistral_finds_the_functions_and_the_filter_forms(self):
        self.assertEqual(self.install.returncode, 0, self.install.stderr)
        store = self.make_store()
        with open(os.path.join(EXAMPLE, 'heal_vm_script.sh')) as f:
            script = f.read()
        works = ["{{ glare('heal_vms', '1.0', 'heal_vm_script.sh') }}",
                 "{{ _ | glare('heal_vms', '1.0', 'heal_vm_script.sh') }}",
                 "{{ _ | glare('glare://heal_vms@1.0/heal_vm_script.sh') }}",
                 "<% glare('heal_vms', '1.0', 'heal_vm_script.sh') %>"]
        fails = "{{ 'heal_vms' | glare('1.0', 'heal_vm_script.sh') }}"
        out = self.evaluate(works + [fails], store, os.path.join(self.tmp, 'cache'))
        self.assertEqual(out['functions'], ['glare', 'glare_b64', 'glare_info',
                                            'glare_path'])
        for expr in works:
            self.assertEqual(out[expr], script, expr)
        self.assertTrue(out[fails].startswith('ERROR: '), out[fails])
        # the README shows these very forms
        with open(README) as f:
            readme = f.read()
        for expr in works[1:3] + [fails]:
            self.assertIn(expr.replace('heal_vms', 'my_wf').replace(
                "'1.0', 'heal_vm_script.sh'", "'1.0', 'heal_vm_script.sh'"), readme)

    def test_the_systemd_drop_in(self):
        if not shutil.which('systemd-analyze'):
            self.skipTest('systemd-analyze is not installed')
        units = os.path.join(self.tmp, 'units')
        os.makedirs(os.path.join(units, 'mistral-engine.service.d'))
        with open(os.path.join(units, 'mistral-engine.service'), 'w') as f:
            f.write('[Unit]\nDescription=stand-in\n[Service]\nUser=nobody\n'
                    'ExecStart=/bin/true\n')
        drop_in = readme_block('drop-in `/etc/systemd/system/mistral-engine')
        with open(os.path.join(units, 'mistral-engine.service.d', 'glarex.conf'),
                  'w') as f:
            f.write(drop_in)
        r = subprocess.run(['systemd-analyze', 'verify',
                            os.path.join(units, 'mistral-engine.service')],
                           capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, SYSTEMD_LOG_LEVEL='debug'))
        self.assertEqual(r.returncode, 0, r.stderr)
        said = r.stdout + r.stderr
        self.assertNotRegex(said, r'glarex\.conf:\d+: ')  # no complaint about a line
        self.assertIn('CacheDirectory: glarex', said)
        self.assertIn('CacheDirectoryMode: 0700', said)
        self.assertIn('GLAREX_CACHE_DIR=/var/cache/glarex', said)

    def test_the_cache_directory_systemd_makes(self):
        if not IS_ROOT or not shutil.which('setpriv'):
            self.skipTest('needs root and setpriv, to run as nobody')
        self.assertEqual(self.install.returncode, 0, self.install.stderr)
        # `nobody` runs the build's glarex and library and reads the example: a tree
        # under a directory only its owner may enter (mktemp -d makes one) hides them
        hidden = [p for p in (self.glarex, self.library, EXAMPLE)
                  if self.run_as('nobody', ['test', '-r', p], dict(os.environ)).returncode]
        if hidden:
            self.skipTest('nobody cannot reach %s: a parent directory is closed to '
                          'others (chmod o+x it to run this test)' % ', '.join(hidden))
        store = self.make_store('nobody')
        expr = "{{ glare('heal_vms', '1.0', 'heal_vm_script.sh') }}"
        var_cache = os.path.join(self.tmp, 'var-cache')  # root's, as /var/cache
        os.mkdir(var_cache, 0o755)
        # what the old README set up: a directory the user cannot create
        out = self.evaluate([expr], store, os.path.join(var_cache, 'glarex'), 'nobody')
        self.assertTrue(out[expr].startswith('ERROR: '), out[expr])
        # what CacheDirectory=glarex with CacheDirectoryMode=0700 makes
        cache = os.path.join(var_cache, 'glarex')
        os.mkdir(cache, 0o700)
        shutil.chown(cache, 'nobody', 'nogroup')
        out = self.evaluate([expr], store, cache, 'nobody')
        self.assertTrue(out[expr].startswith('#!'), out[expr])
        self.assertTrue(os.listdir(cache))


if __name__ == '__main__':
    unittest.main()
