#!/usr/bin/python3
"""Settings from the OpenStack ecosystem: python-glareclient's variables,
OS_CLOUD with clouds.yaml and secure.yaml, and Keystone's service catalog.

    /usr/bin/python3 tests/cli/test_ecosystem.py --build-dir build [-v]

A Keystone-like endpoint (fake_keystone.py) serves tokens with a catalog and
tests/glare_server.py is the Glare server, both on 127.0.0.1.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cli_support as S  # noqa: E402
from fake_keystone import FakeKeystone  # noqa: E402

TOKEN = 'alice:projA:member'  # trusted-auth form: glare_server.py takes it


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.glare = S.GlareServer()

    @classmethod
    def tearDownClass(cls):
        cls.glare.stop()

    def setUp(self):
        self.home = tempfile.mkdtemp(prefix='glarex-cli-test-')
        self.addCleanup(shutil.rmtree, self.home, True)
        self.cwd = os.path.join(self.home, 'work')
        os.mkdir(self.cwd)
        self.env = S.clean_environ(self.home)
        for k in ('AUTH_TOKEN', 'OS_CLIENT_CONFIG_FILE', 'OS_CLIENT_SECURE_FILE'):
            self.env.pop(k, None)

    def glarex(self, *args, code=0, env=None):
        e = dict(self.env)
        e.update(env or {})
        p = subprocess.run([S.glarex_binary()] + list(args), env=e, cwd=self.cwd,
                           capture_output=True, timeout=120)
        r = S.Result(args, p.returncode, p.stdout.decode(), p.stderr.decode())
        if code is not None:
            self.assertEqual(r.code, code, r)
        return r

    def show(self, env=None):
        return self.glarex('-f', 'json', 'config', 'show', env=env).json

    def write(self, path, doc):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(doc if isinstance(doc, str) else json.dumps(doc))
        return path

    def keystone(self, catalog, **kw):
        ks = FakeKeystone([TOKEN], catalog=catalog, **kw).start()
        self.addCleanup(ks.stop)
        return ks


class GlareclientNames(Base):
    def test_os_glare_url_and_auth_token(self):
        env = {'OS_GLARE_URL': self.glare.url, 'AUTH_TOKEN': TOKEN}
        cfg = self.show(env)
        self.assertEqual(cfg['store'], {'value': self.glare.url, 'from': 'OS_GLARE_URL'})
        self.assertEqual(cfg['identity'], {'kind': 'token', 'from': 'AUTH_TOKEN'})
        # and they are used: the artifact lands on the Glare server as alice's
        self.glarex('workflow-create', S.EXAMPLE_WF, '-r', S.EXAMPLE_SCRIPT, '-q',
                    env=env)
        owners = [a['owner'] for a in self.glare.artifacts(name='heal_vms')]
        self.assertEqual(owners, ['projA'])

    def test_glarex_names_come_first(self):
        env = {'OS_GLARE_URL': 'http://127.0.0.1:1', 'GLARE_URL': self.glare.url,
               'AUTH_TOKEN': 'x:y:z', 'OS_AUTH_TOKEN': TOKEN}
        cfg = self.show(env)
        self.assertEqual(cfg['store']['from'], 'GLARE_URL')
        self.assertEqual(cfg['identity']['from'], 'OS_AUTH_TOKEN')
        # an empty variable counts as unset, for the alias too
        cfg = self.show({'GLARE_URL': '', 'OS_GLARE_URL': self.glare.url})
        self.assertEqual(cfg['store']['from'], 'OS_GLARE_URL')

    def test_default_store_says_so(self):
        cfg = self.show()
        self.assertEqual(cfg['store']['from'], 'default')
        self.assertEqual(cfg['identity']['kind'], 'none')
        self.assertEqual(cfg['cache'], {'value': os.path.join(self.home, 'cache', 'glarex'),
                                        'from': 'default ($XDG_CACHE_HOME/glarex)'})
        r = self.glarex('config', 'show')
        self.assertIn('(from default)', r.out)
        r = self.glarex('config', 'nope', code=2)
        self.assertIn("config: unknown subcommand 'nope'", r.err)


class CloudsYaml(Base):
    def cloud(self, ks, **extra):
        c = {'auth': {'auth_url': ks.url + '/v3', 'username': 'alice',
                      'password': 'secret', 'project_name': 'projA',
                      'user_domain_name': 'Default',
                      'project_domain_name': 'Default'},
             'region_name': 'RegionOne'}
        c.update(extra)
        return c

    def catalog(self):
        return [FakeKeystone.service('artifact', {
                    ('RegionOne', 'public'): self.glare.url,
                    ('RegionOne', 'internal'): 'http://127.0.0.1:2',
                    ('RegionTwo', 'public'): 'http://127.0.0.1:3'}),
                FakeKeystone.service('workflowv2', {
                    ('RegionOne', 'public'): 'http://127.0.0.1:8989/v2'})]

    def test_os_cloud_from_the_user_config_dir_with_the_catalog(self):
        ks = self.keystone(self.catalog())
        path = self.write(os.path.join(self.home, 'config', 'openstack', 'clouds.yaml'),
                          {'clouds': {'devstack': self.cloud(ks)}})
        env = {'OS_CLOUD': 'devstack'}
        cfg = self.show(env)
        self.assertEqual(cfg['store'], {
            'value': self.glare.url,
            'from': 'Keystone catalog (artifact, public, RegionOne)'})
        self.assertEqual(cfg['identity']['kind'], 'keystone')
        self.assertEqual(cfg['identity']['from'],
                         "clouds.yaml %s, cloud 'devstack' (auth.auth_url)" % path)
        self.assertEqual(cfg['mistral']['value'], 'http://127.0.0.1:8989/v2')
        self.assertEqual(cfg['region']['value'], 'RegionOne')
        # the whole round trip with nothing glarex-specific set
        self.glarex('workflow-create', S.EXAMPLE_WF, '-r', S.EXAMPLE_SCRIPT,
                    '--version', '7.0', '-q', env=env)
        r = self.glarex('-f', 'json', 'workflow-show', 'heal_vms@7.0', env=env)
        self.assertEqual(r.json['status'], 'active')
        self.assertIn('projA', [a['owner'] for a in
                                self.glare.artifacts(name='heal_vms', version='7.0.0')])

    def test_region_and_interface_pick_the_endpoint(self):
        ks = self.keystone(self.catalog())
        self.write(os.path.join(self.home, 'config', 'openstack', 'clouds.yaml'),
                   {'clouds': {'c': self.cloud(ks, interface='internal')}})
        cfg = self.show({'OS_CLOUD': 'c'})
        self.assertEqual(cfg['store']['value'], 'http://127.0.0.1:2')
        cfg = self.show({'OS_CLOUD': 'c', 'OS_REGION_NAME': 'RegionTwo',
                         'OS_INTERFACE': 'public'})
        self.assertEqual(cfg['store'], {
            'value': 'http://127.0.0.1:3',
            'from': 'Keystone catalog (artifact, public, RegionTwo)'})
        r = self.glarex('config', 'show', env={'OS_CLOUD': 'c', 'OS_INTERFACE': 'inner'},
                        code=2)
        self.assertIn("OS_INTERFACE: 'inner' is not an interface", r.err)

    def test_a_catalog_without_glare_is_said(self):
        ks = self.keystone([])
        env = {'OS_AUTH_URL': ks.url, 'OS_USERNAME': 'alice', 'OS_PASSWORD': 'secret',
               'OS_PROJECT_NAME': 'projA'}
        r = self.glarex('config', 'show', env=env)
        self.assertIn("Keystone's catalog has no 'artifact' service", r.err)
        self.assertIn('store:', r.out)
        r = self.glarex('workflow-create', S.EXAMPLE_WF, '-r', S.EXAMPLE_SCRIPT,
                        '--mistral', '--dry-run', env=env, code=1)
        self.assertIn("no 'workflowv2' (Mistral) service: set MISTRAL_URL", r.err)

    def test_search_order_and_secure_yaml(self):
        ks = self.keystone(self.catalog())
        user = self.cloud(ks)
        del user['auth']['password']
        self.write(os.path.join(self.home, 'config', 'openstack', 'clouds.yaml'),
                   {'clouds': {'c': user}})
        # ./clouds.yaml comes first: its cloud is the one read, whole
        here = self.write(os.path.join(self.cwd, 'clouds.yaml'),
                          'clouds:\n  c:\n    auth:\n      auth_url: http://127.0.0.1:9\n')
        cfg = self.show({'OS_CLOUD': 'c'})
        self.assertEqual(cfg['identity']['auth_url'], 'http://127.0.0.1:9')
        self.assertIn(here, cfg['identity']['from'])
        os.unlink(here)
        # the password from secure.yaml, merged into the cloud
        sec = self.write(os.path.join(self.home, 'config', 'openstack', 'secure.yaml'),
                         {'clouds': {'c': {'auth': {'password': 'secret'}}}})
        cfg = self.show({'OS_CLOUD': 'c'})
        self.assertIn("cloud 'c' (auth.password)", cfg['identity']['password_from'])
        self.assertEqual(cfg['store']['value'], self.glare.url)
        # OS_CLIENT_CONFIG_FILE comes before every place
        other = self.write(os.path.join(self.home, 'elsewhere.yaml'),
                           {'clouds': {'c': {'auth': {'auth_url': 'http://127.0.0.1:8'}}}})
        cfg = self.show({'OS_CLOUD': 'c', 'OS_CLIENT_CONFIG_FILE': other,
                         'OS_CLIENT_SECURE_FILE': sec})
        self.assertEqual(cfg['identity']['auth_url'], 'http://127.0.0.1:8')

    def test_settings_beat_the_cloud(self):
        ks = self.keystone(self.catalog())
        self.write(os.path.join(self.home, 'config', 'openstack', 'clouds.yaml'),
                   {'clouds': {'c': self.cloud(ks)}})
        self.write(os.path.join(self.home, 'config', 'glarex', 'glarex.conf'),
                   'os_username = bob\n')
        cfg = self.show({'OS_CLOUD': 'c', 'OS_PROJECT_NAME': 'projB',
                         'GLARE_URL': 'file:///nowhere', 'MISTRAL_URL': 'http://m:1'})
        self.assertEqual(cfg['identity']['username'], 'bob')
        self.assertEqual(cfg['identity']['project_name'], 'projB')
        self.assertEqual(cfg['store'], {'value': 'file:///nowhere', 'from': 'GLARE_URL'})
        self.assertEqual(ks.requests, [])  # both are set: no catalog wanted
        # an explicit token is used as given: no Keystone, no catalog
        cfg = self.show({'OS_CLOUD': 'c', 'OS_AUTH_TOKEN': TOKEN})
        self.assertEqual(cfg['store']['from'], 'default')
        self.assertEqual(ks.requests, [])

    def test_ids_as_devstack_writes_them(self):
        # devstack's clouds.yaml names the project and the domains by id
        ks = self.keystone(self.catalog())
        self.write(os.path.join(self.home, 'config', 'openstack', 'clouds.yaml'), {
            'clouds': {'devstack': {'auth': {
                'auth_url': ks.url, 'username': 'alice', 'password': 'secret',
                'project_id': 'projA', 'user_domain_id': 'default',
                'project_domain_id': 'default'}, 'region_name': 'RegionOne'}}})
        r = self.glarex('config', 'show', env={'OS_CLOUD': 'devstack'})
        self.assertIn('as alice in project projA', r.out)
        self.assertEqual(ks.requests[-1]['auth']['scope'], {'project': {'id': 'projA'}})
        self.assertEqual(ks.requests[-1]['auth']['identity']['password']['user']['domain'],
                         {'id': 'default'})
        # and from an openrc file's variables: ids win over names
        env = {'OS_AUTH_URL': ks.url, 'OS_USERNAME': 'alice', 'OS_PASSWORD': 'secret',
               'OS_PROJECT_ID': 'projA', 'OS_PROJECT_NAME': 'ignored',
               'OS_USER_DOMAIN_NAME': 'Default'}
        self.assertEqual(self.show(env)['store']['value'], self.glare.url)
        self.assertEqual(ks.requests[-1]['auth']['scope'], {'project': {'id': 'projA'}})
        self.assertEqual(ks.requests[-1]['auth']['identity']['password']['user']['domain'],
                         {'name': 'Default'})
        env.pop('OS_PROJECT_ID')
        env['OS_PROJECT_NAME'], env['OS_PROJECT_DOMAIN_ID'] = 'projA', 'default'
        self.show(env)
        self.assertEqual(ks.requests[-1]['auth']['scope'], {'project': {
            'name': 'projA', 'domain': {'id': 'default'}}})

    def test_unknown_cloud_and_no_clouds_yaml(self):
        r = self.glarex('workflow-list', env={'OS_CLOUD': 'c'}, code=2)
        self.assertIn("OS_CLOUD names cloud 'c' but there is no clouds.yaml", r.err)
        self.write(os.path.join(self.cwd, 'clouds.yml'),
                   {'clouds': {'a': {}, 'b': {}}})
        r = self.glarex('workflow-list', env={'OS_CLOUD': 'c'}, code=2)
        self.assertIn("does not define (it has: a, b)", r.err)


if __name__ == '__main__':
    S.build_dir()
    unittest.main()
