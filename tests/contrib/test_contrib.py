#!/usr/bin/python3
"""Tests of contrib/: the Glare 'workflows' type and the Mistral plugin.

1. The Glare plugin (contrib/glare/glarex_glare/workflows.py) is imported
   against stand-ins for Glare's modules, because Glare is not packaged in
   Debian. Its declared fields are then compared with what
   tests/glare_server.py serves at GET /schemas/workflows and enforces on
   upload.
2. The Mistral plugin (contrib/mistral/glarex_mistral) runs inside the real
   Mistral (Debian python3-mistral). It is registered through the stevedore
   namespace 'mistral.expression.functions' and calls the libglarex built
   in GLAREX_TEST_BUILD_DIR, which talks to a glare_server.py on 127.0.0.1.

meson runs this file in the 'contrib' suite. To run it by hand:

    GLAREX_TEST_BUILD_DIR=build /usr/bin/python3 tests/contrib/test_contrib.py

Standard library and Debian's packages only. Nothing is ever skipped: a
missing prerequisite is an error.
"""

import base64
import contextlib
import ctypes
import hashlib
import importlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import types
import unittest
import urllib.error
import urllib.parse
import urllib.request
import warnings

# The plugins are imported from the source tree: leave no __pycache__ there.
sys.dont_write_bytecode = True

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get('GLAREX_TEST_SOURCE_DIR') or \
    os.path.dirname(os.path.dirname(HERE))
SERVER = os.environ.get('GLAREX_TEST_SERVER') or \
    os.path.join(SOURCE_DIR, 'tests', 'glare_server.py')
GLARE_PLUGIN_DIR = os.path.join(SOURCE_DIR, 'contrib', 'glare')
MISTRAL_PLUGIN_DIR = os.path.join(SOURCE_DIR, 'contrib', 'mistral')
PYTHON = '/usr/bin/python3'

TOKEN = 'alice:projA:member'
WORKFLOW = (b'version: "2.0"\nheal_vm:\n  tasks:\n    run:\n      action: '
            b'std.echo output=<% glare("my_wf", "1.0", "x.sh") %>\n')
RESOURCES = {
    'x.sh': b'#!/bin/sh\necho healing\n',
    'y.sh': b'#!/bin/sh\necho counted\n',
    'z.sh': b'#!/bin/sh\necho offline\n',
    'w.sh': b'#!/bin/sh\necho never fetched\n',
    'logo.bin': bytes(range(256)),
}
SCRIPT_CT = 'text/x-shellscript'

# Lines of glare_server.py's request log (http.server format).
REQUEST_MARKERS = tuple('"%s ' % m for m in
                        ('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'))

server = None       # the GlareServer of this module
artifact = None     # the my_wf 1.0 artifact JSON


def preload_sanitizer_runtime():
    """An ASan build of libglarex loads into python3 only when the sanitizer
    runtime comes first: restart this script with it preloaded."""
    if 'address' not in os.environ.get('GLAREX_TEST_SANITIZE', '') or \
            os.environ.get('GLAREX_TEST_PRELOADED'):
        return
    cc = os.environ.get('GLAREX_TEST_CC') or 'cc'
    libs = [subprocess.run([cc, '-print-file-name=' + lib], check=True,
                           capture_output=True, text=True).stdout.strip()
            for lib in ('libasan.so', 'libubsan.so')]
    env = dict(os.environ, LD_PRELOAD=' '.join(libs),
               GLAREX_TEST_PRELOADED='1')
    # What python3 still holds at exit is not a leak of libglarex's; the C
    # suites check libglarex for leaks.
    env['ASAN_OPTIONS'] = ':'.join(
        filter(None, [env.get('ASAN_OPTIONS'), 'detect_leaks=0']))
    sys.stdout.flush()
    os.execve(PYTHON, [PYTHON] + sys.argv, env)


def setUpModule():
    global server, artifact
    # libcurl (inside libglarex) and urllib honour proxy variables; every
    # request here must go straight to 127.0.0.1.
    for var in ('http_proxy', 'https_proxy', 'all_proxy', 'HTTP_PROXY',
                'HTTPS_PROXY', 'ALL_PROXY'):
        os.environ.pop(var, None)
    server = GlareServer().start()
    try:
        artifact = server.create_workflow('my_wf', '1.0', RESOURCES)
    except BaseException:
        server.cleanup()
        raise


