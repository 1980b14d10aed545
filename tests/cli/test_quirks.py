#!/usr/bin/python3
"""glarex against a server that behaves like the real Glare (glare-api.md 15).

    /usr/bin/python3 tests/cli/test_quirks.py --build-dir build [-v]

Non-ASCII resource keys: Glare under Python 3 reads the request path as
latin-1, so a key sent as UTF-8 is stored and listed as its bytes read one
by one.  glarex must create artifacts with such keys, and read those that
other clients made, by the key's own text.

Deactivated artifacts: the server lets admins download them and nobody
else; glarex follows the server, and its cache never answers for it.
"""

import json
import os
import shutil
import sys
import tempfile
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cli_support as S  # noqa: E402

KEY = 'résumé ✓.txt'
LISTED = KEY.encode('utf-8').decode('latin-1')     # what the server lists
WF = """---
version: '2.0'
%s:
  tasks:
    run:
      action: std.echo output=<%% glare('%s', '1.0', '%s') %%>
"""


class QuirkBase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.server = S.GlareServer()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.home = tempfile.mkdtemp(prefix='glarex-quirks-test-')
        self.addCleanup(shutil.rmtree, self.home, True)
        self.project = 'p' + self.id().rsplit('.', 1)[-1][:40]
        self.token = 'alice:%s:member' % self.project
        self.env = S.clean_environ(self.home)
        self.env.update(GLARE_URL=self.server.url, OS_AUTH_TOKEN=self.token)

    def glarex(self, *args, code=0, binary=False):
        r = S.run(args, self.env, binary=binary)
        self.assertEqual(r.code, code, r)
        return r

    def write(self, name, data):
        path = os.path.join(self.home, name)
        with open(path, 'wb') as f:
            f.write(data)
        return path

    def other_client_draft(self, name):
        """A draft made straight through the API; its path."""
        status, art = self.server.request(
            'POST', '/artifacts/workflows', self.token,
            json.dumps({'name': name, 'version': '1.0'}).encode(),
            'application/json')
        self.assertEqual(status, 201, art)
        return '/artifacts/workflows/' + art['id']

    def stored(self, name):
        arts = [a for a in self.server.artifacts(name=name)
                if a['owner'] == self.project]
        self.assertEqual(len(arts), 1, arts)
        return arts[0]


class NonAsciiKeyTests(QuirkBase):

    def test_create_and_read_back(self):
        wf = self.write('cv.yaml', (WF % ('cv', 'cv', KEY)).encode())
        res = self.write('f.txt', b'my cv\n')
        r = self.glarex('workflow-create', wf, '-r', '%s=%s' % (KEY, res),
                        '-f', 'json')
        self.assertEqual([x['key'] for x in r.json['resources']], [KEY])
        self.assertEqual(list(self.stored('cv')['resources']), [LISTED])
        listed = self.glarex('resource-list', 'cv', '-f', 'json').json
        self.assertEqual([x['key'] for x in listed['resources']], [KEY])
        self.assertEqual(self.glarex('resource-get', 'cv', '1.0', KEY,
                                     binary=True).out, b'my cv\n')
        out = self.glarex('eval', "<% glare('cv', '1.0', '" + KEY + "') %>")
        self.assertEqual(json.loads(out.out), 'my cv\n')

    def test_read_what_another_client_made(self):
        # as python-glareclient does it: the key's UTF-8 in the path
        srv, token = self.server, self.token
        base = self.other_client_draft('other')
        self.assertEqual(srv.request('PUT', base + '/workflow', token,
                                     (WF % ('other', 'other', KEY)).encode(),
                                     'application/x-yaml')[0], 200)
        status, art = srv.request('PUT', base + '/resources/' +
                                  urllib.parse.quote(KEY), token, b'theirs\n',
                                  'text/plain')
        self.assertEqual((status, list(art['resources'])), (200, [LISTED]))
        status, _ = srv.request(
            'PATCH', base, token, json.dumps([{
                'op': 'replace', 'path': '/status',
                'value': 'active'}]).encode(), 'application/json-patch+json')
        self.assertEqual(status, 200)

        listed = self.glarex('resource-list', 'other', '-f', 'json').json
        self.assertEqual([x['key'] for x in listed['resources']], [KEY])
        self.assertEqual(self.glarex('resource-get', 'other', '1.0', KEY,
                                     binary=True).out, b'theirs\n')

    def test_keys_that_are_not_utf8_stay_as_listed(self):
        # a key sent as latin-1 bytes is listed as those characters
        base = self.other_client_draft('latin')
        status, art = self.server.request('PUT', base + '/resources/caf%E9',
                                          self.token, b'x', 'text/plain')
        self.assertEqual((status, list(art['resources'])), (200, ['café']))
        listed = self.glarex('resource-list', art['id'], '-f', 'json').json
        self.assertEqual([x['key'] for x in listed['resources']], ['café'])


class DeactivatedTests(QuirkBase):

    def test_admins_read_deactivated_artifacts(self):
        wf = self.write('d.yaml', (WF % ('d', 'd', 'a.sh')).encode())
        self.glarex('workflow-create', wf, '-r', self.write('a.sh', b'a\n'))
        art = self.stored('d')
        admin = 'root:%s:admin' % self.project
        status, _ = self.server.request(
            'PATCH', '/artifacts/workflows/' + art['id'], admin,
            json.dumps([{'op': 'replace', 'path': '/status',
                         'value': 'deactivated'}]).encode(),
            'application/json-patch+json')
        self.assertEqual(status, 200)
        get = ('resource-get', 'd', '1.0', 'a.sh')
        r = self.glarex(*get, code=1)
        self.assertIn('403 Policy check for artifact:download failed', r.err)
        r = S.run(get + ('--os-auth-token', admin), self.env)
        self.assertEqual((r.code, r.out), (0, 'a\n'), r)
        # the content is in this HOME's cache now: the member is still refused
        r = self.glarex(*get, code=1)
        self.assertIn('403 Policy check for artifact:download failed', r.err)


if __name__ == '__main__':
    S.build_dir()
    unittest.main()
