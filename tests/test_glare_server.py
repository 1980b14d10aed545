#!/usr/bin/python3
"""Tests of tests/glare_server.py, driven over HTTP (standard library only).

Run from the repository root with either of:

    /usr/bin/python3 -m unittest tests/test_glare_server.py -v
    /usr/bin/python3 tests/test_glare_server.py

Every test class starts its own server(s) as subprocesses on a free port
with a temporary data directory.  The peer proof (python-glareclient CLI
and library against this server) is in GlareclientPeerTest.
"""

import hashlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, 'glare_server.py')
PYTHON = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') \
    else sys.executable
GLARE_CLI = '/usr/bin/glare'

ALICE = 'alice:projA:member'
ALICE2 = 'alice2:projA:member'
BOB = 'bob:projB:member'
ADMIN = 'root:projA:admin'
OTHER_ADMIN = 'root:projZ:admin'

PATCH_CT = 'application/json-patch+json'
LOCATION_CT = 'application/vnd+openstack.glare-custom-location+json'
WF_YAML = (b'version: "2.0"\nheal_vm:\n  tasks:\n    run:\n      action: '
           b'std.echo output=<% glare("my_wf","1.0","heal_vm_script.sh") %>\n')
SCRIPT = b'#!/bin/sh\necho healing\n'
EMPTY_MD5 = 'd41d8cd98f00b204e9800998ecf8427e'


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def json(self):
        return json.loads(self.body.decode('utf-8'))

    def error(self):
        """error.message of a Glare JSON error body."""
        return self.json['error']['message']

    def __repr__(self):
        return '<%d %r>' % (self.status, self.body[:300])