def tearDownModule():
    server.cleanup()


class GlareServer:
    """tests/glare_server.py on 127.0.0.1, port chosen by the OS, started
    with `args` besides; its calls send `token`."""

    def __init__(self, *args):
        self.args, self.token = list(args), TOKEN
        self.tmp = tempfile.mkdtemp(prefix='glarex-contrib-')
        self.log_path = os.path.join(self.tmp, 'server.log')
        self.proc = self.log = None
        # No proxy handler: urllib would otherwise read proxy variables.
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}))

    def start(self):
        self.log = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(
            [PYTHON, SERVER, '--port', '0',
             '--data', os.path.join(self.tmp, 'data')] + self.args,
            stdout=subprocess.PIPE, stderr=self.log,
            env={k: v for k, v in os.environ.items() if k != 'LD_PRELOAD'})
        line = self.proc.stdout.readline().decode()
        prefix = 'listening on http://127.0.0.1:'
        if not line.startswith(prefix):
            self.cleanup()
            raise RuntimeError('glare_server.py did not start: %r' % line)
        self.url = line.split(' ', 2)[2].strip()
        return self

    def cleanup(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    def requests(self):
        """How many requests the server has logged so far. It logs each
        before answering, so a finished call's requests are all counted."""
        with open(self.log_path, 'rb') as fobj:
            text = fobj.read().decode('utf-8', 'replace')
        return sum(1 for line in text.splitlines()
                   if any(m in line for m in REQUEST_MARKERS))

    def call(self, method, path, body=None, ctype=None):
        req = urllib.request.Request(self.url + path, data=body,
                                     method=method)
        req.add_header('X-Auth-Token', self.token)
        if ctype:
            req.add_header('Content-Type', ctype)
        try:
            with self.opener.open(req, timeout=60) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read()

    def expect(self, status, method, path, body=None, ctype=None):
        got, data = self.call(method, path, body, ctype)
        if got != status:
            raise AssertionError('%s %s: expected %d, got %d: %r'
                                 % (method, path, status, got, data[:300]))
        return json.loads(data) if data else None

    def create_draft(self, name, version):
        body = json.dumps({'name': name, 'version': version}).encode()
        return self.expect(201, 'POST', '/artifacts/workflows', body,
                           'application/json')

    def create_workflow(self, name, version, resources):
        """POST, PUT the workflow and each resource, activate."""
        af = self.create_draft(name, version)
        base = '/artifacts/workflows/%s' % af['id']
        self.expect(200, 'PUT', base + '/workflow', WORKFLOW,
                    'application/x-yaml')
        for key, data in resources.items():
            ctype = SCRIPT_CT if key.endswith('.sh') else \
                'application/octet-stream'
            self.expect(200, 'PUT', base + '/resources/' +
                        urllib.parse.quote(key), data, ctype)
        patch = json.dumps([{'op': 'replace', 'path': '/status',
                             'value': 'active'}]).encode()
        return self.expect(200, 'PATCH', base, patch,
                           'application/json-patch+json')


# ---------------------------------------------------------------------------
# 1. The Glare plugin against the test server's schema
# ---------------------------------------------------------------------------

# Stand-ins for the Glare modules the plugin imports. They keep the
# constructor signatures and defaults of glare/objects/meta/wrappers.py at
# Glare's last code commit, so a misspelt option fails here as it would in
# Glare, and they record what the plugin declares.

DEFAULT_MAX_BLOB_SIZE = 10485760
DEFAULT_MAX_FOLDER_SIZE = 2673868800


class StandinBlobFieldClass:
    """glare.objects.meta.fields.BlobField"""


class StandinBlobFieldType:
    """glare.objects.meta.fields.BlobFieldType (a blob dict's elements)"""


class StandinDictClass:
    """glare.objects.meta.fields.Dict"""


class StandinField:
    def __init__(self, field_class, mutable=False, required_on_activate=True,
                 system=False, validators=None, nullable=True, default=None,
                 sortable=False, filter_ops=None, description=""):
        if filter_ops is None:
            if field_class not in (StandinBlobFieldClass, StandinDictClass):
                # Glare's default depends on the type; only blob kinds,
                # whose default is [], are modelled here.
                raise NotImplementedError('stand-in models blob fields only')
            filter_ops = []
        self.field_class = field_class
        self.mutable, self.required_on_activate = mutable, required_on_activate
        self.system, self.validators = system, validators or []
        self.nullable, self.default = nullable, default
        self.sortable = sortable
        self.filter_ops, self.description = list(filter_ops), description

    @classmethod
    def init(cls, *args, **kwargs):
        # Glare returns an oslo.versionedobjects field; the recorded
        # declaration is all the comparison needs.
        return cls(*args, **kwargs)


class StandinDictField(StandinField):
    def __init__(self, element_type, max_size=255, **kwargs):
        kwargs.setdefault('default', {})
        super().__init__(StandinDictClass, **kwargs)
        self.element_type, self.max_size = element_type, max_size


class StandinBlobField(StandinField):
    def __init__(self, max_blob_size=DEFAULT_MAX_BLOB_SIZE, **kwargs):
        super().__init__(StandinBlobFieldClass, **kwargs)
        self.max_blob_size = int(max_blob_size)


class StandinFolderField(StandinDictField):
    def __init__(self, max_blob_size=DEFAULT_MAX_BLOB_SIZE,
                 max_folder_size=DEFAULT_MAX_FOLDER_SIZE, **kwargs):
        super().__init__(element_type=StandinBlobFieldType, **kwargs)
        self.max_blob_size = int(max_blob_size)
        self.max_folder_size = int(max_folder_size)


class StandinBaseArtifact:
    # The names of BaseArtifact.fields: every type has them besides its own.
    fields = dict.fromkeys([
        'id', 'name', 'owner', 'status', 'created_at', 'updated_at',
        'activated_at', 'description', 'tags', 'metadata', 'visibility',
        'version', 'display_type_name'])

    @classmethod
    def get_type_name(cls):
        raise NotImplementedError()

    @classmethod
    def get_display_type_name(cls):
        return None


GLARE_PLUGIN = 'glarex_glare.workflows'


@contextlib.contextmanager
def glare_standins():
    """Imports the plugin with the stand-ins as glare.*; undoes it all."""
    contents = {
        'glare': {},
        'glare.objects': {},
        'glare.objects.meta': {},
        'glare.objects.base': {'BaseArtifact': StandinBaseArtifact},
        'glare.objects.meta.fields': {
            'BlobField': StandinBlobFieldClass,
            'BlobFieldType': StandinBlobFieldType,
            'Dict': StandinDictClass},
        'glare.objects.meta.wrappers': {
            'DEFAULT_MAX_BLOB_SIZE': DEFAULT_MAX_BLOB_SIZE,
            'Field': StandinField, 'DictField': StandinDictField,
            'BlobField': StandinBlobField, 'FolderField': StandinFolderField,
            'BlobDictAttribute': StandinFolderField}}
    touched = list(contents) + ['glarex_glare', GLARE_PLUGIN]
    saved = {name: sys.modules.pop(name, None) for name in touched}
    modules = {}
    for name, attrs in contents.items():
        mod = modules[name] = types.ModuleType(name)
        mod.__dict__.update(attrs)
        if name in ('glare', 'glare.objects', 'glare.objects.meta'):
            mod.__path__ = []   # a package
        parent, _, child = name.rpartition('.')
        if parent:
            setattr(modules[parent], child, mod)
    sys.modules.update(modules)
    sys.path.insert(0, GLARE_PLUGIN_DIR)
    try:
        yield importlib.import_module(GLARE_PLUGIN)
    finally:
        sys.path.remove(GLARE_PLUGIN_DIR)
        for name in touched:
            sys.modules.pop(name, None)
            if saved[name] is not None:
                sys.modules[name] = saved[name]


def declared_view(field):
    """What the schema should say about a declared field."""
    return {
        'glareType': {StandinBlobField: 'Blob',
                      StandinFolderField: 'BlobDict'}[type(field)],
        'nullable': field.nullable,
        'required_on_activate': field.required_on_activate,
        'mutable': field.mutable,
        'sortable': field.sortable,
        'system': field.system,
        'description': field.description,
        'default': field.default,
        'filter_ops': field.filter_ops,
        'maxProperties': getattr(field, 'max_size', None),
    }


def served_view(prop):
    """The same items read from a served schema property. Glare's
    _schema_field() leaves out options that have their default value."""
    return {
        'glareType': prop.get('glareType'),
        'nullable': isinstance(prop.get('type'), list)
        and 'null' in prop['type'],
        'required_on_activate': prop.get('required_on_activate', True),
        'mutable': prop.get('mutable', False),
        'sortable': prop.get('sortable', False),
        'system': prop.get('readOnly', False),
        'description': prop.get('description', ''),
        'default': prop.get('default'),
        'filter_ops': prop.get('filter_ops'),
        'maxProperties': prop.get('maxProperties'),
    }


class GlarePluginSchemaTest(unittest.TestCase):
    """contrib/glare's declarations == glare_server.py's workflows type."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        with glare_standins() as module:
            # As Glare's registry does: every BaseArtifact subclass in the
            # module is a candidate type.
            cls.types = [obj for obj in vars(module).values()
                         if isinstance(obj, type)
                         and issubclass(obj, StandinBaseArtifact)
                         and obj is not StandinBaseArtifact]
        cls.served = server.expect(200, 'GET', '/schemas/workflows')[
            'schemas']['workflows']

    def plugin_type(self):
        self.assertEqual(len(self.types), 1, self.types)
        return self.types[0]

    def test_type_names(self):
        af_type = self.plugin_type()
        self.assertEqual(af_type.get_type_name(), 'workflows')
        self.assertEqual(af_type.get_type_name(), self.served['name'])
        self.assertEqual(af_type.get_display_type_name(), 'Workflows')
        self.assertEqual(af_type.get_display_type_name(),
                         self.served['display_name'])

    def test_same_fields(self):
        fields = self.plugin_type().fields
        base = set(StandinBaseArtifact.fields)
        self.assertFalse(base & set(fields), 'redefines base fields')
        self.assertLessEqual(base, set(self.served['properties']))
        self.assertEqual(set(fields), set(self.served['properties']) - base)

    def test_same_field_options(self):
        for name, field in self.plugin_type().fields.items():
            with self.subTest(field=name):
                self.assertIn(name, self.served['properties'])
                self.assertEqual(declared_view(field),
                                 served_view(self.served['properties'][name]))

    def test_brief(self):
        """The declarations themselves, as glare-api.md section 20 has them."""
        fields = self.plugin_type().fields
        wf, res = fields['workflow'], fields['resources']
        self.assertIsInstance(wf, StandinBlobField)
        self.assertTrue(wf.required_on_activate)
        self.assertEqual(wf.description, 'Mistral workflow definition (YAML).')
        self.assertIsInstance(res, StandinFolderField)
        self.assertFalse(res.required_on_activate)
        self.assertEqual((res.max_size, res.default), (255, {}))
        self.assertEqual(res.description,
                         'Dict of resources (scripts, images) used by the '
                         'workflow; key is the resource file name.')
        self.assertFalse(wf.mutable or res.mutable)

    def test_same_max_blob_size(self):
        """The schema does not carry max_blob_size: upload one byte more
        than the plugin allows, and the server must refuse with its limit."""
        draft = server.create_draft('size_probe', '1.0')
        base = '/artifacts/workflows/%s/' % draft['id']
        for name, field in self.plugin_type().fields.items():
            path = name + ('/big.bin' if hasattr(field, 'max_size') else '')
            with self.subTest(field=name):
                status, body = server.call(
                    'PUT', base + path, b'\0' * (field.max_blob_size + 1),
                    'application/octet-stream')
                self.assertEqual(status, 413, body[:300])
                self.assertIn('Its max allowed size is %d'
                              % field.max_blob_size,
                              json.loads(body)['error']['message'])


# ---------------------------------------------------------------------------
# 2. The Mistral plugin inside the real Mistral
# ---------------------------------------------------------------------------

def install_mistral_plugin(site):
    """Makes glarex_mistral an installed distribution without pip: the
    package's directory goes on sys.path, and a dist-info directory holding
    the entry points of contrib/mistral/pyproject.toml goes beside it, which
    is what stevedore reads."""
    with open(os.path.join(MISTRAL_PLUGIN_DIR, 'pyproject.toml'), 'rb') as f:
        project = tomllib.load(f)['project']
    entry_points = project['entry-points']['mistral.expression.functions']
    dist = os.path.join(site, 'glarex_mistral-%s.dist-info'
                        % project['version'])
    os.makedirs(dist)
    with open(os.path.join(dist, 'METADATA'), 'w') as f:
        f.write('Metadata-Version: 2.1\nName: %s\nVersion: %s\n'
                % (project['name'], project['version']))
    with open(os.path.join(dist, 'entry_points.txt'), 'w') as f:
        f.write('[mistral.expression.functions]\n')
        f.writelines('%s = %s\n' % item for item in entry_points.items())
    sys.path[:0] = [MISTRAL_PLUGIN_DIR, site]
    return entry_points


class MistralPluginTest(unittest.TestCase):
    """glare(), glare_path(), glare_b64(), glare_info() in Mistral."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        build = os.environ.get('GLAREX_TEST_BUILD_DIR')
        if not build:
            raise RuntimeError('GLAREX_TEST_BUILD_DIR is not set')
        cls.library = os.path.join(build, 'src', 'libglarex.so.0')
        cls.layout_probe = os.path.join(build, 'tests', 'contrib_layout')
        for path in (cls.library, cls.layout_probe):
            if not os.path.exists(path):
                raise RuntimeError('%s is missing: build first' % path)
        cls.tmp = tempfile.mkdtemp(prefix='glarex-mistral-')
        cls.cache_dir = os.path.join(cls.tmp, 'cache')
        os.environ.update({
            'GLARE_URL': server.url,
            'OS_AUTH_TOKEN': TOKEN,
            'GLAREX_CACHE_DIR': cls.cache_dir,
            'GLAREX_LIBRARY': cls.library,
        })
        os.environ.pop('GLAREX_OFFLINE', None)
        cls.entry_points = install_mistral_plugin(os.path.join(cls.tmp,
                                                               'site'))
        # Mistral logs every failed evaluation; the tests look at the
        # exceptions instead.
        logging.getLogger('mistral').setLevel(logging.CRITICAL)
        with warnings.catch_warnings():
            # Deprecation noise from Mistral's dependencies (eventlet, webob).
            warnings.simplefilter('ignore')
            cls.mistral = importlib.import_module('mistral.expressions')
        cls.mistral_exc = importlib.import_module('mistral.exceptions')
        # Authentication off, as these tests configure OS_AUTH_TOKEN: the
        # single-tenant mode (test_plugin_tenancy.py runs the other one).
        importlib.import_module('oslo_config.cfg').CONF.set_override(
            'auth_enable', False, group='pecan')
        cls.plugin = importlib.import_module('glarex_mistral')

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def evaluate(self, expr, context=None):
        return self.mistral.evaluate(expr, context or {})

    def assertEvalError(self, expr, text, context=None):
        """Mistral raises its YAQL or Jinja exception, with `text` in it."""
        exc_class = (self.mistral_exc.JinjaEvaluationException if '{{' in expr
                     else self.mistral_exc.YaqlEvaluationException)
        with self.assertRaises(exc_class) as cm:
            self.evaluate(expr, context)
        self.assertIn(text, str(cm.exception))
        return str(cm.exception)

    def test_registered_through_stevedore(self):
        base = importlib.import_module('mistral.expressions.base')
        functions = base.get_custom_functions()
        self.assertEqual(set(self.entry_points),
                         {'glare', 'glare_path', 'glare_b64', 'glare_info'})
        for name in self.entry_points:
            self.assertIs(functions.get(name),
                          getattr(self.plugin, name + '_'), name)

    def test_yaql_and_jinja_return_the_content(self):
        text = RESOURCES['x.sh'].decode()
        self.assertEqual(self.evaluate("<% glare('my_wf', '1.0', 'x.sh') %>"),
                         text)
        self.assertEqual(self.evaluate("{{ glare('my_wf', '1.0', 'x.sh') }}"),
                         text)
        self.assertEqual(self.evaluate(
            "<% glare(name => 'my_wf', version => '1.0', resource => 'x.sh') "
            "%>"), text)
        self.assertEqual(self.evaluate(
            "{{ glare(name=_.wf, version='1.0', resource='x.sh') }}",
            {'wf': 'my_wf'}), text)
        self.assertEqual(self.evaluate("run: <% glare($.wf, '1.0', 'x.sh') %>",
                                       {'wf': 'my_wf'}), 'run: ' + text)

    def test_uri_form(self):
        text = RESOURCES['x.sh'].decode()
        self.assertEqual(
            self.evaluate("<% glare('glare://my_wf@1.0/x.sh') %>"), text)
        self.assertEqual(self.evaluate(
            "{{ glare('glare://{my_wf, 1.0}/x.sh') }}"), text)
        self.assertEqual(self.evaluate("<% glare('glare://my_wf/x.sh') %>"),
                         text)
        self.assertEqual(self.evaluate(
            "<% glare('glare://my_wf@1.0?field=workflow') %>"),
            WORKFLOW.decode())

    def test_glare_info(self):
        data = RESOURCES['x.sh']
        expected = {'id': artifact['id'], 'name': 'my_wf',
                    'version': '1.0.0', 'key': 'x.sh',
                    'sha256': hashlib.sha256(data).hexdigest(),
                    'size': len(data), 'content_type': SCRIPT_CT}
        self.assertEqual(self.evaluate(
            "<% glare_info('my_wf', '1.0', 'x.sh') %>"), expected)
        self.assertEqual(self.evaluate(
            "{{ glare_info('my_wf', '1.0', 'x.sh') }}"), expected)
        self.assertEqual(self.evaluate(
            "<% glare_info('my_wf', '1.0', 'x.sh').sha256 %>"),
            expected['sha256'])

    def test_glare_b64(self):
        data = RESOURCES['logo.bin']
        expected = base64.b64encode(data).decode()
        self.assertEqual(self.evaluate(
            "<% glare_b64('my_wf', '1.0', 'logo.bin') %>"), expected)
        self.assertEqual(self.evaluate(
            "{{ glare_b64('glare://my_wf@1.0/logo.bin') }}"), expected)

    def test_glare_path(self):
        for expr in ("<% glare_path('my_wf', '1.0', 'logo.bin') %>",
                     "{{ glare_path('my_wf', '1.0', 'x.sh') }}"):
            with self.subTest(expr=expr):
                path = self.evaluate(expr)
                key = expr.split("'")[-2]
                self.assertTrue(os.path.realpath(path).startswith(
                    os.path.realpath(self.cache_dir) + os.sep), path)
                with open(path, 'rb') as fobj:
                    self.assertEqual(fobj.read(), RESOURCES[key])

    def test_second_evaluation_makes_no_request(self):
        expr = "<% glare('my_wf', '1.0', 'y.sh') %>"
        text = RESOURCES['y.sh'].decode()
        before = server.requests()
        self.assertEqual(self.evaluate(expr), text)
        after_first = server.requests()
        self.assertGreater(after_first, before,
                           'the first evaluation made no request at all')
        self.assertEqual(self.evaluate(expr), text)
        self.assertEqual(self.evaluate("{{ glare('my_wf', '1.0', 'y.sh') }}"),
                         text)
        self.assertEqual(self.evaluate(
            "<% glare_b64('my_wf', '1.0', 'y.sh') %>"),
            base64.b64encode(RESOURCES['y.sh']).decode())
        self.assertEqual(server.requests(), after_first,
                         'evaluating a cached reference sent requests')

    def test_missing_key(self):
        for expr in ("<% glare('my_wf', '1.0', 'nope.sh') %>",
                     "{{ glare_info('my_wf', '1.0', 'nope.sh') }}"):
            with self.subTest(expr=expr):
                self.assertEvalError(expr, 'nope.sh')
        with self.assertRaises(self.plugin.GlarexError) as cm:
            self.plugin.glare_(None, 'my_wf', '1.0', 'nope.sh')
        self.assertEqual(cm.exception.code, -2)  # GLAREX_ENOTFOUND
        # Mistral's message carries libglarex's message unchanged.
        self.assertEvalError("<% glare('my_wf', '1.0', 'nope.sh') %>",
                             'error=%s,' % cm.exception)

    def test_missing_artifact_and_bad_reference(self):
        self.assertEvalError("<% glare('no_such_wf', '1.0', 'x.sh') %>",
                             'no_such_wf')
        self.assertEvalError("<% glare('glare://my_wf@1.x/x.sh') %>",
                             "version '1.x' is not semver")

    def test_non_string_arguments(self):
        self.assertEvalError(
            "<% glare('my_wf', 1.0, 'x.sh') %>",
            "glare() argument 'version' must be a string, got float")
        self.assertEvalError(
            "{{ glare('my_wf', 1, 'x.sh') }}",
            "glare() argument 'version' must be a string, got int")
        self.assertEvalError(
            "<% glare(null, '1.0', 'x.sh') %>",
            "glare() argument 'name' must be a string, got NoneType")
        self.assertEvalError(
            "{{ glare_path(_.missing, '1.0', 'x.sh') }}",
            "glare_path() argument 'name' must be a string, got "
            "StrictUndefined")
        self.assertEvalError(
            "<% glare_info('my_wf', '1.0', [1]) %>",
            "glare_info() argument 'resource' must be a string")
        self.assertEvalError("<% glare(42) %>",
                             "glare() argument 'name' must be a string, "
                             "got int")
        with self.assertRaises(TypeError):
            self.plugin.glare_b64_(None, 'my_wf', '1.0', None)

    def test_binary_content_is_not_text(self):
        self.assertEvalError("<% glare('my_wf', '1.0', 'logo.bin') %>",
                             "is not UTF-8 text; use glare_path() or "
                             "glare_b64()")

    def test_offline_from_the_environment(self):
        """GLAREX_OFFLINE in a new process sharing the cache: what was
        fetched is served without a request, the rest is an error."""
        self.assertEqual(self.plugin.glare_(None, 'my_wf', '1.0', 'z.sh'),
                         RESOURCES['z.sh'].decode())
        code = ("import glarex_mistral as g\n"
                "print(g.glare_(None, 'my_wf', '1.0', 'z.sh'), end='')\n"
                "try:\n"
                "    g.glare_(None, 'my_wf', '1.0', 'w.sh')\n"
                "except g.GlarexError as e:\n"
                "    print('|%d' % e.code, end='')\n")
        env = dict(os.environ, GLAREX_OFFLINE='yes',
                   PYTHONPATH=MISTRAL_PLUGIN_DIR, PYTHONDONTWRITEBYTECODE='1')
        before = server.requests()
        out = subprocess.run([PYTHON, '-c', code], env=env, check=True,
                             capture_output=True, text=True).stdout
        self.assertEqual(out, RESOURCES['z.sh'].decode() + '|-15')
        self.assertEqual(server.requests(), before)
        env['GLAREX_OFFLINE'] = 'maybe'
        proc = subprocess.run([PYTHON, '-c', code], env=env,
                              capture_output=True, text=True)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("GLAREX_OFFLINE: 'maybe' is not a boolean", proc.stderr)

    def test_ctypes_layout_matches_header(self):
        """Every mirrored struct: size, member order, offsets and sizes."""
        capi = importlib.import_module('glarex_mistral._libglarex')
        probe = json.loads(subprocess.run(
            [self.layout_probe], check=True, capture_output=True,
            text=True).stdout)
        mirrors = {'glarex_error': capi.Error,
                   'glarex_client_options': capi.ClientOptions,
                   'glarex_store_options': capi.StoreOptions,
                   'glarex_ctx_options': capi.CtxOptions,
                   'glarex_request_options': capi.RequestOptions}
        for cname, struct in mirrors.items():
            with self.subTest(struct=cname):
                mine = {'size': ctypes.sizeof(struct),
                        'fields': [[name, getattr(struct, name).offset,
                                    getattr(struct, name).size]
                                   for name, _ in struct._fields_]}
                self.assertEqual(mine, probe[cname])
        self.assertEqual(probe['versions'], {
            'glarex_client_options': capi.CLIENT_OPTIONS_VERSION,
            'glarex_store_options': capi.STORE_OPTIONS_VERSION,
            'glarex_ctx_options': capi.CTX_OPTIONS_VERSION,
            'glarex_request_options': capi.REQUEST_OPTIONS_VERSION})


if __name__ == '__main__':
    preload_sanitizer_runtime()
    unittest.main()