class Server:
    """A glare_server.py subprocess on 127.0.0.1, port chosen by the OS."""

    def __init__(self, *args, data=None):
        self.tmp = tempfile.mkdtemp(prefix='glare-srv-test-')
        self.data = data or os.path.join(self.tmp, 'data')
        self.args = list(args)
        self.log_path = os.path.join(self.tmp, 'server.log')
        self.proc = None

    def start(self):
        self.log = open(self.log_path, 'ab')
        self.proc = subprocess.Popen(
            [PYTHON, SERVER, '--port', '0', '--data', self.data] + self.args,
            stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode()
        if not line.startswith('listening on http://127.0.0.1:'):
            self.proc.kill()
            raise RuntimeError('server did not start: %r\n%s'
                               % (line, open(self.log_path).read()))
        self.url = line.split(' ', 2)[2].strip()
        self.port = int(self.url.rsplit(':', 1)[1])
        return self

    def stop(self):
        """SIGTERM; returns the exit code (0 = clean stop)."""
        if self.proc is None:
            return None
        self.proc.terminate()
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
        self.proc = None
        return code

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def log_lines(self):
        with open(self.log_path) as fobj:
            return fobj.read().splitlines()

    def request(self, method, path, body=None, headers=None, token=ALICE,
                ctype=None, timeout=10, chunked=False):
        hdrs = dict(headers or {})
        if token is not None:
            hdrs['X-Auth-Token'] = token
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault('Content-Type', 'application/json')
        if ctype is not None:
            hdrs['Content-Type'] = ctype
        conn = http.client.HTTPConnection('127.0.0.1', self.port,
                                          timeout=timeout)
        try:
            if chunked:
                hdrs['Transfer-Encoding'] = 'chunked'
                conn.request(method, path, body=iter([body]), headers=hdrs,
                             encode_chunked=True)
            else:
                conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            return Response(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

    def raw(self, data, timeout=5):
        """Send raw bytes; return everything received until EOF."""
        sock = socket.create_connection(('127.0.0.1', self.port),
                                        timeout=timeout)
        try:
            sock.sendall(data)
            out = b''
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return out
                out += chunk
        finally:
            sock.close()

    # -- shortcuts ---------------------------------------------------------

    def create(self, name, version=None, token=ALICE, type_name='workflows',
               **fields):
        body = dict(fields, name=name)
        if version is not None:
            body['version'] = version
        resp = self.request('POST', '/artifacts/' + type_name, body,
                            token=token)
        assert resp.status == 201, resp
        return resp.json

    def patch(self, af_id, ops, token=ALICE, type_name='workflows'):
        return self.request('PATCH', '/artifacts/%s/%s' % (type_name, af_id),
                            json.dumps(ops).encode(), token=token,
                            ctype=PATCH_CT)

    def upload(self, af_id, blob_path, data, ctype='application/octet-stream',
               token=ALICE, type_name='workflows'):
        return self.request('PUT', '/artifacts/%s/%s/%s'
                            % (type_name, af_id, blob_path), data,
                            token=token, ctype=ctype)

    def download(self, af_id, blob_path, token=ALICE, type_name='workflows'):
        return self.request('GET', '/artifacts/%s/%s/%s'
                            % (type_name, af_id, blob_path), token=token)

    def make_active(self, name, version='1.0', token=ALICE, **fields):
        af = self.create(name, version, token=token, **fields)
        assert self.upload(af['id'], 'workflow', WF_YAML, 'application/x-yaml',
                           token=token).status == 200
        assert self.upload(af['id'], 'resources/heal_vm_script.sh', SCRIPT,
                           'text/x-shellscript', token=token).status == 200
        resp = self.patch(af['id'], [{'op': 'replace', 'path': '/status',
                                      'value': 'active'}], token=token)
        assert resp.status == 200, resp
        return resp.json

    def publish(self, af_id, token=ADMIN):
        return self.patch(af_id, [{'op': 'replace', 'path': '/visibility',
                                   'value': 'public'}], token=token)

    def list(self, query='', token=ALICE, type_name='workflows'):
        return self.request('GET', '/artifacts/%s%s' % (type_name, query),
                            token=token)


class ServerTestCase(unittest.TestCase):
    """One server for the whole class; subclasses set SERVER_ARGS."""

    SERVER_ARGS = ()

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(*cls.SERVER_ARGS).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def assertGlareError(self, resp, status, message, type_name=None):
        self.assertEqual(resp.status, status, resp)
        self.assertEqual(resp.headers['Content-Type'], 'application/json')
        body = resp.json
        self.assertEqual(body['code'], status)
        self.assertEqual(body['error']['message'], message)
        if type_name:
            self.assertEqual(body['error']['type'], type_name)
        # Glare errors bypass the version negotiation middleware.
        self.assertIsNone(resp.headers['Openstack-Api-Version'])

    def unique(self, prefix='wf'):
        return '%s-%s' % (prefix, os.urandom(4).hex())


def strip_volatile(obj):
    """Replace ids and timestamps so bodies can be compared."""
    if isinstance(obj, dict):
        return {k: ('<id>' if k == 'id' else
                    '<time>' if k.endswith('_at') and v else
                    strip_volatile(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [strip_volatile(v) for v in obj]
    if isinstance(obj, str) and '/artifacts/workflows/' in obj:
        parts = obj.split('/')
        parts[3] = '<id>'
        return '/'.join(parts)
    return obj


# ---------------------------------------------------------------------------
# The transcript of glare-api.md, step by step
# ---------------------------------------------------------------------------

TRANSCRIPT_ACTIVE = {
    "workflow": {
        "url": "/artifacts/workflows/<id>/workflow", "status": "active",
        "external": False, "md5": "29f4b403064c63d8d7ac9448f423a22e",
        "sha1": "9812d84b4fdad0eac012c600c3adcc7218f6a050",
        "sha256": "4eec5b2c195e55a39fdf814516a00cfaa49a9296dceecc91e0aa6795"
                  "fd28916b",
        "size": 119, "content_type": "application/x-yaml"},
    "resources": {"heal_vm_script.sh": {
        "url": "/artifacts/workflows/<id>/resources/heal_vm_script.sh",
        "status": "active", "external": False,
        "md5": "11c52ce770cd6984293c773f6daa0048",
        "sha1": "43b9b99131f8ca3a29fd848c35ac63c239e0a7f5",
        "sha256": "3b2e55ca8ed2313d41c428aed36787ea8c29ed85787f339448c0e6d8"
                  "ba65e2bb",
        "size": 23, "content_type": "text/x-shellscript"}},
    "id": "<id>", "name": "my_wf", "owner": "projA", "status": "active",
    "created_at": "<time>", "updated_at": "<time>",
    "activated_at": "<time>", "description": "heal VM workflow",
    "tags": ["mistral"], "metadata": {"entry": "heal_vm"},
    "visibility": "private", "version": "1.0.0",
    "display_type_name": "Workflows"}

TRANSCRIPT_SCHEMA_FIELDS = {
    "workflow": {
        "type": ["object", "null"], "glareType": "Blob",
        "properties": {
            "size": {"type": ["number", "null"]},
            "md5": {"type": ["string", "null"]},
            "sha1": {"type": ["string", "null"]},
            "sha256": {"type": ["string", "null"]},
            "external": {"type": "boolean"},
            "status": {"type": "string", "enum": ["saving", "active"]},
            "content_type": {"type": "string"}},
        "required": ["size", "md5", "sha1", "sha256", "external", "status",
                     "content_type"],
        "additionalProperties": False,
        "description": "Mistral workflow definition (YAML).",
        "filter_ops": []},
    "resources": {
        "maxProperties": 255, "type": ["object", "null"],
        "glareType": "BlobDict",
        "additionalProperties": {
            "type": ["object", "null"],
            "properties": {
                "size": {"type": ["number", "null"]},
                "md5": {"type": ["string", "null"]},
                "sha1": {"type": ["string", "null"]},
                "sha256": {"type": ["string", "null"]},
                "external": {"type": "boolean"},
                "status": {"type": "string", "enum": ["saving", "active"]},
                "content_type": {"type": "string"}},
            "required": ["size", "md5", "sha1", "sha256", "external",
                         "status", "content_type"],
            "additionalProperties": False},
        "description": "Dict of resources (scripts, images) used by the "
                       "workflow; key is the resource file name.",
        "required_on_activate": False, "default": {}, "filter_ops": []},
    "version": {
        "pattern": "/^([0-9]+)\\.([0-9]+)\\.([0-9]+)(?:-([0-9A-Za-z-]+"
                   "(?:\\.[0-9A-Za-z-]+)*))?(?:\\+[0-9A-Za-z-]+)?$/",
        "type": "string", "glareType": "String",
        "description": "Artifact version(semver).", "sortable": True,
        "required_on_activate": False, "default": "0.0.0",
        "filter_ops": ["eq", "neq", "in", "gt", "gte", "lt", "lte"]},
}


class TranscriptTest(ServerTestCase):
    """glare-api.md appendix, in order, with the real Content-Lengths.

    Ids and timestamps have the same length as the real ones, so every
    body length of the transcript must match exactly.
    """

    def check(self, resp, status, length, versioned=True):
        self.assertEqual(resp.status, status, resp)
        self.assertEqual(int(resp.headers['Content-Length']), length)
        self.assertEqual(len(resp.body), length)
        if versioned:
            self.assertEqual(resp.headers['Openstack-Api-Version'],
                             'artifact 1.0')
            self.assertEqual(resp.headers['Vary'], 'openstack-api-version')
            self.assertEqual(resp.headers['Content-Type'],
                             'application/json; charset=UTF-8')
        else:
            self.assertIsNone(resp.headers['Openstack-Api-Version'])

    def test_transcript(self):
        srv = self.srv
        # 1. version discovery, no auth needed
        resp = srv.request('GET', '/', token=None)
        self.check(resp, 300, 402, versioned=False)
        self.assertEqual(resp.headers['Content-Type'], 'application/json')
        self.assertEqual(resp.json['versions'][0]['status'], 'STABLE')
        self.assertEqual(resp.json['versions'][1]['media-type'],
                         'application/vnd.openstack.artifacts-1.1')
        self.assertEqual(srv.request('GET', '/versions',
                                     token=None).body, resp.body)

        # 2. create; version '1.0' is normalised
        resp = srv.request('POST', '/artifacts/workflows', {
            "name": "my_wf", "version": "1.0",
            "description": "heal VM workflow", "tags": ["mistral"],
            "metadata": {"entry": "heal_vm"}})
        self.check(resp, 201, 404)
        af = resp.json
        af_id = af['id']
        self.assertEqual(list(af), list(TRANSCRIPT_ACTIVE))
        self.assertEqual(strip_volatile(af), dict(
            TRANSCRIPT_ACTIVE, workflow=None, resources={}, status='drafted',
            activated_at=None))
        self.assertEqual(af['created_at'], af['updated_at'])
        self.assertRegex(af['created_at'],
                         r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$')

        # 3. duplicate (name, version) in the same project
        resp = srv.request('POST', '/artifacts/workflows',
                           {"name": "my_wf", "version": "1.0.0"})
        self.check(resp, 409, 226, versioned=False)
        self.assertGlareError(resp, 409, "Artifact with this name and "
                              "version is already exists for this scope.",
                              'Conflict')

        # 4. activate before the required blob is there
        activate = [{"op": "replace", "path": "/status", "value": "active"}]
        resp = srv.patch(af_id, activate)
        self.check(resp, 403, 189, versioned=False)
        self.assertGlareError(resp, 403, "'workflow' field value must be set "
                              "before activation.", 'Forbidden')

        # 5. upload the workflow blob
        resp = srv.upload(af_id, 'workflow', WF_YAML, 'application/x-yaml')
        self.check(resp, 200, 740)
        self.assertEqual(strip_volatile(resp.json['workflow']),
                         TRANSCRIPT_ACTIVE['workflow'])

        # 6. upload into the blob dictionary
        resp = srv.upload(af_id, 'resources/heal_vm_script.sh', SCRIPT,
                          'text/x-shellscript')
        self.check(resp, 200, 1119)
        self.assertEqual(strip_volatile(resp.json['resources']),
                         TRANSCRIPT_ACTIVE['resources'])

        # 7. activate
        resp = srv.patch(af_id, activate)
        self.check(resp, 200, 1136)
        self.assertEqual(strip_volatile(resp.json), TRANSCRIPT_ACTIVE)
        self.assertEqual(resp.json['activated_at'], resp.json['updated_at'])

        # 8. upload after activation
        resp = srv.upload(af_id, 'resources/late.txt', b'late', 'text/plain')
        self.check(resp, 403, 191, versioned=False)
        self.assertGlareError(resp, 403, "Forbidden to change field "
                              "'resources' after activation.")

        # 9. a second version, left drafted
        second = srv.create('my_wf', '1.1')

        # 10. list by name + version ('1.0' matches 1.0.0)
        resp = srv.list('?name=my_wf&version=1.0')
        self.check(resp, 200, 1285)
        self.assertEqual(resp.json['first'],
                         '/artifacts/workflows?name=my_wf&version=1.0')
        self.assertEqual(resp.json['schema'], '/schemas/workflows')
        self.assertEqual(resp.json['total_count'], 1)
        self.assertNotIn('next', resp.json)
        self.assertEqual([a['id'] for a in resp.json['artifacts']], [af_id])

        # 11. latest active version
        resp = srv.list('?name=my_wf&version=latest&status=active')
        self.check(resp, 200, 1302)
        self.assertEqual([a['id'] for a in resp.json['artifacts']], [af_id])

        # 12. version operator and paging
        resp = srv.list('?name=my_wf&version=gte:1.0&sort=version:desc'
                        '&limit=1')
        self.check(resp, 200, 677)
        body = resp.json
        self.assertEqual([a['id'] for a in body['artifacts']],
                         [second['id']])
        self.assertEqual(body['first'], '/artifacts/workflows?name=my_wf&'
                         'version=gte%3A1.0&sort=version%3Adesc&limit=1')
        self.assertEqual(body['next'], body['first'] + '&marker=' +
                         second['id'])
        self.assertEqual(body['total_count'], 2)
        resp = srv.request('GET', body['next'])
        self.assertEqual([a['id'] for a in resp.json['artifacts']], [af_id])

        # 13. get one
        resp = srv.request('GET', '/artifacts/workflows/' + af_id)
        self.check(resp, 200, 1136)
        self.assertEqual(strip_volatile(resp.json), TRANSCRIPT_ACTIVE)

        # 14. download a dict element
        resp = srv.download(af_id, 'resources/heal_vm_script.sh')
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, SCRIPT)
        self.assertEqual(resp.headers['Content-Type'], 'text/x-shellscript')
        self.assertEqual(resp.headers['Content-MD5'],
                         '11c52ce770cd6984293c773f6daa0048')
        self.assertEqual(resp.headers['X-Openstack-Glare-Content-SHA1'],
                         '43b9b99131f8ca3a29fd848c35ac63c239e0a7f5')
        self.assertEqual(resp.headers['X-Openstack-Glare-Content-SHA256'],
                         hashlib.sha256(SCRIPT).hexdigest())
        self.assertEqual(resp.headers['Content-Length'], '23')
        self.assertEqual(resp.headers['Openstack-Api-Version'],
                         'artifact 1.0')

        # 15. download the blob
        resp = srv.download(af_id, 'workflow')
        self.assertEqual((resp.status, resp.body), (200, WF_YAML))
        self.assertEqual(resp.headers['Content-Type'], 'application/x-yaml')
        self.assertEqual(resp.headers['Content-MD5'],
                         '29f4b403064c63d8d7ac9448f423a22e')

        # 16. missing key
        resp = srv.download(af_id, 'resources/nope.sh')
        self.check(resp, 404, 173, versioned=False)
        self.assertGlareError(resp, 404, "No data found for blob "
                              "resources[nope.sh]", 'NotFound')

        # 17. wrong PATCH content type
        resp = srv.request('PATCH', '/artifacts/workflows/' + af_id, b'[]',
                           ctype='application/json')
        self.check(resp, 415, 299, versioned=False)
        self.assertGlareError(resp, 415, "Invalid content type: "
                              "application/json. Expected: "
                              "application/json-patch+json",
                              'UnsupportedMediaType')

        # 18. no token
        resp = srv.request('GET', '/artifacts/workflows', token=None)
        self.check(resp, 401, 364, versioned=False)
        self.assertGlareError(resp, 401, "Auth token must be provided",
                              'Unauthorized')

        # 19. deactivate as non-admin, then as admin
        deactivate = [{"op": "replace", "path": "/status",
                       "value": "deactivated"}]
        resp = srv.patch(af_id, deactivate)
        self.check(resp, 403, 208, versioned=False)
        self.assertGlareError(resp, 403, "Policy check for artifact:"
                              "deactivate failed with user credentials.",
                              'PolicyException')
        resp = srv.patch(af_id, deactivate, token=ADMIN)
        self.check(resp, 200, 1141)
        self.assertEqual(resp.json['status'], 'deactivated')

        # 20. schema of the type
        resp = srv.request('GET', '/schemas/workflows')
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.headers['Content-Type'],
                         'application/schema+json; charset=UTF-8')
        schema = resp.json['schemas']['workflows']
        self.assertEqual(schema['name'], 'workflows')
        self.assertEqual(schema['version'], '1.0')
        self.assertEqual(schema['display_name'], 'Workflows')
        self.assertEqual(schema['required'], ['name'])
        for field, expected in TRANSCRIPT_SCHEMA_FIELDS.items():
            self.assertEqual(schema['properties'][field], expected, field)
            self.assertEqual(list(schema['properties'][field]),
                             list(expected), field)


# ---------------------------------------------------------------------------
# Schemas, routing, webob errors, version negotiation
# ---------------------------------------------------------------------------

class SchemaAndRoutingTest(ServerTestCase):
    SERVER_ARGS = ('--type', 'things=blob?:data,dict:files,string:kind',)

    def test_schemas_list_all_types(self):
        resp = self.srv.request('GET', '/schemas')
        self.assertEqual(resp.status, 200)
        schemas = resp.json['schemas']
        self.assertEqual(sorted(schemas), ['all', 'things', 'workflows'])
        self.assertEqual(schemas['things']['display_name'], 'Things')
        props = schemas['things']['properties']
        self.assertEqual(props['data']['glareType'], 'Blob')
        self.assertFalse(props['data']['required_on_activate'])
        self.assertEqual(props['files']['glareType'], 'BlobDict')
        self.assertEqual(props['kind']['filter_ops'], ['eq', 'neq', 'in'])

    def test_base_field_schema(self):
        props = self.srv.request('GET', '/schemas/workflows').json[
            'schemas']['workflows']['properties']
        self.assertEqual(list(props)[:3], ['workflow', 'resources', 'id'])
        sortable = sorted(n for n, p in props.items() if p.get('sortable'))
        self.assertEqual(sortable, sorted([
            'id', 'name', 'owner', 'status', 'created_at', 'updated_at',
            'activated_at', 'visibility', 'version', 'display_type_name']))
        self.assertEqual(props['name']['filter_ops'],
                         ['like', 'eq', 'neq', 'in'])
        self.assertEqual(props['created_at']['filter_ops'], ['lt', 'gt'])
        self.assertEqual(props['description']['filter_ops'], [])
        self.assertEqual(props['tags']['filter_ops'], [])
        self.assertEqual(props['status']['enum'],
                         ['drafted', 'active', 'deactivated', 'deleted'])
        mutable = sorted(n for n, p in props.items() if p.get('mutable'))
        self.assertEqual(mutable, ['description', 'status', 'tags',
                                   'updated_at', 'visibility'])
        self.assertTrue(props['id']['readOnly'])
        self.assertEqual(props['activated_at']['type'], ['string', 'null'])

    def test_unknown_type(self):
        resp = self.srv.request('GET', '/schemas/nope')
        self.assertGlareError(resp, 404, "Artifact type nope does not exist")
        resp = self.srv.list(type_name='nope')
        self.assertGlareError(resp, 404, "Glare type with name 'nope' was "
                              "not found.", 'TypeNotFound')

    def test_healthcheck_without_auth(self):
        resp = self.srv.request('GET', '/healthcheck', token=None)
        self.assertEqual((resp.status, resp.body), (200, b'OK'))

    def test_405_with_allow_html_json_plain(self):
        srv = self.srv
        resp = srv.request('PUT', '/artifacts/workflows', b'',
                           headers={'Accept': '*/*'})
        self.assertEqual(resp.status, 405)
        self.assertEqual(resp.headers['Allow'], 'GET, POST')
        self.assertEqual(resp.headers['Content-Type'],
                         'text/html; charset=UTF-8')
        self.assertEqual(resp.body, (
            b'<html>\n <head>\n  <title>405 Method Not Allowed</title>\n'
            b' </head>\n <body>\n  <h1>405 Method Not Allowed</h1>\n  The '
            b'method PUT is not allowed for this resource. <br /><br />\n\n'
            b' </body>\n</html>'))
        self.assertEqual(resp.headers['Openstack-Api-Version'],
                         'artifact 1.0')
        resp = srv.request('PUT', '/artifacts/workflows', b'',
                           headers={'Accept': 'application/json'})
        self.assertEqual(resp.headers['Content-Type'], 'application/json')
        self.assertEqual(resp.json, {
            "message": "The method PUT is not allowed for this resource. "
                       "<br /><br />\n",
            "code": "405 Method Not Allowed", "title": "Method Not Allowed"})
        resp = srv.request('POST', '/artifacts/workflows/x', b'')
        self.assertEqual(resp.headers['Allow'], 'GET, PATCH, DELETE')
        self.assertEqual(resp.headers['Content-Type'],
                         'text/plain; charset=UTF-8')
        self.assertEqual(resp.body, b'405 Method Not Allowed\n\nThe method '
                         b'POST is not allowed for this resource. \n\n ')
        resp = srv.request('POST', '/artifacts/workflows/x/workflow', b'')
        self.assertEqual(resp.headers['Allow'], 'GET, PUT, DELETE')
        resp = srv.request('DELETE', '/schemas')
        self.assertEqual((resp.status, resp.headers['Allow']), (405, 'GET'))
        resp = srv.request('OPTIONS', '/schemas/workflows')
        self.assertEqual((resp.status, resp.headers['Allow']), (405, 'GET'))

    def test_head_gets_405(self):
        resp = self.srv.request('HEAD', '/artifacts/workflows')
        self.assertEqual(resp.status, 405)
        self.assertEqual(resp.headers['Allow'], 'GET, POST')
        self.assertEqual(resp.body, b'')

    def test_unrouted_404_and_501(self):
        srv = self.srv
        resp = srv.request('GET', '/nothing/here', headers={'Accept': '*/*'})
        self.assertEqual(resp.status, 404)
        self.assertIn(b'<h1>404 Not Found</h1>', resp.body)
        self.assertIn(b'The resource could not be found.', resp.body)
        resp = srv.request('GET', '/artifacts/',
                           headers={'Accept': 'application/json'})
        self.assertEqual(resp.json['code'], '404 Not Found')
        self.assertEqual(resp.json['title'], 'Not Found')
        # routing happens after auth, like the real pipeline
        resp = srv.request('GET', '/nothing/here', token=None)
        self.assertEqual(resp.status, 401)
        resp = srv.request('FROB', '/nothing/here')
        self.assertEqual(resp.status, 501)
        self.assertIn(b'The request method FROB is not implemented',
                      resp.body)

    def test_body_on_get_and_delete(self):
        for method, path in (('GET', '/artifacts/workflows'),
                             ('DELETE', '/artifacts/workflows/x'),
                             ('GET', '/schemas')):
            resp = self.srv.request(method, path, b'{}',
                                    headers={'Accept': 'application/json'})
            self.assertEqual(resp.status, 400, method + path)
            self.assertEqual(resp.json['message'], "A body is not expected "
                             "with this request.<br /><br />\n\n\n")
            self.assertEqual(resp.json['code'], '400 Bad Request')

    def test_version_negotiation(self):
        srv = self.srv
        resp = srv.request('GET', '/artifacts/workflows',
                           headers={'OpenStack-API-Version': 'artifact 1.1'})
        self.assertEqual(resp.headers['Openstack-Api-Version'],
                         'artifact 1.1')
        resp = srv.request('GET', '/artifacts/workflows', headers={
            'OpenStack-API-Version': 'artifact latest'})
        self.assertEqual(resp.headers['Openstack-Api-Version'],
                         'artifact 1.1')
        resp = srv.request('GET', '/artifacts/workflows', headers={
            'Accept': 'application/vnd.openstack.artifacts-1.1'})
        self.assertEqual(resp.headers['Openstack-Api-Version'],
                         'artifact 1.1')
        resp = srv.request('GET', '/artifacts/workflows', token=None,
                           headers={'OpenStack-API-Version': 'artifact 2.0'})
        self.assertGlareError(resp, 406, "Version 2.0 is not supported by "
                              "the API. Minimum is 1.0 and maximum is 1.1.",
                              'InvalidGlobalAPIVersion')
        self.assertEqual((resp.json['min_version'], resp.json['max_version']),
                         ('1.0', '1.1'))
        resp = srv.request('GET', '/artifacts/workflows', headers={
            'OpenStack-API-Version': 'artifact one'})
        self.assertGlareError(resp, 400, "API version string one is not "
                              "valid. Cannot determine API version.")

    def test_glareclient_style_query_and_unescaped_path(self):
        af = self.srv.create(self.unique('q'), '3.0')
        resp = self.srv.list('?&name=%s&version=gte%%3A3.0&limit=20'
                             '&sort=name:asc' % af['name'])
        self.assertEqual(resp.status, 200)
        self.assertEqual([a['id'] for a in resp.json['artifacts']],
                         [af['id']])
        self.assertEqual(resp.json['first'], '/artifacts/workflows?name=%s&'
                         'version=gte%%3A3.0&limit=20&sort=name%%3Aasc'
                         % af['name'])

    def test_all_meta_type(self):
        srv = self.srv
        wf = srv.create(self.unique('all'), '1.0')
        th = srv.create(self.unique('all'), '1.0', type_name='things',
                        kind='blue')
        resp = srv.list('?name=in:%s,%s&sort=type_name:asc'
                        % (wf['name'], th['name']), type_name='all')
        self.assertEqual(resp.status, 200)
        arts = resp.json['artifacts']
        self.assertEqual([a['type_name'] for a in arts],
                         ['things', 'workflows'])
        self.assertEqual(list(arts[0])[:2], ['type_name',
                                             'display_type_name'])
        self.assertNotIn('workflow', arts[1])
        resp = srv.request('GET', '/artifacts/all/' + wf['id'])
        self.assertEqual(resp.json['type_name'], 'workflows')
        resp = srv.request('POST', '/artifacts/all', {'name': 'x'})
        self.assertGlareError(resp, 403, "This type is read only.")
        resp = srv.request('GET', '/artifacts/things/' + wf['id'])
        self.assertGlareError(resp, 404, "Artifact with id=%s not found."
                              % wf['id'], 'ArtifactNotFound')
        self.assertEqual(srv.list('?kind=blue', type_name='things')
                         .json['total_count'], 1)


# ---------------------------------------------------------------------------
# Auth
# ---------------------------------------------------------------------------

class TrustedAuthTest(ServerTestCase):
    def test_bad_tokens(self):
        cases = [
            ('', "Auth token must be provided"),
            ('alice', "Wrong auth token format. It must be "
                      "'user:tenant:roles'"),
            ('a:b:c:d', "Wrong auth token format. It must be "
                        "'user:tenant:roles'"),
            ('alice::member', "Tenant must be specified in auth token. "
                              "Format of the token is 'user:tenant:roles'"),
            ('anon:none:', "You are not authenticated"),
        ]
        for token, message in cases:
            resp = self.srv.request('GET', '/artifacts/workflows',
                                    token=token or None)
            self.assertGlareError(resp, 401, message, 'Unauthorized')

    def test_visibility_scope(self):
        srv = self.srv
        mine = srv.create(self.unique('scope'))
        resp = srv.request('GET', '/artifacts/workflows/' + mine['id'],
                           token=BOB)
        self.assertGlareError(resp, 404, "Artifact with id=%s not found."
                              % mine['id'], 'ArtifactNotFound')
        self.assertEqual(srv.list('?name=eq:' + mine['name'], token=BOB)
                         .json['artifacts'], [])
        self.assertEqual(len(srv.list('?name=eq:' + mine['name'],
                                      token=ALICE2).json['artifacts']), 1)
        self.assertEqual(len(srv.list('?name=eq:' + mine['name'],
                                      token=OTHER_ADMIN).json['artifacts']),
                         1)

    def test_admin_role_case_insensitive(self):
        af = self.srv.create(self.unique('adm'))
        resp = self.srv.request('GET', '/artifacts/workflows/' + af['id'],
                                token='root:projQ:reader,Admin')
        self.assertEqual(resp.status, 200)


class AnonymousTest(ServerTestCase):
    SERVER_ARGS = ('--allow-anonymous',)

    def test_anonymous_is_read_only_and_sees_public(self):
        srv = self.srv
        private = srv.create(self.unique('anon'))
        public = srv.make_active(self.unique('anon'))
        self.assertEqual(srv.publish(public['id']).status, 200)
        names = 'in:%s,%s' % (private['name'], public['name'])
        resp = srv.list('?name=' + names, token='anon:none:')
        self.assertEqual([a['id'] for a in resp.json['artifacts']],
                         [public['id']])
        resp = srv.request('POST', '/artifacts/workflows', {'name': 'x'},
                           token='anon:none:')
        self.assertGlareError(resp, 403, "It's forbidden to anonymous users "
                              "to create artifacts.")
        resp = srv.patch(public['id'], [{'op': 'replace', 'path':
                                         '/description', 'value': 'x'}],
                         token='anon:none:')
        self.assertGlareError(resp, 403, "You are not authorized to complete "
                              "this action.")
        resp = srv.download(public['id'], 'workflow', token='anon:none:')
        self.assertGlareError(resp, 403, "Policy check for artifact:download"
                              " failed with user credentials.")


class NoauthTest(ServerTestCase):
    SERVER_ARGS = ('--auth', 'noauth')

    def test_noauth_headers(self):
        srv = self.srv
        hdrs = {'X-Identity-Status': 'Confirmed', 'X-Project-Id': 'projN',
                'X-User-Id': 'nora', 'X-Roles': 'member'}
        resp = srv.request('POST', '/artifacts/workflows', {'name': 'n'},
                           headers=hdrs, token=None)
        self.assertEqual(resp.status, 201, resp)
        self.assertEqual(resp.json['owner'], 'projN')
        hdrs2 = {'X-Identity-Status': 'Confirmed', 'X-Tenant-Id': 'projN'}
        resp = srv.request('GET', '/artifacts/workflows/' + resp.json['id'],
                           headers=hdrs2, token=None)
        self.assertEqual(resp.status, 200)
        resp = srv.request('GET', '/artifacts/workflows', token=None)
        self.assertGlareError(resp, 401, "You are not authenticated")
        resp = srv.request('GET', '/artifacts/workflows', token=ALICE)
        self.assertGlareError(resp, 401, "You are not authenticated")


# ---------------------------------------------------------------------------
# Create / update / delete rules
# ---------------------------------------------------------------------------

class CreateTest(ServerTestCase):
    def test_version_normalisation(self):
        srv = self.srv
        for given, stored in (('1', '1.0.0'), ('1.10', '1.10.0'),
                              ('2.0.0-beta', '2.0.0-beta'), (None, '0.0.0'),
                              ('01.2', '1.2.0'), ('1.2.3+build.7',
                                                  '1.2.3+build.7'),
                              (3, '3.0.0')):
            self.assertEqual(srv.create(self.unique('v'), given)['version'],
                             stored, given)
        resp = srv.request('POST', '/artifacts/workflows',
                           {'name': 'v', 'version': 'abc'})
        self.assertGlareError(resp, 400, "Type: workflows. Field: version. "
                              "Exception: Version string lacks a numerical "
                              "component: 'abc'")
        resp = srv.request('POST', '/artifacts/workflows',
                           {'name': 'v', 'version': '70000.0'})
        self.assertGlareError(resp, 500, "Version component is too large "
                              "(65535 max)", 'InvalidVersion')
        self.assertEqual(resp.json['title'], 'Internal Server Error')

    def test_create_rejections(self):
        srv = self.srv
        name = self.unique('rej')
        for field in ('visibility', 'status', 'display_type_name'):
            resp = srv.request('POST', '/artifacts/workflows',
                               {'name': name, field: 'x'})
            self.assertGlareError(resp, 400, "%s is not allowed in a request "
                                  "at creation." % field)
        for field in ('id', 'owner', 'created_at'):
            resp = srv.request('POST', '/artifacts/workflows',
                               {'name': self.unique(), field: 'x'})
            self.assertGlareError(resp, 403, "Forbidden to specify system "
                                  "field %s. It is not available for "
                                  "modifying by users." % field)
        resp = srv.request('POST', '/artifacts/workflows',
                           {'name': self.unique(), 'foo': 1})
        self.assertGlareError(resp, 400, "Cannot add new field 'foo' to "
                              "artifact.")
        for blob in ('workflow', 'resources'):
            resp = srv.request('POST', '/artifacts/workflows',
                               {'name': self.unique(), blob: {}})
            self.assertGlareError(resp, 400, "Cannot add blob with this "
                                  "request. Use special Blob API for that.")
        resp = srv.request('POST', '/artifacts/workflows', {'version': '1'})
        self.assertGlareError(resp, 400, "Name must be specified at "
                              "creation.")
        resp = srv.request('POST', '/artifacts/workflows', [{'name': 'x'}])
        self.assertGlareError(resp, 400, "Dictionary expected as body value. "
                              "Got <class 'list'>.")
        resp = srv.request('POST', '/artifacts/workflows', b'{"name":',
                           ctype='application/json',
                           headers={'Accept': 'application/json'})
        self.assertEqual(resp.status, 400)
        self.assertEqual(resp.json['message'], 'Malformed JSON in request '
                         'body.<br /><br />\n\n\n')
        resp = srv.request('POST', '/artifacts/workflows', b'{"name":"x"}')
        self.assertGlareError(resp, 415, "Invalid content type: text/plain. "
                              "Expected: application/json")
        resp = srv.request('POST', '/artifacts/workflows',
                           {'name': self.unique(), 'tags': 'x'})
        self.assertGlareError(resp, 400, "Type: workflows. Field: tags. "
                              "Exception: A list is required in field tags, "
                              "not a str")
        resp = srv.request('POST', '/artifacts/workflows',
                           {'name': 'x' * 256})
        self.assertGlareError(resp, 400, "Type: workflows. Field: name. "
                              "Exception: String length must be less than  "
                              "255. Current size: 256")
        # no artifact was left behind by any rejected request
        self.assertEqual(srv.list('?name=eq:' + name).json['total_count'], 0)

    def test_create_defaults(self):
        af = self.srv.create(self.unique('def'), tags=['b', 'a', 'b'],
                             metadata={'k': 1})
        self.assertEqual(af['tags'], ['a', 'b'])
        self.assertEqual(af['metadata'], {'k': '1'})
        self.assertEqual((af['status'], af['visibility'], af['owner'],
                          af['description'], af['workflow'],
                          af['resources']),
                         ('drafted', 'private', 'projA', '', None, {}))

    def test_concurrent_creates_are_unique(self):
        name = self.unique('race')
        results = []

        def worker():
            resp = self.srv.request('POST', '/artifacts/workflows',
                                    {'name': name, 'version': '1'})
            results.append(resp.status)
        threads = [threading.Thread(target=worker) for _ in range(12)]
        for thr in threads:
            thr.start()
        for thr in threads:
            thr.join()
        self.assertEqual(sorted(results), [201] + [409] * 11)


class UniquenessTest(ServerTestCase):
    def test_scopes(self):
        srv = self.srv
        name = self.unique('uniq')
        a = srv.make_active(name, '1.0', token=ALICE)
        b = srv.make_active(name, '1.0', token=BOB)      # other project: ok
        self.assertEqual(srv.request('POST', '/artifacts/workflows',
                                     {'name': name, 'version': '1.0.0'},
                                     token=ALICE2).status, 409)
        self.assertEqual(srv.publish(a['id']).status, 200)
        resp = srv.publish(b['id'], token=OTHER_ADMIN)
        self.assertGlareError(resp, 409, "Artifact with this name and "
                              "version is already exists for this scope.")
        # both are visible to projB now: the public one and its own
        resp = srv.list('?name=eq:%s&version=eq:1.0' % name, token=BOB)
        self.assertEqual(sorted(x['id'] for x in resp.json['artifacts']),
                         sorted([a['id'], b['id']]))
        # private scope is per owner even for an admin who sees everything
        z = srv.create(name, '1.0', token=OTHER_ADMIN)
        self.assertEqual(z['owner'], 'projZ')
        # a rename into an existing (name, version) is a conflict too
        c = srv.create(name, '2.0', token=BOB)
        resp = srv.patch(c['id'], [{'op': 'replace', 'path': '/version',
                                    'value': '1.0'}], token=BOB)
        self.assertEqual(resp.status, 409)
        resp = srv.patch(c['id'], [{'op': 'replace', 'path': '/version',
                                    'value': '1.1'}], token=BOB)
        self.assertEqual((resp.status, resp.json['version']), (200, '1.1.0'))


class UpdateTest(ServerTestCase):
    def test_patch_errors_and_mutability(self):
        srv = self.srv
        af = srv.create(self.unique('upd'), '1.0', description='d')
        resp = srv.patch(af['id'], {'op': 'replace'})
        self.assertGlareError(resp, 400, "Json Patch body is malformed")
        resp = srv.patch(af['id'], [{'op': 'frob', 'path': '/name'}])
        self.assertGlareError(resp, 400, "Json Patch body is malformed")
        resp = srv.patch(af['id'], [{'op': 'add', 'path': '/workflow',
                                     'value': {}}])
        self.assertGlareError(resp, 400, "Cannot add blob with this request."
                              " Use special Blob API for that.")
        resp = srv.patch(af['id'], [{'op': 'add', 'path': '/resources/x',
                                     'value': {}}])
        self.assertEqual(resp.status, 400)
        resp = srv.patch(af['id'], [{'op': 'remove', 'path': '/description'}])
        self.assertGlareError(resp, 400, "Cannot remove field 'description' "
                              "from artifact.")
        resp = srv.patch(af['id'], [{'op': 'replace', 'path': '/foo',
                                     'value': 1}])
        self.assertGlareError(resp, 400, "can't replace a non-existent "
                              "object 'foo'")
        resp = srv.patch(af['id'], [{'op': 'add', 'path': '/foo',
                                     'value': 1}])
        self.assertGlareError(resp, 400, "Cannot add new field 'foo' to "
                              "artifact.")
        resp = srv.patch(af['id'], [{'op': 'replace', 'path': '/owner',
                                     'value': 'projB'}])
        self.assertEqual(resp.status, 403)
        resp = srv.patch(af['id'], [{'op': 'replace', 'path': '/status',
                                     'value': 'bogus'}])
        self.assertGlareError(resp, 400, "Unknown artifact status: bogus.")
        resp = srv.patch(af['id'], [{'op': 'replace', 'path': '/status',
                                     'value': 'deleted'}])
        self.assertGlareError(resp, 403, "Cannot delete artifact with PATCH "
                              "requests. Use special API to do this.")
        resp = srv.patch(af['id'], [{'op': 'replace', 'path': '/status',
                                     'value': 'deactivated'}])
        self.assertGlareError(resp, 403, "Cannot deactivate artifact if it's "
                              "not active.")
        resp = srv.patch(af['id'], [{'op': 'replace', 'path': '/visibility',
                                     'value': 'public'}], token=ADMIN)
        self.assertGlareError(resp, 403, "Cannot change visibility to "
                              "'public' if artifact is not active.")
        resp = srv.request('PATCH', '/artifacts/workflows/' + af['id'],
                           json.dumps([]).encode(), ctype=PATCH_CT,
                           token=BOB)
        self.assertEqual(resp.status, 404)

        # drafted: everything but system fields may change
        resp = srv.patch(af['id'], [
            {'op': 'replace', 'path': '/name', 'value': af['name'] + 'x'},
            {'op': 'add', 'path': '/tags/-', 'value': 't1'},
            {'op': 'add', 'path': '/metadata/k', 'value': 'v'},
            {'op': 'replace', 'path': '/version', 'value': '1.5'}])
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual((resp.json['name'], resp.json['tags'],
                          resp.json['metadata'], resp.json['version']),
                         (af['name'] + 'x', ['t1'], {'k': 'v'}, '1.5.0'))
        resp = srv.patch(af['id'], [{'op': 'add', 'path': '/tags/-',
                                     'value': 'a,b'}])
        self.assertGlareError(resp, 400, "Type: workflows. Field: tags. "
                              "Exception: must be real number, not str")

        # a patch that changes nothing keeps updated_at
        before = srv.request('GET', '/artifacts/workflows/' + af['id']).json
        time.sleep(1.1)
        resp = srv.patch(af['id'], [{'op': 'replace', 'path': '/version',
                                     'value': '1.5.0'}])
        self.assertEqual(resp.json, before)

        # active: only mutable fields
        srv.upload(af['id'], 'workflow', WF_YAML)
        resp = srv.patch(af['id'], [{'op': 'replace', 'path': '/status',
                                     'value': 'active'}])
        self.assertEqual(resp.status, 200)
        resp = srv.patch(af['id'], [{'op': 'replace', 'path': '/name',
                                     'value': 'renamed'}])
        self.assertGlareError(resp, 403, "Forbidden to change field 'name' "
                              "after activation.")
        resp = srv.patch(af['id'], [{'op': 'add', 'path': '/metadata/k2',
                                     'value': 'v'}])
        self.assertGlareError(resp, 403, "Forbidden to change field "
                              "'metadata' after activation.")
        resp = srv.patch(af['id'], [{'op': 'replace', 'path': '/description',
                                     'value': 'new'},
                                    {'op': 'add', 'path': '/tags/-',
                                     'value': 't2'}])
        self.assertEqual((resp.status, resp.json['description'],
                          resp.json['tags']), (200, 'new', ['t1', 't2']))
        resp = srv.patch(af['id'], [{'op': 'replace', 'path': '/status',
                                     'value': 'drafted'}])
        self.assertEqual(resp.status, 400)
        resp = srv.publish(af['id'], token=ALICE)
        self.assertGlareError(resp, 403, "Policy check for artifact:publish "
                              "failed with user credentials.",
                              'PolicyException')

        # deactivated: nothing changes; only admin reactivates
        srv.patch(af['id'], [{'op': 'replace', 'path': '/status',
                              'value': 'deactivated'}], token=ADMIN)
        resp = srv.patch(af['id'], [{'op': 'replace', 'path': '/description',
                                     'value': 'x'}])
        self.assertGlareError(resp, 403, "Forbidden to change fields if "
                              "artifact is not active or drafted.")
        resp = srv.patch(af['id'], [{'op': 'replace', 'path': '/status',
                                     'value': 'active'}])
        self.assertGlareError(resp, 403, "Policy check for artifact:"
                              "reactivate failed with user credentials.")
        resp = srv.patch(af['id'], [{'op': 'replace', 'path': '/status',
                                     'value': 'active'}], token=ADMIN)
        self.assertEqual(resp.json['status'], 'active')

        # public: only admin may update; never private again
        self.assertEqual(srv.publish(af['id']).json['visibility'], 'public')
        resp = srv.patch(af['id'], [{'op': 'replace', 'path': '/description',
                                     'value': 'y'}])
        self.assertGlareError(resp, 403, "Policy check for artifact:update "
                              "failed with user credentials.")
        resp = srv.patch(af['id'], [{'op': 'replace', 'path': '/visibility',
                                     'value': 'private'}], token=ADMIN)
        self.assertGlareError(resp, 403, "You are not authorized to complete "
                              "this action.")
        resp = srv.patch(af['id'], [{'op': 'replace', 'path': '/description',
                                     'value': 'z'}], token=BOB)
        self.assertGlareError(resp, 403, "You are not authorized to complete "
                              "this action.")

    def test_delete_rules(self):
        srv = self.srv
        af = srv.create(self.unique('del'))
        srv.upload(af['id'], 'resources/a', b'a')
        resp = srv.request('DELETE', '/artifacts/workflows/' + af['id'],
                           token=BOB)
        self.assertEqual(resp.status, 404)
        resp = srv.request('DELETE', '/artifacts/workflows/' + af['id'])
        self.assertEqual((resp.status, resp.body), (204, b''))
        self.assertEqual(resp.headers['Content-Type'],
                         'text/html; charset=UTF-8')
        self.assertEqual(srv.request('GET', '/artifacts/workflows/' +
                                     af['id']).status, 404)
        self.assertEqual(os.listdir(os.path.join(srv.data, 'blobs')), [])

        pub = srv.make_active(self.unique('del'))
        srv.publish(pub['id'])
        resp = srv.request('DELETE', '/artifacts/workflows/' + pub['id'])
        self.assertGlareError(resp, 403, "Policy check for artifact:delete "
                              "failed with user credentials.")
        resp = srv.request('DELETE', '/artifacts/workflows/' + pub['id'],
                           token=BOB)
        self.assertGlareError(resp, 403, "You are not authorized to complete "
                              "this action.")
        self.assertEqual(srv.request('DELETE', '/artifacts/workflows/' +
                                     pub['id'], token=ADMIN).status, 204)

        deact = srv.make_active(self.unique('del'))
        srv.patch(deact['id'], [{'op': 'replace', 'path': '/status',
                                 'value': 'deactivated'}], token=ADMIN)
        self.assertEqual(srv.request('DELETE', '/artifacts/workflows/' +
                                     deact['id']).status, 403)
        self.assertEqual(srv.request('DELETE', '/artifacts/workflows/' +
                                     deact['id'], token=ADMIN).status, 204)


# ---------------------------------------------------------------------------
# Listing: filters, latest, sort, paging
# ---------------------------------------------------------------------------

class ListTest(ServerTestCase):
    SERVER_ARGS = ('--type', 'things=blob?:data,string:kind',
                   '--type', 'bulk=blob?:data')

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        srv = cls.srv
        cls.ids = {}
        for ver in ('1.0', '1.1', '1.10', '1.9', '2.0.0-beta', '2.0.0-alpha'):
            cls.ids[ver] = srv.create('sem', ver, type_name='things',
                                      tags=['t-' + ver, 'common'],
                                      metadata={'ver': ver})['id']
        srv.request('PATCH', '/artifacts/things/' + cls.ids['1.1'],
                    json.dumps([{'op': 'replace', 'path': '/status',
                                 'value': 'active'}]).encode(),
                    ctype=PATCH_CT)
        srv.create('ns:wf', '1.0', type_name='things', kind='odd, x')
        srv.create('Other', '5.0', type_name='things', kind='blue')

    def names_versions(self, query, **kw):
        resp = self.srv.list(query, type_name='things', **kw)
        self.assertEqual(resp.status, 200, resp)
        return [(a['name'], a['version']) for a in resp.json['artifacts']]

    def versions(self, query):
        return [v for _, v in self.names_versions(query)]

    def test_semver_sort(self):
        self.assertEqual(self.versions('?name=sem&sort=version:asc'), [
            '1.0.0', '1.1.0', '1.9.0', '1.10.0', '2.0.0-alpha',
            '2.0.0-beta'])
        self.assertEqual(self.versions('?name=sem&sort=version')[0],
                         '2.0.0-beta')

    def test_version_filters(self):
        self.assertEqual(self.versions('?name=sem&version=gte:1.1&'
                                       'version=lt:1.10&sort=version:asc'),
                         ['1.1.0', '1.9.0'])
        self.assertEqual(self.versions('?name=sem&version=gt:1.10&'
                                       'sort=version:asc'),
                         ['2.0.0-alpha', '2.0.0-beta'])
        self.assertEqual(self.versions('?name=sem&version=1.10'), ['1.10.0'])
        self.assertEqual(self.versions('?name=sem&version=in:1.0,1.9&'
                                       'sort=version:asc'),
                         ['1.0.0', '1.9.0'])
        self.assertEqual(self.versions('?name=sem&version=neq:1.0&'
                                       'version=lt:2&sort=version:asc'),
                         ['1.1.0', '1.9.0', '1.10.0', '2.0.0-alpha',
                          '2.0.0-beta'])

    def test_latest(self):
        self.assertEqual(self.versions('?name=sem&version=latest'),
                         ['2.0.0-beta'])
        self.assertEqual(self.versions('?name=sem&version=latest&'
                                       'status=active'), ['1.1.0'])
        self.assertEqual(self.versions('?name=sem&version=latest&'
                                       'version=lt:2.0.0-beta'),
                         ['2.0.0-alpha'])
        self.assertEqual(sorted(self.names_versions('?version=latest')),
                         [('Other', '5.0.0'), ('ns:wf', '1.0.0'),
                          ('sem', '2.0.0-beta')])

    def test_name_ops(self):
        self.assertEqual(self.names_versions('?name=eq:ns:wf'),
                         [('ns:wf', '1.0.0')])
        resp = self.srv.list('?name=ns:wf', type_name='things')
        self.assertGlareError(resp, 400, "Unsupported filter type 'ns'.The "
                              "following filters are supported ('like', "
                              "'eq', 'neq', 'in')")
        self.assertEqual(self.names_versions('?name=like:oth%25'),
                         [('Other', '5.0.0')])
        self.assertEqual(sorted(self.names_versions('?name=in:Other,ns:wf')),
                         [('Other', '5.0.0'), ('ns:wf', '1.0.0')])
        self.assertEqual(len(self.names_versions('?name=neq:sem')), 2)
        quoted = urllib.parse.quote('in:"odd, x",nothing')
        self.assertEqual(self.names_versions('?kind=' + quoted),
                         [('ns:wf', '1.0.0')])
        resp = self.srv.list('?kind=' + urllib.parse.quote('in:a"b"'),
                             type_name='things')
        self.assertGlareError(resp, 400, 'Invalid filter value a"b". There '
                              'is no comma before opening quotation mark.',
                              'InvalidParameterValue')

    def test_or_combiner(self):
        self.assertEqual(sorted(self.names_versions(
            '?name=or:Other&name=or:eq:ns:wf')),
            [('Other', '5.0.0'), ('ns:wf', '1.0.0')])
        self.assertEqual(self.names_versions(
            '?name=or:Other&name=or:eq:ns:wf&kind=blue'), [('Other', '5.0.0')])
        self.assertEqual(self.versions('?tags=or:t-1.0&tags=or:t-1.9&'
                                       'sort=version:asc'),
                         ['1.0.0', '1.9.0'])

    def test_tags_metadata_dates(self):
        srv = self.srv
        self.assertEqual(self.versions('?tags=t-1.0,common'), ['1.0.0'])
        self.assertEqual(sorted(self.versions('?tags-any=t-1.0,t-1.9')),
                         ['1.0.0', '1.9.0'])
        self.assertEqual(self.versions('?metadata.ver=1.10'), ['1.10.0'])
        self.assertEqual(sorted(self.versions('?metadata.ver=in:1.9,1.0')),
                         ['1.0.0', '1.9.0'])
        self.assertEqual(len(self.versions('?metadata=eq:ver')), 6)
        resp = srv.list('?tags=eq:x', type_name='things')
        self.assertGlareError(resp, 400, "Tags are filtered without operator")
        first = srv.request('GET', '/artifacts/things/' +
                            self.ids['1.0']).json['created_at']
        self.assertEqual(len(self.versions(
            '?name=sem&created_at=gt:2000-01-01T00:00:00Z&'
            'created_at=lt:2999-01-01T00:00:00Z')), 6)
        self.assertEqual(self.versions('?name=sem&created_at=lt:%s' % first),
                         [])
        self.assertEqual(self.versions('?name=sem&activated_at=gt:2000-01-'
                                       '01T00:00:00Z'), ['1.1.0'])
        resp = srv.list('?created_at=%s' % first, type_name='things')
        self.assertGlareError(resp, 400, "Unsupported filter type 'eq'.The "
                              "following filters are supported ['lt', 'gt']")

    def test_filter_errors(self):
        srv = self.srv
        for query, message in (
                ('?foo=1', "Unable filter 'foo'"),
                ('?name.x=1', "Field name is not Dict"),
                ('?description=x', "Unsupported filter type 'eq'.The "
                                   "following filters are supported []"),
                ('?data=x', "Unsupported filter type 'eq'.The following "
                            "filters are supported []"),
                ('?metadata=neq:k', "Unsupported filter type 'neq'. The "
                                    "following filters are supported: eq, "
                                    "in"),
                ('?version=abc', "Type: things. Field: version. Exception: "
                                 "Version string lacks a numerical "
                                 "component: 'abc'"),
                ('?status=bogus', "Type: things. Field: status. Exception: "
                                  "Value must be one of the following: "
                                  "drafted, active, deactivated, deleted"),
                ('?limit=abc', "Limit param must be an integer."),
                ('?limit=-1', "Limit param must be positive."),
                ('?sort=foo', "The field foo doesn't exist."),
                ('?sort=description', "The field description is not "
                                      "sortable."),
                ('?sort=name:up', 'Sort direction must be one of ["asc", '
                                  '"desc"]. Got up direction'),
                ('?marker=00000000-0000-0000-0000-000000000000',
                 "Artifact with id=00000000-0000-0000-0000-000000000000 not "
                 "found.")):
            resp = srv.list(query, type_name='things')
            self.assertGlareError(resp, 404 if 'marker' in query else 400,
                                  message)

    def test_visibility_of_list(self):
        self.assertEqual(self.srv.list('', token=BOB, type_name='things')
                         .json['total_count'], 0)

    def test_paging(self):
        srv = self.srv
        made = [srv.create('p%02d' % i, type_name='bulk')['id']
                for i in range(27)]
        resp = srv.list(type_name='bulk')
        body = resp.json
        self.assertEqual(len(body['artifacts']), 25)        # default limit
        self.assertEqual(body['total_count'], 27)
        self.assertEqual(body['first'], '/artifacts/bulk')
        # default order: created_at desc
        self.assertEqual([a['id'] for a in body['artifacts']],
                         made[::-1][:25])
        self.assertTrue(body['next'].endswith('marker=' + made[2]))
        resp = srv.request('GET', body['next'])
        self.assertEqual([a['id'] for a in resp.json['artifacts']],
                         [made[1], made[0]])
        self.assertNotIn('next', resp.json)

        seen, url, pages = [], '/artifacts/bulk?sort=name:asc&limit=9', 0
        while url:
            page = srv.request('GET', url).json
            seen += [a['name'] for a in page['artifacts']]
            url, pages = page.get('next'), pages + 1
        self.assertEqual(seen, ['p%02d' % i for i in range(27)])
        self.assertEqual(pages, 4)          # 9+9+9, then an empty page

        resp = srv.list('?limit=0', type_name='bulk')
        self.assertEqual((resp.json['artifacts'], resp.json['total_count']),
                         ([], 27))
        self.assertNotIn('next', resp.json)
        resp = srv.list('?limit=5000', type_name='bulk')
        self.assertEqual(len(resp.json['artifacts']), 27)
        resp = srv.list('?name=p01&name=p02&limit=1', type_name='bulk')
        self.assertEqual([a['name'] for a in resp.json['artifacts']], [])
        self.assertEqual(resp.json['first'],
                         '/artifacts/bulk?name=p02&limit=1')


# ---------------------------------------------------------------------------
# Blobs
# ---------------------------------------------------------------------------

class BlobTest(ServerTestCase):
    SERVER_ARGS = ('--max-blob-size', '1000', '--control')

    def test_upload_details(self):
        srv = self.srv
        af = srv.create(self.unique('blob'))
        resp = srv.request('PUT', '/artifacts/workflows/%s/workflow'
                           % af['id'], b'abc')
        self.assertEqual(resp.json['workflow']['content_type'], 'text/plain')
        resp = srv.upload(af['id'], 'workflow', b'second', 'application/x')
        self.assertEqual(resp.json['workflow']['content_type'], 'text/plain')
        self.assertEqual(srv.download(af['id'], 'workflow').body, b'second')
        resp = srv.upload(af['id'], 'resources/dir/a%20b.txt', b'x',
                          'text/plain; charset=utf-8')
        blob = resp.json['resources']['dir/a b.txt']
        self.assertEqual(blob['url'], '/artifacts/workflows/%s/resources/'
                         'dir/a b.txt' % af['id'])
        self.assertEqual(blob['content_type'], 'text/plain')
        self.assertEqual(srv.download(af['id'], 'resources/dir/a%20b.txt')
                         .body, b'x')
        resp = srv.request('PUT', '/artifacts/workflows/%s/resources/chunk'
                           % af['id'], b'chunked data', chunked=True,
                           ctype='text/plain')
        self.assertEqual(resp.status, 200)
        chunk = resp.json['resources']['chunk']
        self.assertEqual((chunk['size'], chunk['md5']), (0, EMPTY_MD5))
        raw = srv.raw(('PUT /artifacts/workflows/%s/resources/nolen '
                       'HTTP/1.1\r\nHost: x\r\nX-Auth-Token: %s\r\n'
                       'Connection: close\r\n\r\n' % (af['id'], ALICE))
                      .encode())
        self.assertTrue(raw.startswith(b'HTTP/1.1 200 OK'))
        self.assertEqual(srv.download(af['id'], 'resources/nolen').body, b'')

    def test_upload_errors(self):
        srv = self.srv
        af = srv.create(self.unique('blob'))
        for path, message in (('name', "name is not a blob"),
                              ('workflow/key', "workflow is not a blob dict"),
                              ('resources', "resources is not a blob"),
                              ('resources/', "resources is not a blob"),
                              ('nope', "nope is not a blob")):
            resp = srv.upload(af['id'], path, b'x')
            self.assertGlareError(resp, 400, message)
        resp = srv.upload(af['id'], 'resources/big.bin', b'x' * 1001)
        self.assertGlareError(resp, 413, "Can't upload 1001 bytes of data to "
                              "blob resources[big.bin]. Its max allowed size "
                              "is 1000", 'RequestEntityTooLarge')
        resp = srv.upload(af['id'], 'workflow', b'x' * 1001)
        self.assertGlareError(resp, 413, "Can't upload 1001 bytes of data to "
                              "blob workflow. Its max allowed size is 1000")
        self.assertEqual(srv.upload(af['id'], 'workflow', b'x' * 1000).status,
                         200)
        self.assertEqual(srv.upload(af['id'], 'workflow', b'y',
                                    token=BOB).status, 404)
        resp = srv.download(af['id'], 'resources')
        self.assertGlareError(resp, 400, "resources is not a blob")
        resp = srv.download(af['id'], 'resources/nope')
        self.assertGlareError(resp, 404, "No data found for blob "
                              "resources[nope]")

    def start_partial_upload(self, af_id, key, total, first):
        sock = socket.create_connection(('127.0.0.1', self.srv.port),
                                        timeout=5)
        sock.sendall(('PUT /artifacts/workflows/%s/resources/%s HTTP/1.1\r\n'
                      'Host: x\r\nX-Auth-Token: %s\r\nContent-Type: text/x\r\n'
                      'Content-Length: %d\r\n\r\n' % (af_id, key, ALICE,
                                                      total)).encode() + first)
        for _ in range(100):            # wait until the server saw it
            blob = self.srv.request('GET', '/artifacts/workflows/' + af_id) \
                .json['resources'].get(key)
            if blob:
                return sock, blob
            time.sleep(0.02)
        self.fail('upload never started')

    def test_upload_in_progress(self):
        srv = self.srv
        af = srv.create(self.unique('saving'))
        srv.upload(af['id'], 'workflow', b'wf')
        sock, blob = self.start_partial_upload(af['id'], 'slow', 10, b'01234')
        try:
            self.assertEqual((blob['status'], blob['size'], blob['sha256']),
                             ('saving', 10, None))
            self.assertEqual(srv.upload(af['id'], 'resources/slow', b'x')
                             .status, 409)
            resp = srv.download(af['id'], 'resources/slow')
            self.assertGlareError(resp, 409, "resources[slow] is not ready "
                                  "for download")
            resp = srv.patch(af['id'], [{'op': 'replace', 'path': '/status',
                                         'value': 'active'}])
            self.assertGlareError(resp, 409, "You cannot activate artifact "
                                  "if it has uploading blobs.")
            sock.sendall(b'56789')
            reply = sock.recv(65536)
            self.assertTrue(reply.startswith(b'HTTP/1.1 200 OK'), reply)
        finally:
            sock.close()
        self.assertEqual(srv.download(af['id'], 'resources/slow').body,
                         b'0123456789')
        # a client that goes away mid-upload leaves nothing behind
        sock, _ = self.start_partial_upload(af['id'], 'gone', 10, b'01')
        sock.close()
        for _ in range(100):
            if 'gone' not in srv.request('GET', '/artifacts/workflows/' +
                                         af['id']).json['resources']:
                break
            time.sleep(0.02)
        else:
            self.fail('aborted upload was not rolled back')
        self.assertEqual([f for f in os.listdir(os.path.join(srv.data,
                                                             'blobs'))
                          if f.startswith('.')], [])

    def test_internal_locations(self):
        srv = self.srv
        af = srv.create(self.unique('int'))
        path = '/artifacts/workflows/%s/workflow' % af['id']
        for body, status, message in (
                ({'url': 'http://x/y', 'md5': 'm', 'location_type': 'bogus'},
                 400, "Incorrect location type 'bogus'. It must be one of "
                      "the following external, internal"),
                ({'url': 'file:///etc/passwd', 'md5': 'm',
                  'location_type': 'internal'},
                 403, "Forbidden to set internal locations with scheme "
                      "'file'"),
                ({'url': 'gopher://x', 'location_type': 'internal'},
                 400, "Unknown scheme 'gopher'"),
                ({'url': 'http://x/y', 'location_type': 'internal'},
                 403, "Policy check for artifact:set_internal_location "
                      "failed with user credentials.")):
            resp = srv.request('PUT', path, json.dumps(body).encode(),
                               ctype=LOCATION_CT)
            self.assertGlareError(resp, status, message)
        resp = srv.request('PUT', path, b'[1', ctype=LOCATION_CT,
                           headers={'Accept': 'application/json'})
        self.assertEqual((resp.status, resp.json['title']),
                         (400, 'Bad Request'))

    def test_bad_content_length(self):
        af = self.srv.create(self.unique('cl'))
        raw = self.srv.raw(('PUT /artifacts/workflows/%s/workflow HTTP/1.1\r\n'
                            'Host: x\r\nX-Auth-Token: %s\r\nContent-Length: '
                            'abc\r\n\r\n' % (af['id'], ALICE)).encode())
        self.assertTrue(raw.startswith(b'HTTP/1.1 400'), raw)
        self.assertIn(b'Content-Length must be a non negative integer.', raw)

    def test_folder_key_limit(self):
        srv = self.srv
        af = srv.create(self.unique('keys'))
        for i in range(255):
            self.assertEqual(srv.upload(af['id'], 'resources/k%d' % i,
                                        b'').status, 200)
        resp = srv.upload(af['id'], 'resources/one-more', b'')
        self.assertEqual(resp.status, 400)
        self.assertEqual(srv.upload(af['id'], 'resources/k0', b'again')
                         .status, 200)

    def test_download_policy(self):
        srv = self.srv
        af = srv.make_active(self.unique('dl'))
        srv.publish(af['id'])
        self.assertEqual(srv.request('GET', '/artifacts/workflows/' +
                                     af['id'], token=BOB).status, 200)
        resp = srv.download(af['id'], 'workflow', token=BOB)
        self.assertGlareError(resp, 403, "Policy check for artifact:download "
                              "failed with user credentials.",
                              'PolicyException')
        self.assertEqual(srv.download(af['id'], 'workflow',
                                      token=OTHER_ADMIN).status, 200)
        resp = srv.upload(af['id'], 'resources/x', b'x', token=BOB)
        self.assertGlareError(resp, 403, "You are not authorized to complete "
                              "this action.")
        # drafted artifacts can be downloaded by their owner
        draft = srv.create(self.unique('dl'))
        srv.upload(draft['id'], 'workflow', b'draft')
        self.assertEqual(srv.download(draft['id'], 'workflow').body,
                         b'draft')
        # deactivated: admin only
        srv.patch(af['id'], [{'op': 'replace', 'path': '/status',
                              'value': 'deactivated'}], token=ADMIN)
        self.assertEqual(srv.download(af['id'], 'workflow').status, 403)
        self.assertEqual(srv.download(af['id'], 'workflow',
                                      token=ADMIN).status, 200)

    def test_external_locations(self):
        srv = self.srv
        content = b'external content\n'
        resp = srv.request('PUT', '/__static/ext.txt', content, token=None)
        self.assertEqual(resp.status, 201)
        ext_url = srv.url + '/__static/ext.txt'
        md5 = hashlib.md5(content).hexdigest()
        af = srv.create(self.unique('ext'))
        path = '/artifacts/workflows/%s/resources/ext.txt' % af['id']
        resp = srv.request('PUT', path, json.dumps({'url': ext_url}).encode(),
                           ctype=LOCATION_CT)
        self.assertGlareError(resp, 400, "Incorrect blob metadata. MD5 must "
                              "be specified for external location in "
                              "artifact blob.")
        resp = srv.request('PUT', path, json.dumps(
            {'url': 'ftp://x/y', 'md5': md5}).encode(), ctype=LOCATION_CT)
        self.assertGlareError(resp, 400, "Url 'ftp://x/y' doesn't have "
                              "http(s) scheme")
        resp = srv.request('PUT', path, json.dumps({'md5': md5}).encode(),
                           ctype=LOCATION_CT)
        self.assertGlareError(resp, 400, "url is required when specifying "
                              "external location. Cannot find 'url' in "
                              "request body: {'md5': '%s'}" % md5)
        resp = srv.request('PUT', path, json.dumps(
            {'url': ext_url, 'md5': md5}).encode(), ctype=LOCATION_CT)
        self.assertEqual(resp.status, 200, resp)
        blob = resp.json['resources']['ext.txt']
        self.assertEqual(blob, {'url': ext_url, 'status': 'active',
                                'external': True, 'md5': md5, 'sha1': None,
                                'sha256': None, 'size': None,
                                'content_type': None})
        resp = srv.request('PUT', path, json.dumps(
            {'url': ext_url, 'md5': md5}).encode(), ctype=LOCATION_CT)
        self.assertGlareError(resp, 409, "Blob resources already exists for "
                              "artifact %s" % af['id'])
        resp = srv.request('GET', path)
        self.assertEqual((resp.status, resp.body), (301, b''))
        self.assertEqual(resp.headers['Location'], ext_url)
        self.assertEqual(resp.headers['Content-Length'], '0')
        self.assertEqual(resp.headers['Content-Type'], 'application/json')
        self.assertEqual(resp.headers['Content-MD5'], md5)
        self.assertEqual(resp.headers['X-Openstack-Glare-Content-SHA1'],
                         'None')
        self.assertEqual(resp.headers['X-Openstack-Glare-Content-SHA256'],
                         'None')
        target = srv.request('GET', urllib.parse.urlsplit(ext_url).path,
                             token=None)
        self.assertEqual(target.body, content)
        # DELETE removes external blobs only
        srv.upload(af['id'], 'resources/a.txt', b'a')
        resp = srv.request('DELETE', '/artifacts/workflows/%s/resources/'
                           'a.txt' % af['id'])
        self.assertGlareError(resp, 403, "Blob resources[a.txt] is not "
                              "external")
        resp = srv.request('DELETE', '/artifacts/workflows/%s/resources/'
                           'nope' % af['id'])
        self.assertGlareError(resp, 404, "Blob resources[nope] wasn't found "
                              "for artifact")
        resp = srv.request('DELETE', path)
        self.assertEqual(resp.status, 200)
        self.assertNotIn('ext.txt', resp.json['resources'])
        self.assertIn('a.txt', resp.json['resources'])


class KeepAliveTest(ServerTestCase):
    SERVER_ARGS = ('--max-blob-size', '100')

    def test_one_connection_many_requests(self):
        """Unread or chunked bodies never desynchronise the connection."""
        af = self.srv.create(self.unique('ka'))
        conn = http.client.HTTPConnection('127.0.0.1', self.srv.port,
                                          timeout=5)
        hdrs = {'X-Auth-Token': ALICE}
        base = '/artifacts/workflows/' + af['id']

        def call(method, path, body=None, extra=None, **kw):
            conn.request(method, path, body=body,
                         headers=dict(hdrs, **(extra or {})), **kw)
            resp = conn.getresponse()
            return resp.status, resp.read()

        self.assertEqual(call('PUT', base + '/resources/big', b'x' * 500)[0],
                         413)
        self.assertEqual(call('PUT', base + '/resources/c', iter([b'abc']),
                              {'Transfer-Encoding': 'chunked'},
                              encode_chunked=True)[0], 200)
        self.assertEqual(call('GET', base, b'unexpected')[0], 400)
        self.assertEqual(call('HEAD', base)[0], 405)
        self.assertEqual(call('POST', base + '/workflow', b'{}')[0], 405)
        self.assertEqual(call('POST', '/nothing', b'{}')[0], 404)
        self.assertEqual(call('PUT', base + '/workflow', b'data')[0], 200)
        status, body = call('GET', base + '/workflow')
        self.assertEqual((status, body), (200, b'data'))
        conn.close()


class PublicDownloadTest(ServerTestCase):
    SERVER_ARGS = ('--public-download',)

    def test_public_download_allowed(self):
        af = self.srv.make_active(self.unique('pub'))
        self.assertEqual(self.srv.download(af['id'], 'workflow',
                                           token=BOB).status, 404)
        self.srv.publish(af['id'])
        resp = self.srv.download(af['id'], 'workflow', token=BOB)
        self.assertEqual((resp.status, resp.body), (200, WF_YAML))


class DefaultBlobSizeTest(ServerTestCase):
    def test_default_limit_is_10_mib(self):
        af = self.srv.create(self.unique('big'))
        resp = self.srv.upload(af['id'], 'resources/big.bin',
                               b'\0' * (10485760 + 1))
        self.assertGlareError(resp, 413, "Can't upload 10485761 bytes of "
                              "data to blob resources[big.bin]. Its max "
                              "allowed size is 10485760")
        # the connection and the server are still fine
        self.assertEqual(self.srv.list().status, 200)


# ---------------------------------------------------------------------------
# Faults and the control API
# ---------------------------------------------------------------------------

class CliFaultTest(ServerTestCase):
    SERVER_ARGS = ('--fault', '500,method=GET,path=/artifacts/workflows',
                   '--fault', 'delay,path=/schemas,seconds=0.3,count=-1')

    def test_faults_armed_at_start(self):
        resp = self.srv.list()
        self.assertGlareError(resp, 500, "Injected fault", 'InjectedFault')
        self.assertIsNone(resp.headers['Retry-After'])
        self.assertEqual(self.srv.list().status, 200)
        for _ in range(2):
            start = time.monotonic()
            self.assertEqual(self.srv.request('GET', '/schemas').status, 200)
            self.assertGreaterEqual(time.monotonic() - start, 0.3)


class FaultTest(ServerTestCase):
    SERVER_ARGS = ('--control',)

    def setUp(self):
        self.srv.request('DELETE', '/__control/faults', token=None)

    def add_fault(self, **rule):
        resp = self.srv.request('POST', '/__control/faults', rule,
                                token=None)
        self.assertEqual(resp.status, 201, resp)
        return resp.json

    def blob(self, data=b'0123456789' * 100):
        af = self.srv.create(self.unique('fault'))
        self.srv.upload(af['id'], 'workflow', data)
        return '/artifacts/workflows/%s/workflow' % af['id'], data

    def raw_get(self, path):
        return self.srv.raw(('GET %s HTTP/1.1\r\nHost: x\r\nX-Auth-Token: %s'
                             '\r\n\r\n' % (path, ALICE)).encode())

    def test_503_and_429_retry_after(self):
        self.add_fault(kind='503', method='GET', path='/artifacts/*',
                       count=2, retry_after=3)
        for _ in range(2):
            resp = self.srv.list()
            self.assertEqual(resp.status, 503)
            self.assertEqual(resp.headers['Retry-After'], '3')
            self.assertEqual(resp.json['title'], 'Service Unavailable')
        self.assertEqual(self.srv.list().status, 200)
        self.add_fault(kind='429')
        resp = self.srv.list()
        self.assertEqual((resp.status, resp.headers['Retry-After']),
                         (429, '1'))
        self.add_fault(kind='503', format='html')
        resp = self.srv.list()
        self.assertEqual(resp.headers['Content-Type'], 'text/html')
        self.assertIn(b'503 Service Unavailable', resp.body)

    def test_method_and_path_matching(self):
        self.add_fault(kind='500', method='POST', path='/artifacts/workflows')
        self.assertEqual(self.srv.list().status, 200)
        self.assertEqual(self.srv.request(
            'POST', '/artifacts/workflows', {'name': 'x'}).status, 500)
        self.assertEqual(self.srv.request(
            'GET', '/__control/faults', token=None).json, {'faults': []})

    def test_when_after_keeps_effects(self):
        name = self.unique('after')
        self.add_fault(kind='503', method='POST', when='after')
        resp = self.srv.request('POST', '/artifacts/workflows',
                                {'name': name})
        self.assertEqual(resp.status, 503)
        self.assertEqual(self.srv.list('?name=eq:' + name)
                         .json['total_count'], 1)

    def test_unlimited_count(self):
        self.add_fault(kind='500', path='/schemas', count=-1)
        for _ in range(3):
            self.assertEqual(self.srv.request('GET', '/schemas').status, 500)
        self.assertEqual(self.srv.request('GET', '/__control/faults',
                                          token=None).json['faults'][0]
                         ['count'], -1)

    def test_reset_mid_body(self):
        path, data = self.blob()
        self.add_fault(kind='reset', path=path, after=100)
        got = b''
        with self.assertRaises(ConnectionResetError):
            sock = socket.create_connection(('127.0.0.1', self.srv.port),
                                            timeout=5)
            try:
                sock.sendall(('GET %s HTTP/1.1\r\nHost: x\r\nX-Auth-Token: '
                              '%s\r\n\r\n' % (path, ALICE)).encode())
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    got += chunk
            finally:
                sock.close()
        head, _, body = got.partition(b'\r\n\r\n')
        self.assertLessEqual(len(body), 100)
        self.assertEqual(self.srv.download(path.split('/')[3],
                                           'workflow').body, data)

    def test_truncated_body(self):
        path, data = self.blob()
        self.add_fault(kind='truncate', path=path, after=300)
        out = self.raw_get(path)            # ends with a clean EOF
        head, _, body = out.partition(b'\r\n\r\n')
        self.assertIn(b'Content-Length: 1000', head)
        self.assertEqual(body, data[:300])
        with self.assertRaises(http.client.IncompleteRead):
            self.add_fault(kind='truncate', path=path)
            self.srv.request('GET', path)

    def test_bad_checksum_headers(self):
        path, data = self.blob()
        self.add_fault(kind='badsum', path=path)
        resp = self.srv.request('GET', path)
        self.assertEqual(resp.body, data)
        self.assertEqual(resp.headers['Content-MD5'],
                         hashlib.md5(data).hexdigest())
        self.assertNotEqual(resp.headers['X-Openstack-Glare-Content-SHA256'],
                            hashlib.sha256(data).hexdigest())
        self.assertEqual(len(resp.headers['X-Openstack-Glare-Content-SHA256']),
                         64)
        self.add_fault(kind='badsum', path=path, which='md5')
        resp = self.srv.request('GET', path)
        self.assertNotEqual(resp.headers['Content-MD5'],
                            hashlib.md5(data).hexdigest())
        self.assertEqual(resp.headers['X-Openstack-Glare-Content-SHA256'],
                         hashlib.sha256(data).hexdigest())
        resp = self.srv.request('GET', path)            # rule consumed
        self.assertEqual(resp.headers['Content-MD5'],
                         hashlib.md5(data).hexdigest())

    def test_corrupt_body(self):
        path, data = self.blob()
        self.add_fault(kind='corrupt', path=path)
        resp = self.srv.request('GET', path)
        self.assertEqual(len(resp.body), len(data))
        self.assertNotEqual(resp.body, data)
        self.assertEqual(resp.headers['X-Openstack-Glare-Content-SHA256'],
                         hashlib.sha256(data).hexdigest())

    def test_delay_and_drip(self):
        path, data = self.blob(b'x' * 40)
        self.add_fault(kind='delay', path=path, seconds=0.4)
        start = time.monotonic()
        self.assertEqual(self.srv.request('GET', path).body, b'x' * 40)
        self.assertGreaterEqual(time.monotonic() - start, 0.4)
        self.add_fault(kind='drip', path=path, chunk=10, interval=0.15)
        start = time.monotonic()
        resp = self.srv.request('GET', path)
        self.assertGreaterEqual(time.monotonic() - start, 0.45)
        self.assertEqual(resp.body, b'x' * 40)
        # a stall timeout on the client fires while the body drips
        self.add_fault(kind='drip', path=path, chunk=1, interval=1)
        with self.assertRaises(socket.timeout):
            self.srv.request('GET', path, timeout=0.3)

    def test_slowread_keeps_the_upload_saving(self):
        af = self.srv.create(self.unique('slow'))
        path = '/artifacts/workflows/%s/workflow' % af['id']
        self.add_fault(kind='slowread', method='PUT', path=path, chunk=100,
                       interval=0.2)
        done = []
        thread = threading.Thread(target=lambda: done.append(
            self.srv.upload(af['id'], 'workflow', b'x' * 400)))
        start = time.monotonic()
        thread.start()
        time.sleep(0.3)
        self.assertEqual(self.srv.request('GET', path[:-len('/workflow')])
                         .json['workflow']['status'], 'saving')
        thread.join(10)
        self.assertGreaterEqual(time.monotonic() - start, 0.8)
        self.assertEqual(done[0].json['workflow']['size'], 400)

    def test_bad_rules_rejected(self):
        for rule in ({'kind': 'boom'}, {'kind': '503', 'frob': 1},
                     {'kind': 'badsum', 'which': 'crc'}):
            resp = self.srv.request('POST', '/__control/faults', rule,
                                    token=None)
            self.assertEqual(resp.status, 400)

    def test_stats_and_log(self):
        srv = self.srv
        srv.request('DELETE', '/__control/stats', token=None)
        srv.list()
        srv.list()
        srv.request('GET', '/schemas')
        srv.request('GET', '/__control/faults', token=None)
        stats = srv.request('GET', '/__control/stats', token=None).json
        self.assertEqual(stats['requests'], {'GET artifacts': 2,
                                             'GET schemas': 1})
        self.assertEqual(stats['total'], 3)
        lines = [l for l in srv.log_lines()
                 if '"GET /schemas HTTP/1.1" 200 -' in l]
        self.assertGreaterEqual(len(lines), 1)


class NoControlTest(ServerTestCase):
    def test_control_endpoint_absent(self):
        resp = self.srv.request('GET', '/__control/stats')
        self.assertEqual(resp.status, 404)
        resp = self.srv.request('POST', '/__control/faults',
                                {'kind': '500'}, token=None)
        self.assertEqual(resp.status, 401)
        self.assertEqual(self.srv.request('GET', '/__static/x').status, 404)
        self.assertEqual(self.srv.list().status, 200)


# ---------------------------------------------------------------------------
# Persistence and process behaviour
# ---------------------------------------------------------------------------

class PersistenceTest(unittest.TestCase):
    def test_restart_keeps_state(self):
        srv = Server().start()
        try:
            af = srv.make_active('persist', '1.2', description='keep me')
            draft = srv.create('persist', '2.0')
            before = srv.request('GET', '/artifacts/workflows/' + af['id'])
            self.assertEqual(srv.stop(), 0)          # clean SIGTERM exit
            srv.start()
            after = srv.request('GET', '/artifacts/workflows/' + af['id'])
            self.assertEqual(after.json, before.json)
            self.assertEqual(srv.download(af['id'], 'workflow').body, WF_YAML)
            self.assertEqual(srv.download(
                af['id'], 'resources/heal_vm_script.sh').body, SCRIPT)
            self.assertEqual(srv.list('?name=persist&version=latest')
                             .json['artifacts'][0]['id'], draft['id'])
            self.assertEqual(srv.request('POST', '/artifacts/workflows',
                                         {'name': 'persist',
                                          'version': '1.2'}).status, 409)
            leftovers = [f for d in ('artifacts', 'blobs')
                         for f in os.listdir(os.path.join(srv.data, d))
                         if f.startswith('.')]
            self.assertEqual(leftovers, [])
        finally:
            srv.cleanup()

    def test_sigint_and_bad_arguments(self):
        srv = Server().start()
        try:
            srv.proc.send_signal(2)
            self.assertEqual(srv.proc.wait(timeout=10), 0)
        finally:
            srv.cleanup()
        with tempfile.TemporaryDirectory() as data:
            proc = subprocess.run([PYTHON, SERVER, '--port', '0', '--data',
                                   data, '--type', 'x=frob:y'],
                                  capture_output=True, timeout=30)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn(b'bad field kind', proc.stderr)


# ---------------------------------------------------------------------------
# Peer proof: Debian's python3-glareclient against this server
# ---------------------------------------------------------------------------

def glareclient_available():
    try:
        return subprocess.run([PYTHON, '-c', 'import glareclient.client'],
                              capture_output=True, timeout=60
                              ).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


LIBRARY_SCRIPT = r'''
import json, sys
from glareclient import client
url, token = sys.argv[1], sys.argv[2]
gc = client.Client('1', endpoint=url, auth_token=token)
arts = gc.artifacts
out = {}
out['types'] = sorted(t for t, v in arts.get_type_list())
af = arts.create('wf_lib', version='1.0', type_name='workflows',
                 description='from glareclient', tags=['lib'])
out['created'] = af
with open(sys.argv[3], 'rb') as fobj:
    arts.upload_blob(af['id'], 'workflow', fobj, type_name='workflows',
                     content_type='application/x-yaml')
arts.upload_blob(af['id'], 'resources/heal_vm_script.sh',
                 '#!/bin/sh\necho healing\n', type_name='workflows',
                 content_type='text/x-shellscript')
out['activated'] = arts.activate(af['id'], type_name='workflows')
arts.create('wf_lib', version='1.1', type_name='workflows')
out['listed'] = [(a['name'], a['version']) for a in arts.list(
    type_name='workflows', filters=[('name', 'wf_lib'),
                                    ('version', 'gte:1.0')],
    sort='version:asc', page_size=1)]
out['by_name'] = arts.get_by_name('wf_lib', version='1.0',
                                  type_name='workflows')['id']
out['shown'] = arts.get(af['id'], type_name='workflows')
out['updated'] = arts.update(af['id'], type_name='workflows',
                             description='changed')['description']
print(json.dumps(out))
'''


@unittest.skipUnless(os.path.exists(GLARE_CLI) and glareclient_available(),
                     'python3-glareclient is not installed')
# ---------------------------------------------------------------------------
# glare-api.md section 15: what the real server does that the API text hides
# ---------------------------------------------------------------------------

class ActivationTimeTest(ServerTestCase):
    """activated_at filters: lt/gt only, second precision, UTC."""

    def test_activated_before_and_after(self):
        srv = self.srv
        name = self.unique('asof')
        first = srv.make_active(name, '1.0')
        time.sleep(1.1)                 # the next activation's second
        second = srv.make_active(name, '2.0')
        srv.create(name, '3.0')         # a draft: never activated
        t1, t2 = first['activated_at'], second['activated_at']
        self.assertRegex(t1, r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$')
        self.assertLess(t1, t2)

        def versions(query):
            resp = srv.list('?name=eq:%s&sort=version:asc%s' % (name, query))
            self.assertEqual(resp.status, 200, resp)
            return [a['version'] for a in resp.json['artifacts']]
        self.assertEqual(versions('&activated_at=lt:' + t2), ['1.0.0'])
        self.assertEqual(versions('&activated_at=lt:' + t1), [])
        # second precision: an artifact is not activated after its own time
        self.assertEqual(versions('&activated_at=gt:' + t1), ['2.0.0'])
        self.assertEqual(versions('&activated_at=gt:' + t2), [])
        # "as of": the latest version activated before a time
        self.assertEqual(versions('&status=active&version=latest&'
                                  'activated_at=lt:' + t2), ['1.0.0'])
        self.assertEqual(versions('&status=active&version=latest&'
                                  'activated_at=lt:2999-01-01T00:00:00Z'),
                         ['2.0.0'])
        for op in ('lte', 'gte', 'eq'):
            resp = srv.list('?activated_at=%s:%s' % (op, t1))
            self.assertGlareError(resp, 400, "Unsupported filter type '%s'."
                                  "The following filters are supported "
                                  "['lt', 'gt']" % op)


class RealServerQuirksTest(ServerTestCase):
    """Keys read as latin-1, the upload lock, aborted uploads."""

    SERVER_ARGS = ('--aborted-upload-hold', '1.5')

    def start_partial_upload(self, af_id, key, total, first):
        return BlobTest.start_partial_upload(self, af_id, key, total, first)

    def test_keys_are_read_as_latin1(self):
        srv = self.srv
        af = srv.create(self.unique('keys'))
        sent = urllib.parse.quote('résumé ✓.txt')
        resp = srv.upload(af['id'], 'resources/' + sent, b'cv')
        self.assertEqual(resp.status, 200, resp)
        mangled = 'résumé ✓.txt'.encode('utf-8').decode('latin-1')
        self.assertEqual(list(resp.json['resources']), [mangled])
        self.assertTrue(resp.json['resources'][mangled]['url']
                        .endswith('/resources/' + mangled))
        # the same request path reaches it; the listed key, sent as UTF-8,
        # is mangled twice and does not
        self.assertEqual(srv.download(af['id'], 'resources/' + sent).body,
                         b'cv')
        resp = srv.download(af['id'], 'resources/' +
                            urllib.parse.quote(mangled))
        self.assertGlareError(resp, 404, "No data found for blob "
                              "resources[%s]" % mangled.encode('utf-8')
                              .decode('latin-1'))
        # names in JSON bodies are not affected
        self.assertEqual(srv.create('résumé', '1.0')['name'], 'résumé')

    def test_uploads_to_one_artifact_are_serialised(self):
        srv = self.srv
        af = srv.create(self.unique('lock'))
        sock, _ = self.start_partial_upload(af['id'], 'slow', 10, b'01234')
        try:
            resp = srv.upload(af['id'], 'resources/other', b'x')
            self.assertGlareError(resp, 409, "Cannot lock an item with key "
                                  "workflows:%s. Lock already acquired by "
                                  "other request" % af['id'])
            resp = srv.request('DELETE', '/artifacts/workflows/' + af['id'])
            self.assertGlareError(resp, 409, "You cannot change artifact "
                                  "status if it has uploading blobs")
            sock.sendall(b'56789')
            self.assertTrue(sock.recv(65536).startswith(b'HTTP/1.1 200'))
        finally:
            sock.close()
        self.assertEqual(srv.upload(af['id'], 'resources/other', b'x')
                         .status, 200)
        self.assertEqual(srv.request('DELETE', '/artifacts/workflows/' +
                                     af['id']).status, 204)

    def test_aborted_upload_holds_the_artifact(self):
        srv = self.srv
        af = srv.create(self.unique('abort'))
        path = '/artifacts/workflows/' + af['id']
        sock, _ = self.start_partial_upload(af['id'], 'gone', 10, b'01')
        sock.close()
        aborted = time.monotonic()
        for _ in range(100):            # the server's 500 for the PUT
            if any('"PUT %s/resources/gone HTTP/1.1" 500' % path in line
                   for line in srv.log_lines()):
                break
            time.sleep(0.02)
        else:
            self.fail('no 500 for the aborted upload: %s' % srv.log_lines())
        resp = srv.request('DELETE', path)
        self.assertGlareError(resp, 409, "You cannot change artifact status "
                              "if it has uploading blobs")
        self.assertLess(time.monotonic() - aborted, 1.5)
        self.assertEqual(srv.request('GET', path).json['resources']['gone']
                         ['status'], 'saving')
        while srv.request('DELETE', path).status == 409:
            self.assertLess(time.monotonic() - aborted, 5)
            time.sleep(0.1)
        self.assertGreater(time.monotonic() - aborted, 1.4)
        self.assertEqual(srv.request('GET', path).status, 404)


class GlareclientPeerTest(ServerTestCase):
    def cli(self, *args, token=ALICE):
        proc = subprocess.run(
            [GLARE_CLI, '--os-glare-url', self.srv.url, '--auth-token',
             token] + list(args) + ['-f', 'json'],
            capture_output=True, timeout=60, cwd=self.srv.tmp)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        return json.loads(proc.stdout.decode())

    def test_cli(self):
        srv = self.srv
        wf_path = os.path.join(srv.tmp, 'wf.yaml')
        sh_path = os.path.join(srv.tmp, 's.sh')
        with open(wf_path, 'wb') as fobj:
            fobj.write(WF_YAML)
        with open(sh_path, 'wb') as fobj:
            fobj.write(SCRIPT)

        types = self.cli('type-list')
        self.assertIn({'Name': 'workflows', 'Version': '1.0'}, types)

        created = {r['Field']: r['Value'] for r in
                   self.cli('create', 'workflows', 'wf_cli', '-V', '2.0')}
        self.assertEqual((created['name'], created['version'],
                          created['status']), ('wf_cli', '2.0.0', 'drafted'))
        self.cli('create', 'workflows', 'wf_cli', '-V', '1.0')

        up = self.cli('upload', 'workflows', 'wf_cli', '-V', '2.0', '--file',
                      wf_path, '-p', 'workflow', '-C', 'application/x-yaml')
        self.assertEqual((up['size'], up['sha256'], up['content_type']),
                         (len(WF_YAML), hashlib.sha256(WF_YAML).hexdigest(),
                          'application/x-yaml'))
        up = self.cli('upload', 'workflows', 'wf_cli', '-V', '2.0', '--file',
                      sh_path, '-p', 'resources/s.sh', '-C',
                      'text/x-shellscript')
        self.assertEqual((up['blob_property'], up['md5'], up['url']),
                         ('resources/s.sh', hashlib.md5(SCRIPT).hexdigest(),
                          '/artifacts/workflows/%s/resources/s.sh'
                          % created['id']))

        active = {r['Field']: r['Value'] for r in
                  self.cli('activate', 'workflows', 'wf_cli', '-V', '2.0')}
        self.assertEqual(active['status'], 'active')

        listed = self.cli('list', 'workflows', '-F', 'name=wf_cli', '-F',
                          'version=gte:1.1')
        self.assertEqual([(r['Name'], r['Version'], r['Status'])
                          for r in listed], [('wf_cli', '2.0.0', 'active')])
        listed = self.cli('list', 'workflows', '-F', 'name=wf_cli')
        self.assertEqual(sorted(r['Version'] for r in listed),
                         ['1.0.0', '2.0.0'])

        shown = {r['Field']: r['Value'] for r in
                 self.cli('show', 'workflows', 'wf_cli', '-V', '2.0')}
        self.assertEqual(shown['id'], created['id'])
        self.assertEqual(shown['status'], 'active')
        resources = shown['resources']
        if isinstance(resources, str):
            self.assertIn("'s.sh'", resources)
        else:
            self.assertEqual(resources['s.sh']['size'], len(SCRIPT))

        # what the server saw: glareclient's "?&" list queries, handled
        log = '\n'.join(srv.log_lines())
        self.assertIn('"GET /artifacts/workflows?&name=wf_cli&version='
                      'gte%3A1.1&limit=20&sort=name:asc HTTP/1.1" 200 -', log)
        self.assertIn('"PUT /artifacts/workflows/%s/resources/s.sh '
                      'HTTP/1.1" 200 -' % created['id'], log)
        # and the data really is there (download is broken in glareclient)
        self.assertEqual(srv.download(created['id'], 'resources/s.sh').body,
                         SCRIPT)

    def test_library(self):
        wf_path = os.path.join(self.srv.tmp, 'wf-lib.yaml')
        with open(wf_path, 'wb') as fobj:
            fobj.write(WF_YAML)
        proc = subprocess.run([PYTHON, '-c', LIBRARY_SCRIPT, self.srv.url,
                               BOB, wf_path], capture_output=True,
                              timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        out = json.loads(proc.stdout.decode().strip().splitlines()[-1])
        self.assertIn('workflows', out['types'])
        self.assertEqual((out['created']['owner'], out['created']['status']),
                         ('projB', 'drafted'))
        self.assertEqual(out['activated']['status'], 'active')
        self.assertEqual(out['activated']['workflow']['sha256'],
                         hashlib.sha256(WF_YAML).hexdigest())
        self.assertEqual(out['activated']['resources']['heal_vm_script.sh']
                         ['md5'], hashlib.md5(SCRIPT).hexdigest())
        # paginated through 'next' with page_size=1
        self.assertEqual(out['listed'], [['wf_lib', '1.0.0'],
                                         ['wf_lib', '1.1.0']])
        self.assertEqual(out['by_name'], out['created']['id'])
        self.assertEqual(out['shown']['tags'], ['lib'])
        self.assertEqual(out['updated'], 'changed')


if __name__ == '__main__':
    unittest.main()
