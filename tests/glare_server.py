#!/usr/bin/python3
"""Glare v1 compatible test server (Python 3 standard library only).

Implements the contract of ``glare-api.md`` (OpenStack Glare v1 REST API as
the real server behaves): routes, status codes, headers, Glare JSON error
bodies and webob HTML/JSON/plain error bodies, semver handling, filters,
paging, uniqueness, status/visibility rules, blobs and blob dictionaries,
external locations, trusted-auth and noauth contexts.  On top of that it can
inject faults (errors, resets, truncation, bad checksums, slowness) so that
clients can be tested against a misbehaving server.

Usage
-----
    /usr/bin/python3 tests/glare_server.py --port 0 --data DIR [options]

    --port N               TCP port on 127.0.0.1 (0 picks a free one)
    --data DIR             state directory, created if missing (see Layout)
    --type NAME=SPEC       declare an artifact type (repeatable, see Types)
    --max-blob-size N      max_blob_size of every blob field (default 10485760)
    --auth trusted|noauth  auth pipeline (default: trusted)
    --allow-anonymous      Glare's allow_anonymous_access=True
    --public-download      anyone who can see an artifact may download it
                           (the default policy is owner or admin only)
    --control              enable /__control/* and /__static/*
    --fault SPEC           fault rule armed at start-up (repeatable)
    --aborted-upload-hold S  seconds an upload the client broke off stays
                           'saving' (default 1.0, as observed)

The first line on stdout is exactly ``listening on http://127.0.0.1:PORT``.
Every request is logged on stderr the way http.server does it
(``... "GET /path HTTP/1.1" 200 -``).  SIGTERM and SIGINT stop the server.

Quirks of the real server (glare-api.md section 15)
---------------------------------------------------
* The request path is decoded as latin-1: a blob-dict key sent as UTF-8
  (``r%C3%A9sum%C3%A9.txt``) is stored and listed as ``rÃ©sumÃ©.txt``.
* Uploads to one artifact are serialised: a PUT while another blob of the
  artifact is 'saving' answers 409 at once.
* An upload the client breaks off ends in a 500, and its blob stays 'saving'
  for --aborted-upload-hold seconds: a DELETE of the artifact meanwhile
  answers 409 "You cannot change artifact status if it has uploading blobs".
* ``activated_at`` is kept at the second, as printed; it filters with lt/gt.

Auth
----
trusted (default): ``X-Auth-Token: user:project:role1,role2`` (exactly three
parts).  Role ``admin`` makes an admin.  Project ``none`` is an anonymous,
read-only caller, allowed only with --allow-anonymous.
noauth: ``X-Identity-Status: Confirmed`` plus ``X-Project-Id`` (or
``X-Tenant-Id``), ``X-User-Id``, ``X-Roles``; anything else is anonymous
(with --allow-anonymous) or 401.

Types
-----
The built-in ``workflows`` type has ``workflow`` (Blob, required on
activation) and ``resources`` (blob dictionary, max 255 keys).  Extra types:

    --type NAME=ITEM[,ITEM...]
      blob:FIELD     Blob, required on activation
      blob?:FIELD    Blob, optional
      dict:FIELD     blob dictionary ("Folder"), optional
      string:FIELD   plain string field (filters eq/neq/in), optional
      display:TEXT   display type name (default: NAME title-cased)

e.g. ``--type 'heat_templates=blob:template,dict:nested_templates'``.
Declaring ``workflows`` replaces the built-in.  The read-only meta-type
``all`` always exists.

Layout of --data DIR
--------------------
    artifacts/<id>.json   one artifact (metadata), written atomically
    blobs/<blob-id>       uploaded blob data, written atomically
    static/<name>         files served by GET /__static/<name> (--control)

Faults
------
A rule is ``KIND[,key=value...]`` on the command line, or a JSON object
``{"kind": KIND, key: value, ...}`` through the control API.  Common keys:

    method=GET|PUT|...|*   request method to match (default *)
    path=GLOB              fnmatch pattern on the decoded request path,
                           without the query (default *; '*' crosses '/')
    count=N                apply to the next N matching requests (default 1,
                           -1 = unlimited); the rule is gone afterwards

Kinds:

    500 | 503 | 429 | any 4xx/5xx   answer with that status instead of
          handling the request.  retry_after=S adds ``Retry-After: S``
          (default 1 for 429 and 503, none otherwise).  when=after handles
          the request first (its effects stay) and then sends the error.
          format=glare|html|empty picks the body (default glare JSON).
    reset     send the headers and ``after`` bytes of the body (default:
              half of it), then reset the connection (RST)
    truncate  promise the full Content-Length, send ``after`` bytes
              (default: half), then close the connection
    badsum    checksum headers that do not match the data:
              which=sha256|md5|sha1|all (default sha256)
    corrupt   flip one byte in the middle of the body, headers unchanged
    delay     wait seconds=S (default 1) before handling the request
    drip      send the body chunk=N bytes (default 1) every interval=S
              seconds (default 0.2), headers first
    slowread  read an uploaded blob chunk=N bytes (default 65536) every
              interval=S seconds (default 0.2): the upload stays 'saving'

e.g. ``--fault 503,method=GET,path=/artifacts/*,count=2,retry_after=3``
(values cannot contain ',').  Several rules can match one request; each one
that matches is consumed and applied.

Control API (only with --control; no auth, never counted, never faulted)
-------------------------------------------------------------------------
    GET    /__control/faults   200 {"faults": [rule, ...]} (remaining rules)
    POST   /__control/faults   body: a rule object or a list of them;
                               201 {"faults": [...]}; 400 on a bad rule
    DELETE /__control/faults   clear all rules; 200 {"faults": []}
    GET    /__control/stats    200 {"total": N, "requests": {"GET artifacts":
                               3, ...}, "faults_applied": {"503": 1, ...}}
    DELETE /__control/stats    reset the counters
    GET    /__static/<name>    serve DIR/static/<name> (no auth, faultable)
    PUT    /__static/<name>    store the request body as DIR/static/<name>

Path kinds in stats: versions, healthcheck, schemas, schema, artifacts
(collection), artifact (one), blob, static, other.
"""

import argparse
import copy
import datetime
import fnmatch
import functools
import hashlib
import html
import http.server
import json
import os
import re
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import uuid


API_MIN, API_MAX = (1, 0), (1, 1)
DEFAULT_MAX_BLOB_SIZE = 10485760
DEFAULT_MAX_FOLDER_SIZE = 2673868800
MAX_FOLDER_KEYS = 255
DEFAULT_LIMIT, MAX_LIMIT = 25, 1000
CUSTOM_LOCATION_CT = 'application/vnd+openstack.glare-custom-location+json'
JSON_CT = 'application/json; charset=UTF-8'
VERSION_HEADER = 'Openstack-Api-Version'

VERSIONS_BODY = {"versions": [
    {"version": "1.0", "status": "STABLE",
     "links": [{"rel": "describedby", "type": "text/html",
                "href": "http://docs.openstack.org/"}],
     "media-type": "application/vnd.openstack.artifacts-1.0"},
    {"version": "1.1", "status": "EXPERIMENTAL",
     "links": [{"rel": "describedby", "type": "text/html",
                "href": "http://docs.openstack.org/"}],
     "media-type": "application/vnd.openstack.artifacts-1.1"}]}

# Status line titles and explanations as webob.exc defines them.
HTTP_TEXT = {
    400: ('Bad Request', 'The server could not comply with the request since '
          'it is either malformed or otherwise incorrect.'),
    401: ('Unauthorized', 'This server could not verify that you are '
          'authorized to access the document you requested. Either you '
          'supplied the wrong credentials (e.g., bad password), or your '
          'browser does not understand how to supply the credentials '
          'required.'),
    403: ('Forbidden', 'Access was denied to this resource.'),
    404: ('Not Found', 'The resource could not be found.'),
    405: ('Method Not Allowed', 'The server could not comply with the request '
          'since it is either malformed or otherwise incorrect.'),
    406: ('Not Acceptable', 'The server could not comply with the request '
          'since it is either malformed or otherwise incorrect.'),
    409: ('Conflict',
          'There was a conflict when trying to complete your request.'),
    413: ('Request Entity Too Large',
          'The body of your request was too large for this server.'),
    415: ('Unsupported Media Type', 'The server could not comply with the '
          'request since it is either malformed or otherwise incorrect.'),
    429: ('Too Many Requests',
          'The client has sent too many requests in a given amount of time.'),
    500: ('Internal Server Error', 'The server has either erred or is '
          'incapable of performing the requested operation.'),
    501: ('Not Implemented', 'The server has not been programmed (yet) with '
          'the ability to fulfill the request.'),
    503: ('Service Unavailable', 'The server is currently unavailable. '
          'Please try again at a later time.'),
}


def http_text(code):
    if code in HTTP_TEXT:
        return HTTP_TEXT[code]
    try:
        phrase = http.HTTPStatus(code).phrase
    except ValueError:
        phrase = 'Error'
    return phrase, phrase + '.'


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

class GlareError(Exception):
    """An error raised by Glare itself: JSON body, no version headers."""

    def __init__(self, code, message, type_name, extra=None):
        super().__init__(message)
        self.code, self.message, self.type_name = code, message, type_name
        self.extra = extra or {}


def bad_request(msg, type_name='BadRequest'):
    return GlareError(400, msg, type_name)


def forbidden(msg="You are not authorized to complete this action."):
    return GlareError(403, msg, 'Forbidden')


def policy_error(name):
    return GlareError(403, "Policy check for %s failed with user "
                      "credentials." % name, 'PolicyException')


def not_found(msg, type_name='NotFound'):
    return GlareError(404, msg, type_name)


def conflict(msg):
    return GlareError(409, msg, 'Conflict')


def field_error(type_name, field, exc_text):
    # Glare wraps every field coercion/validation error like this.
    return bad_request("Type: %s. Field: %s. Exception: %s"
                       % (type_name, field, exc_text))


class WebobError(Exception):
    """An error produced by webob (routing, body checks): HTML/JSON/plain."""

    def __init__(self, code, explanation=None, headers=None):
        super().__init__(explanation)
        self.code, self.explanation = code, explanation
        self.headers = headers or []


def glare_error_body(err):
    title, explanation = http_text(err.code)
    body = {"code": err.code, "title": title, "explanation": explanation,
            "error": {"message": err.message, "type": err.type_name}}
    body.update(err.extra)
    return body


def _accept_match(accept, offers):
    """Best offer for an Accept header, like webob's acceptable_offers()."""
    if not accept:
        return None
    ranges = []
    for item in accept.split(','):
        parts = [p.strip() for p in item.split(';')]
        if not parts[0]:
            continue
        q = 1.0
        for p in parts[1:]:
            if p.startswith('q='):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        ranges.append((parts[0].lower(), q))
    scored = []
    for idx, offer in enumerate(offers):
        otype, osub = offer.split('/')
        best = None
        for rng, q in ranges:
            rtype, _, rsub = rng.partition('/')
            if rng == offer:
                spec = 2
            elif rtype == otype and rsub == '*':
                spec = 1
            elif rng == '*/*':
                spec = 0
            else:
                continue
            if best is None or spec > best[0]:
                best = (spec, q)
        if best and best[1] > 0:
            scored.append((-best[1], idx, offer))
    scored.sort()
    return scored[0][2] if scored else None


def webob_error_reply(err, method, accept):
    """Render a webob HTTP exception exactly as webob 1.8 does."""
    code = err.code
    title, explanation = http_text(code)
    status = '%d %s' % (code, title)
    if code == 405:
        template = ('The method %s is not allowed for this resource. '
                    '<br /><br />\n' % html.escape(method))
    elif code == 501:
        template = ('\nThe request method %s is not implemented for this '
                    'server. <br /><br />\n' % html.escape(method))
    else:
        template = '%s<br /><br />\n\n\n' % (err.explanation or explanation)
    headers = list(err.headers)
    match = _accept_match(accept, ['text/html', 'application/json'])
    if method == 'HEAD':
        ctype, body = 'text/html; charset=UTF-8', b''
    elif match == 'text/html':
        ctype = 'text/html; charset=UTF-8'
        body = ('<html>\n <head>\n  <title>%s</title>\n </head>\n <body>\n'
                '  <h1>%s</h1>\n  %s\n </body>\n</html>'
                % (status, status, template)).encode()
    elif match == 'application/json':
        ctype = 'application/json'
        body = json.dumps({"message": template, "code": status,
                           "title": title}).encode()
    else:
        ctype = 'text/plain; charset=UTF-8'
        text = template.replace('\n', ' ').replace('\r', '')
        text = re.sub(r'<br.*?>', '\n', text, flags=re.I | re.S)
        text = re.sub(r'<.*?>', '', text, flags=re.S)
        body = ('%s\n\n%s' % (status, text)).encode()
    headers += [('Content-Length', str(len(body))), ('Content-Type', ctype)]
    return Reply(code, headers, body)


# ---------------------------------------------------------------------------
# Semantic versions (semantic_version.Version.coerce + glare semver_db)
# ---------------------------------------------------------------------------

_SEMVER_BASE = re.compile(r'^\d+(?:\.\d+(?:\.\d+)?)?')
_SEMVER_STRICT = re.compile(
    r'^(\d+)\.(\d+)\.(\d+)(?:-([0-9a-zA-Z.-]+))?(?:\+([0-9a-zA-Z.-]+))?$')
MAX_COMPONENT = 65535


def _check_identifiers(idents, allow_leading_zeroes):
    for item in idents:
        if not item:
            raise ValueError("Invalid empty identifier %r in %r"
                             % (item, '.'.join(idents)))
        if (item[0] == '0' and item.isdigit() and item != '0'
                and not allow_leading_zeroes):
            raise ValueError("Invalid leading zero in identifier %r" % item)


def coerce_version(value):
    """Normalise like semantic_version.Version.coerce(str(value)).

    Returns the canonical string; raises ValueError with the library's
    message ("Version string lacks a numerical component: 'abc'").
    """
    text = str(value)
    match = _SEMVER_BASE.match(text)
    if not match:
        raise ValueError("Version string lacks a numerical component: %r"
                         % text)
    version = text[:match.end()]
    while version.count('.') < 2:
        version += '.0'
    version = '.'.join(p.lstrip('0') or '0' for p in version.split('.'))
    if match.end() < len(text):
        rest = re.sub(r'[^a-zA-Z0-9+.-]', '-', text[match.end():])
        if rest[0] in '+.':
            prerelease, build = '', rest[1:]
        else:
            if rest[0] == '-':
                rest = rest[1:]
            prerelease, _, build = rest.partition('+')
        build = build.replace('+', '.')
        if prerelease:
            version += '-' + prerelease
        if build:
            version += '+' + build
    parsed = _SEMVER_STRICT.match(version)
    if not parsed:
        raise ValueError('Invalid version string: %r' % version)
    if parsed.group(4):
        _check_identifiers(parsed.group(4).split('.'), False)
    if parsed.group(5):
        _check_identifiers(parsed.group(5).split('.'), True)
    return version


def version_key(version):
    """(prefix, suffix, meta) as Glare stores a version in its database.

    prefix packs major/minor/patch and a "no prerelease" flag, suffix is the
    prerelease label with numeric parts zero-padded to 6, meta the build.
    Tuple comparison then gives semver order (2.0.0-beta < 2.0.0).
    """
    m = _SEMVER_STRICT.match(version)
    nums = [int(m.group(i)) for i in (1, 2, 3)]
    if any(n > MAX_COMPONENT for n in nums):
        raise GlareError(500, "Version component is too large (%d max)"
                         % MAX_COMPONENT, 'InvalidVersion')
    pre = m.group(4) or ''
    parts = []
    for comp in pre.split('.') if pre else []:
        if comp.isdigit():
            if len(comp) > 6:
                raise GlareError(500, "Prerelease numeric component is too "
                                 "large (6 characters max)", 'InvalidVersion')
            comp = comp.rjust(6, '0')
        parts.append(comp)
    flag = 0 if pre else 2
    prefix = (nums[0] << 48) | (nums[1] << 32) | (nums[2] << 16) | (flag << 14)
    return prefix, '.'.join(parts), m.group(5) or ''


# ---------------------------------------------------------------------------
# Artifact types, fields and schemas
# ---------------------------------------------------------------------------

UUID_PATTERN = ('^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}'
                '-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$')
VERSION_PATTERN = ('/^([0-9]+)\\.([0-9]+)\\.([0-9]+)(?:-([0-9A-Za-z-]+'
                   '(?:\\.[0-9A-Za-z-]+)*))?(?:\\+[0-9A-Za-z-]+)?$/')
STATUSES = ('drafted', 'active', 'deactivated', 'deleted')
STRING_OPS = ['eq', 'neq', 'in']
LIKE_OPS = ('like', 'eq', 'neq', 'in')
NUMERIC_OPS = ('eq', 'neq', 'in', 'gt', 'gte', 'lt', 'lte')
DATETIME_OPS = ['lt', 'gt']

BLOB_OUT_SCHEMA = {
    "type": ["object", "null"],
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
    "additionalProperties": False}


class Field:
    """One artifact field, with the attributes Glare's schema exposes."""

    GLARE_TYPES = {'string': 'String', 'version': 'String',
                   'datetime': 'DateTime', 'tags': 'StringList',
                   'dict': 'StringDict', 'blob': 'Blob', 'folder': 'BlobDict'}
    JSON_TYPES = {'tags': 'array', 'dict': 'object', 'blob': 'object',
                  'folder': 'object'}

    def __init__(self, name, kind, system=False, mutable=False,
                 sortable=False, nullable=True, required_on_activate=True,
                 filter_ops=None, default=None, description='',
                 validators=None, max_len=255, min_len=0, allowed=None):
        self.name, self.kind = name, kind
        self.system, self.mutable, self.sortable = system, mutable, sortable
        self.nullable = nullable
        self.required_on_activate = required_on_activate
        self.filter_ops = filter_ops if filter_ops is not None else []
        self.default, self.description = default, description
        self.validators = validators or {}   # schema keys from validators
        self.max_len, self.min_len, self.allowed = max_len, min_len, allowed
        self.max_blob_size = DEFAULT_MAX_BLOB_SIZE

    def schema(self):
        """JSON schema as BaseArtifact._schema_field() builds it."""
        schema = dict(self.validators)
        jtype = self.JSON_TYPES.get(self.kind, 'string')
        schema['type'] = [jtype, 'null'] if self.nullable else jtype
        schema['glareType'] = self.GLARE_TYPES[self.kind]
        if self.system:
            schema['readOnly'] = True
        if self.kind == 'folder':
            schema['additionalProperties'] = copy.deepcopy(BLOB_OUT_SCHEMA)
        elif self.kind == 'dict':
            schema['additionalProperties'] = {
                'type': 'string', 'maxLength': 255, 'minLength': 1}
        elif self.kind == 'tags':
            schema['items'] = {'type': 'string', 'maxLength': 255,
                               'pattern': '^[^,/]+$', 'minLength': 1}
        elif self.kind == 'blob':
            for key, val in BLOB_OUT_SCHEMA.items():
                if key != 'type':
                    schema[key] = copy.deepcopy(val)
        elif self.kind == 'datetime':
            schema['format'] = 'date-time'
        if self.description:
            schema['description'] = self.description
        if self.mutable:
            schema['mutable'] = True
        if self.sortable:
            schema['sortable'] = True
        if not self.required_on_activate:
            schema['required_on_activate'] = False
        if self.default is not None:
            schema['default'] = copy.deepcopy(self.default)
        schema['filter_ops'] = list(self.filter_ops)
        return schema


def base_fields():
    """BaseArtifact.fields of the last Glare release, in declaration order."""
    return [
        Field('id', 'string', system=True, sortable=True, nullable=False,
              filter_ops=list(STRING_OPS), description="Artifact UUID.",
              validators={'pattern': UUID_PATTERN, 'maxLength': 255}),
        Field('name', 'string', sortable=True, nullable=False,
              required_on_activate=False, filter_ops=LIKE_OPS,
              description="Artifact Name.", min_len=1,
              validators={'minLength': 1, 'maxLength': 255}),
        Field('owner', 'string', system=True, sortable=True, nullable=False,
              required_on_activate=False, filter_ops=list(STRING_OPS),
              description="ID of user/tenant who uploaded artifact.",
              validators={'maxLength': 255}),
        Field('status', 'string', sortable=True, nullable=False,
              mutable=True, default='drafted', filter_ops=list(STRING_OPS),
              description="Artifact status.", allowed=STATUSES,
              validators={'enum': list(STATUSES), 'maxLength': 255}),
        Field('created_at', 'datetime', system=True, sortable=True,
              nullable=False, filter_ops=list(DATETIME_OPS),
              description="Datetime when artifact has been created."),
        Field('updated_at', 'datetime', system=True, sortable=True,
              nullable=False, mutable=True, filter_ops=list(DATETIME_OPS),
              description="Datetime when artifact has been updated last "
                          "time."),
        Field('activated_at', 'datetime', system=True, sortable=True,
              required_on_activate=False, filter_ops=list(DATETIME_OPS),
              description="Datetime when artifact has became active."),
        Field('description', 'string', mutable=True,
              required_on_activate=False, default='', filter_ops=[],
              description="Artifact description.", max_len=4096,
              validators={'maxLength': 4096}),
        Field('tags', 'tags', mutable=True, required_on_activate=False,
              default=[], filter_ops=[],
              description="List of tags added to Artifact.",
              validators={'uniqueItems': True, 'maxItems': 255}),
        Field('metadata', 'dict', required_on_activate=False, default={},
              filter_ops=list(STRING_OPS),
              description="Key-value dict with useful information about an "
                          "artifact.",
              validators={'maxProperties': 255}),
        Field('visibility', 'string', sortable=True, nullable=False,
              mutable=True, default='private', filter_ops=list(STRING_OPS),
              description="Artifact visibility that defines if artifact can "
                          "be available to other users.",
              allowed=('private', 'public'),
              validators={'enum': ['private', 'public'], 'maxLength': 255}),
        Field('version', 'version', sortable=True, nullable=False,
              required_on_activate=False, default='0.0.0',
              filter_ops=NUMERIC_OPS, description="Artifact version(semver).",
              validators={'pattern': VERSION_PATTERN}),
        Field('display_type_name', 'string', system=True, sortable=True,
              filter_ops=LIKE_OPS, description="Display name of artifact "
                                               "type.",
              validators={'maxLength': 255}),
    ]


BASE_NAMES = [f.name for f in base_fields()]


class ArtifactType:
    """A type: its own fields first, then the base fields (oslo.vo order)."""

    VERSION = '1.0'

    def __init__(self, name, display_name, custom_fields, read_only=False):
        self.name, self.display_name = name, display_name
        self.read_only = read_only
        self.fields = {}
        for fld in custom_fields + base_fields():
            self.fields.setdefault(fld.name, fld)
        self.custom = [f.name for f in custom_fields
                       if f.name not in BASE_NAMES]

    def is_blob(self, name):
        fld = self.fields.get(name)
        return fld is not None and fld.kind == 'blob'

    def is_folder(self, name):
        fld = self.fields.get(name)
        return fld is not None and fld.kind == 'folder'

    def schema(self):
        return {'properties': {n: f.schema() for n, f in self.fields.items()},
                'name': self.name, 'version': self.VERSION,
                'title': 'Artifact type %s of version %s'
                         % (self.name, self.VERSION),
                'type': 'object', 'display_name': self.display_name,
                'required': ['name']}


def workflows_type(max_blob_size):
    wf = Field('workflow', 'blob', filter_ops=[],
               description="Mistral workflow definition (YAML).")
    res = Field('resources', 'folder', required_on_activate=False,
                default={}, filter_ops=[],
                validators={'maxProperties': MAX_FOLDER_KEYS},
                description="Dict of resources (scripts, images) used by the "
                            "workflow; key is the resource file name.")
    for fld in (wf, res):
        fld.max_blob_size = max_blob_size
    return ArtifactType('workflows', 'Workflows', [wf, res])


def all_type():
    fields = [
        Field('type_name', 'string', sortable=True,
              filter_ops=list(STRING_OPS),
              description="Name of artifact type.",
              validators={'maxLength': 255}),
        Field('display_type_name', 'string', sortable=True,
              filter_ops=list(STRING_OPS),
              description="General usage name of artifact type.",
              validators={'maxLength': 255}),
    ]
    return ArtifactType('all', None, fields, read_only=True)


def parse_type_spec(spec, max_blob_size):
    """Parse ``NAME=blob:f,blob?:f,dict:f,string:f,display:Text``."""
    name, sep, items = spec.partition('=')
    name = name.strip()
    if not sep or not re.match(r'^[A-Za-z0-9_.-]+$', name) or name == 'all':
        raise ValueError('bad --type %r: expected NAME=ITEM[,ITEM...]' % spec)
    display = name.replace('_', ' ').title()
    fields = []
    for item in filter(None, (i.strip() for i in items.split(','))):
        kind, _, fname = item.partition(':')
        if kind == 'display':
            display = fname
            continue
        if not fname or fname in BASE_NAMES:
            raise ValueError('bad field %r in --type %r' % (item, spec))
        if kind in ('blob', 'blob?'):
            fld = Field(fname, 'blob', required_on_activate=(kind == 'blob'))
        elif kind == 'dict':
            fld = Field(fname, 'folder', required_on_activate=False,
                        default={},
                        validators={'maxProperties': MAX_FOLDER_KEYS})
        elif kind == 'string':
            fld = Field(fname, 'string', required_on_activate=False,
                        filter_ops=list(STRING_OPS),
                        validators={'maxLength': 255})
        else:
            raise ValueError('bad field kind %r in --type %r' % (kind, spec))
        fld.max_blob_size = max_blob_size
        fields.append(fld)
    return ArtifactType(name, display, fields)


# ---------------------------------------------------------------------------
# Field value coercion (oslo.versionedobjects + Glare validators)
# ---------------------------------------------------------------------------

def _coerce_string(attr, value):
    if isinstance(value, (str, int, float)):     # bool is an int too
        return str(value)
    raise ValueError('A string is required in field %s, not a %s'
                     % (attr, type(value).__name__))


def _check_len(value, fld):
    if len(value) > fld.max_len:
        raise ValueError("String length must be less than  %s. Current size:"
                         " %s" % (fld.max_len, len(value)))
    if len(value) < fld.min_len:
        raise ValueError("String length must be more than  %s. Current size:"
                         " %s" % (fld.min_len, len(value)))


def coerce_field(atype, fld, value):
    """Return the stored form of ``value`` for a non-blob field.

    Raises GlareError 400 "Type: T. Field: F. Exception: ..." like Glare.
    """
    try:
        if value is None:
            if fld.kind == 'version':
                return '0.0.0'
            if fld.kind == 'tags':
                return []
            if fld.kind == 'dict':
                return {}
            if not fld.nullable:
                raise ValueError("Field `%s' cannot be None" % fld.name)
            return None
        if fld.kind == 'version':
            return coerce_version(value)
        if fld.kind == 'datetime':
            return parse_datetime(value)
        if fld.kind == 'string':
            value = _coerce_string(fld.name, value)
            if fld.allowed and value not in fld.allowed:
                raise ValueError("Value must be one of the following: %s"
                                 % ', '.join(fld.allowed))
            _check_len(value, fld)
            return value
        if fld.kind == 'tags':
            if not isinstance(value, list):
                raise ValueError('A list is required in field %s, not a %s'
                                 % (fld.name, type(value).__name__))
            tags = []
            for i, item in enumerate(value):
                item = _coerce_string('%s[%s]' % (fld.name, i), item)
                if item not in tags:
                    tags.append(item)
            if len(tags) > 255:
                raise ValueError("Number of items must be less than  255. "
                                 "Current size: %s" % len(tags))
            for tag in tags:
                if len(tag) > 255:
                    raise ValueError("String length must be less than  255. "
                                     "Current size: %s" % len(tag))
                if ',' in tag or '/' in tag:
                    # Glare's ForbiddenChars message has a format bug
                    # ("%(char) f"), so this is what the server really says.
                    raise ValueError("must be real number, not str")
                if not tag:
                    raise ValueError("String length must be more than  1. "
                                     "Current size: 0")
            return sorted(tags)             # a set: order is not kept
        if fld.kind == 'dict':
            if not isinstance(value, dict):
                raise ValueError('A dict is required in field %s, not a %s'
                                 % (fld.name, type(value).__name__))
            out = {}
            for key, val in value.items():
                out[key] = _coerce_string('%s["%s"]' % (fld.name, key), val)
            if len(out) > 255:
                raise ValueError("Number of items must be less than  255. "
                                 "Current size: %s" % len(out))
            for key, val in out.items():
                if len(val) > 255:
                    raise ValueError("String length must be less than  255. "
                                     "Current size: %s" % len(val))
                if not val:
                    raise ValueError("String length must be more than  1. "
                                     "Current size: 0")
                if len(key) > 255:
                    raise ValueError("Dict key length %s must be less than "
                                     "255." % key)
                if not key:
                    raise ValueError("Dict key length %s must be bigger than "
                                     "1." % key)
            return out
    except (ValueError, TypeError, KeyError) as exc:
        raise field_error(atype.name, fld.name, str(exc))
    raise bad_request("Cannot set field %s" % fld.name)


def parse_datetime(value):
    """ISO 8601 to a naive UTC datetime (oslo parse_isotime)."""
    if isinstance(value, datetime.datetime):
        return value
    text = str(value).strip()
    try:
        if text.endswith(('Z', 'z')):
            text = text[:-1] + '+00:00'
        stamp = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("Unable to parse date string '%s'" % value)
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return stamp


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def fmt_time(stamp):
    return stamp.strftime('%Y-%m-%dT%H:%M:%SZ') if stamp else None


# ---------------------------------------------------------------------------
# JSON Patch (RFC 6902), with the python-jsonpatch error messages
# ---------------------------------------------------------------------------

class PatchError(Exception):
    pass


def _pointer_parts(path):
    if path == '':
        return []
    if not path.startswith('/'):
        raise PatchError('location must starts with /')
    return [p.replace('~1', '/').replace('~0', '~')
            for p in path.split('/')[1:]]


def _index(part, doc, allow_end):
    if allow_end and part == '-':
        return len(doc)
    if not re.match(r'^(0|[1-9][0-9]*)$', part):
        raise PatchError("'%s' is not a valid sequence index" % part)
    return int(part)


def _walk(doc, parts):
    for part in parts:
        if isinstance(doc, dict):
            if part not in doc:
                raise PatchError("member '%s' not found in %s" % (part, doc))
            doc = doc[part]
        elif isinstance(doc, list):
            idx = _index(part, doc, False)
            if idx >= len(doc):
                raise PatchError("index '%s' is out of bounds" % part)
            doc = doc[idx]
        else:
            raise PatchError("Document '%s' does not support indexing, must "
                             "be mapping/sequence or support __getitem__"
                             % type(doc))
    return doc


def validate_patch(body):
    """jsonpatch.JsonPatch(body) + _get_operation() for every op."""
    if not isinstance(body, list):
        return False
    for op in body:
        if not isinstance(op, dict) or not isinstance(op.get('op'), str):
            return False
        if op['op'] not in ('add', 'remove', 'replace', 'move', 'copy',
                            'test'):
            return False
        if not isinstance(op.get('path'), str):
            return False
        try:
            _pointer_parts(op['path'])
        except PatchError:
            return False
    return True


def apply_op(doc, op):
    """Apply one operation to ``doc`` (in place when possible), return doc."""
    kind, parts = op['op'], _pointer_parts(op['path'])

    def value():
        if 'value' not in op:
            raise PatchError("The operation does not contain a 'value' "
                             "member")
        return copy.deepcopy(op['value'])

    def source():
        if 'from' not in op:
            raise PatchError("The operation does not contain a 'from' member")
        return _pointer_parts(op['from'])

    if kind == 'test':
        if _walk(doc, parts) != op.get('value'):
            raise PatchError("%s (%s) is not equal to tested value %s (%s)"
                             % (_walk(doc, parts),
                                type(_walk(doc, parts)).__name__,
                                op.get('value'),
                                type(op.get('value')).__name__))
        return doc
    if kind in ('move', 'copy'):
        from_parts = source()
        moved = copy.deepcopy(_walk(doc, from_parts))
        if kind == 'move':
            doc = apply_op(doc, {'op': 'remove', 'path': op['from']})
        return apply_op(doc, {'op': 'add', 'path': op['path'],
                              'value': moved})
    if not parts:
        if kind == 'remove':
            raise PatchError("can't remove the whole document")
        return value()
    parent, last = _walk(doc, parts[:-1]), parts[-1]
    if isinstance(parent, list):
        idx = _index(last, parent, kind == 'add')
        if kind == 'add':
            if idx > len(parent):
                raise PatchError("can't insert outside of list")
            parent.insert(idx, value())
        elif kind == 'remove':
            if idx >= len(parent):
                raise PatchError("can't remove a non-existent object '%s'"
                                 % last)
            del parent[idx]
        else:
            if idx >= len(parent):
                raise PatchError("can't replace outside of list")
            parent[idx] = value()
    elif isinstance(parent, dict):
        if kind == 'add':
            parent[last] = value()
        elif kind == 'remove':
            if last not in parent:
                raise PatchError("can't remove a non-existent object '%s'"
                                 % last)
            del parent[last]
        else:
            if last not in parent:
                raise PatchError("can't replace a non-existent object '%s'"
                                 % last)
            parent[last] = value()
    else:
        raise PatchError("invalid document type %s" % type(parent))
    return doc


# ---------------------------------------------------------------------------
# Request context (auth)
# ---------------------------------------------------------------------------

class Context:
    def __init__(self, user=None, project=None, roles=(), read_only=False):
        self.user, self.project = user, project
        self.roles = [r.strip() for r in roles if r.strip()]
        self.read_only = read_only
        self.is_admin = (not read_only and
                         'admin' in [r.lower() for r in self.roles])


def unauthorized(msg='You are not authenticated'):
    return GlareError(401, msg, 'Unauthorized')


def trusted_context(headers, allow_anonymous):
    token = headers.get('X-Auth-Token')
    if not token:
        raise unauthorized("Auth token must be provided")
    parts = token.strip().split(':', 3)
    if len(parts) != 3:
        raise unauthorized("Wrong auth token format. It must be "
                           "'user:tenant:roles'")
    user, project, roles = parts
    if not project:
        raise unauthorized("Tenant must be specified in auth token. Format "
                           "of the token is 'user:tenant:roles'")
    if project.lower() == 'none':
        if allow_anonymous:
            return Context(read_only=True)
        raise unauthorized()
    return Context(user, project, roles.split(','))


def noauth_context(headers, allow_anonymous):
    if headers.get('X-Identity-Status') == 'Confirmed':
        project = headers.get('X-Project-Id') or headers.get('X-Tenant-Id')
        return Context(headers.get('X-User-Id'), project,
                       (headers.get('X-Roles') or '').split(','))
    if allow_anonymous:
        return Context(read_only=True)
    raise unauthorized()


# ---------------------------------------------------------------------------
# Persistent store
# ---------------------------------------------------------------------------

def atomic_write(path, data):
    """Write bytes to ``path`` through a temp file + rename."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix='.tmp-')
    try:
        with os.fdopen(fd, 'wb') as fobj:
            fobj.write(data)
            fobj.flush()
            os.fsync(fobj.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class Store:
    """Artifacts in memory, mirrored to DIR/artifacts/*.json + DIR/blobs/."""

    def __init__(self, data_dir):
        self.dir = data_dir
        self.adir = os.path.join(data_dir, 'artifacts')
        self.bdir = os.path.join(data_dir, 'blobs')
        self.sdir = os.path.join(data_dir, 'static')
        for path in (self.adir, self.bdir, self.sdir):
            os.makedirs(path, exist_ok=True)
        self.lock = threading.RLock()
        self.records = {}
        for fname in os.listdir(self.adir):
            if fname.endswith('.json'):
                with open(os.path.join(self.adir, fname), 'rb') as fobj:
                    rec = json.loads(fobj.read().decode('utf-8'))
                self.records[rec['id']] = rec

    def save(self, rec):
        # A 'saving' slot (upload in progress) lives in memory only; the
        # file keeps the slot's previous value, so a crash loses nothing.
        disk = copy.deepcopy(rec)
        for name, val in disk['blobs'].items():
            if val and val['status'] == 'saving':
                disk['blobs'][name] = val['previous']
        for folder in disk['folders'].values():
            for key, val in list(folder.items()):
                if val['status'] == 'saving':
                    if val['previous'] is None:
                        del folder[key]
                    else:
                        folder[key] = val['previous']
        data = json.dumps(disk, ensure_ascii=False, sort_keys=True)
        atomic_write(os.path.join(self.adir, rec['id'] + '.json'),
                     data.encode('utf-8'))
        self.records[rec['id']] = rec

    def delete(self, rec):
        for blob in iter_blobs(rec):
            self.remove_blob_file(blob)
            self.remove_blob_file(blob.get('previous'))
        try:
            os.unlink(os.path.join(self.adir, rec['id'] + '.json'))
        except FileNotFoundError:
            pass
        self.records.pop(rec['id'], None)

    def blob_path(self, blob_id):
        return os.path.join(self.bdir, blob_id)

    def remove_blob_file(self, blob):
        if blob and blob.get('file'):
            try:
                os.unlink(self.blob_path(blob['file']))
            except FileNotFoundError:
                pass


def iter_blobs(rec):
    for val in rec['blobs'].values():
        if val:
            yield val
    for folder in rec['folders'].values():
        yield from folder.values()


def new_record(atype, ctx, name, version):
    now = utcnow().isoformat()
    rec = {'type_name': atype.name, 'id': str(uuid.uuid4()), 'name': name,
           'owner': ctx.project, 'status': 'drafted', 'created_at': now,
           'updated_at': now, 'activated_at': None, 'description': '',
           'tags': [], 'metadata': {}, 'visibility': 'private',
           'version': version, 'display_type_name': atype.display_name,
           'blobs': {}, 'folders': {}, 'strings': {}}
    for name_ in atype.custom:
        kind = atype.fields[name_].kind
        if kind == 'blob':
            rec['blobs'][name_] = None
        elif kind == 'folder':
            rec['folders'][name_] = {}
        else:
            rec['strings'][name_] = None
    return rec


def render_blob(rec, field, key, blob):
    url = blob['url'] if blob['external'] else '/artifacts/%s/%s/%s' % (
        rec['type_name'], rec['id'], field)
    if key is not None and not blob['external']:
        url += '/' + key
    return {'url': url, 'status': blob['status'],
            'external': blob['external'], 'md5': blob['md5'],
            'sha1': blob['sha1'], 'sha256': blob['sha256'],
            'size': blob['size'], 'content_type': blob['content_type']}


def get_value(rec, name):
    """A field value in API form (datetimes as datetime objects)."""
    if name in ('created_at', 'updated_at', 'activated_at'):
        return parse_datetime(rec[name]) if rec[name] else None
    if name in rec['blobs']:
        blob = rec['blobs'][name]
        return render_blob(rec, name, None, blob) if blob else None
    if name in rec['folders']:
        return {k: render_blob(rec, name, k, v)
                for k, v in rec['folders'][name].items()}
    if name in rec['strings']:
        return rec['strings'][name]
    if name == 'type_name':
        return rec['type_name']
    return copy.deepcopy(rec.get(name))


def render(rec, atype):
    out = {}
    for name in atype.fields:
        val = get_value(rec, name)
        out[name] = fmt_time(val) if isinstance(val, datetime.datetime) \
            else val
    return out


# ---------------------------------------------------------------------------
# Listing: filters, sorting, paging
# ---------------------------------------------------------------------------

def split_quoted(value):
    """utils.split_filter_value_for_quotes(): comma list with "quotes"."""
    open_quotes = True
    for i, char in enumerate(value):
        if char != '"' or (i and value[i - 1] == '\\'):
            continue
        if open_quotes and i and value[i - 1] != ',':
            raise bad_request("Invalid filter value %s. There is no comma "
                              "before opening quotation mark." % value,
                              'InvalidParameterValue')
        if not open_quotes and i + 1 != len(value) and value[i + 1] != ',':
            raise bad_request("Invalid filter value %s. There is no comma "
                              "after closing quotation mark." % value,
                              'InvalidParameterValue')
        open_quotes = not open_quotes
    if not open_quotes:
        raise bad_request("Invalid filter value %s. The quote is not closed."
                          % value, 'InvalidParameterValue')
    regex = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)",?|([^,]+),?|,')
    return [a or b for a, b in regex.findall(value)]


def split_filter_op(expression):
    """'[and:|or:][op:]value' -> (combiner, op, value)."""
    combiner = 'and'
    for prefix in ('and:', 'or:'):
        if expression.startswith(prefix):
            combiner, expression = prefix[:-1], expression[len(prefix):]
    left, sep, right = expression.partition(':')
    if not sep:
        return combiner, 'eq', expression
    try:
        parse_datetime(expression)      # a bare ISO date keeps its colons
        return combiner, 'eq', expression
    except ValueError:
        return combiner, left, right


class Filter:
    def __init__(self, field, key, op, value, combiner, kind):
        self.field, self.key, self.op = field, key, op
        self.value, self.combiner, self.kind = value, combiner, kind


def parse_filters(atype, params):
    filters = []
    for fname, fval in params:
        if fname in ('tags', 'tags-any'):
            combiner, values = 'and', fval
            if fval.startswith(('and:', 'or:')):
                combiner, _, values = fval.partition(':')
            if ':' in values:
                raise bad_request("Tags are filtered without operator")
            filters.append(Filter(fname, None, None, split_quoted(values),
                                  combiner, fname))
            continue
        key = None
        if '.' in fname:
            fname, key = fname.rsplit('.', 1)
            if atype.fields.get(fname) is None or \
                    atype.fields[fname].kind not in ('dict', 'folder'):
                raise bad_request("Field %s is not Dict" % fname)
        fld = atype.fields.get(fname)
        if fld is None:
            raise bad_request("Unable filter '%s'" % fname)
        combiner, op, val = split_filter_op(fval)
        if fld.kind in ('dict', 'folder') and key is None:
            if op not in ('eq', 'in'):
                raise bad_request("Unsupported filter type '%s'. The "
                                  "following filters are supported: eq, in"
                                  % op)
            if combiner not in ('and', 'or'):
                raise bad_request("Unsupported Query combiner type '%s'. Only"
                                  " following combiner are allowed: and, or"
                                  % combiner)
            keys = split_quoted(val) if op == 'in' else val
            filters.append(Filter(fname, keys, op, None, combiner, 'keys'))
            continue
        if op not in fld.filter_ops:
            raise bad_request("Unsupported filter type '%s'.The following "
                              "filters are supported %s"
                              % (op, str(fld.filter_ops)))
        elem = Field(fname, 'string') if fld.kind == 'dict' else fld

        def coerce(text):
            if elem.kind == 'datetime':
                try:
                    return parse_datetime(text)
                except ValueError as exc:
                    raise field_error(atype.name, fname, str(exc))
            if elem.kind == 'version':
                try:
                    return version_key(coerce_version(text))
                except ValueError as exc:
                    raise field_error(atype.name, fname, str(exc))
            if elem.allowed and text not in elem.allowed:
                raise field_error(atype.name, fname, "Value must be one of "
                                  "the following: %s"
                                  % ', '.join(elem.allowed))
            return text
        value = [coerce(v) for v in split_quoted(val)] if op == 'in' \
            else coerce(val)
        filters.append(Filter(fname, key, op, value, combiner, elem.kind))
    return filters


def _compare(left, op, right):
    """SQL-like comparison: anything against NULL is false."""
    if left is None or right is None:
        return False
    if op == 'eq':
        return left == right
    if op == 'neq':
        return left != right
    if op == 'lt':
        return left < right
    if op == 'lte':
        return left <= right
    if op == 'gt':
        return left > right
    if op == 'gte':
        return left >= right
    if op == 'in':
        return left in right
    if op == 'like':
        pattern = ''.join('.*' if c == '%' else '.' if c == '_'
                          else re.escape(c) for c in right)
        return re.fullmatch(pattern, left, re.I | re.S) is not None
    return False


def _version_compare(left, op, right):
    """Glare's VersionComparator: gt/lt on (prefix, suffix); eq on all."""
    if op in ('eq', 'neq'):
        return _compare(left, op, right)
    if op == 'in':
        return left in right
    return _compare(left[:2], op, right[:2])


def match_filter(rec, flt):
    if flt.kind == 'tags':
        return all(tag in rec['tags'] for tag in flt.value)
    if flt.kind == 'tags-any':
        return any(tag in rec['tags'] for tag in flt.value)
    if flt.kind == 'keys':
        present = get_value(rec, flt.field) or {}
        if flt.op == 'in':
            return any(k in present for k in flt.key)
        return flt.key in present
    if flt.key is not None:
        values = get_value(rec, flt.field) or {}
        return flt.key in values and _compare(values[flt.key], flt.op,
                                              flt.value)
    if flt.field == 'version':
        return _version_compare(version_key(rec['version']), flt.op,
                                flt.value)
    return _compare(get_value(rec, flt.field), flt.op, flt.value)


def match_all(rec, filters):
    ands = [f for f in filters if f.combiner != 'or']
    ors = [f for f in filters if f.combiner == 'or']
    if not all(match_filter(rec, f) for f in ands):
        return False
    return not ors or any(match_filter(rec, f) for f in ors)


def sort_value(rec, key):
    if key == 'version':
        return version_key(rec['version'])
    return get_value(rec, key)


def _cmp(a, b):
    # SQLite order: NULL sorts first.
    if a is None or b is None:
        return (a is not None) - (b is not None)
    return (a > b) - (a < b)


def sort_records(records, sort):
    def cmp(r1, r2):
        for key, direction in sort:
            res = _cmp(sort_value(r1, key), sort_value(r2, key))
            if res:
                return res if direction == 'asc' else -res
        return 0
    return sorted(records, key=functools.cmp_to_key(cmp))


def after_marker(rec, marker, sort):
    """Keyset condition of _do_paginate_query (NULL compares false)."""
    for i, (key, direction) in enumerate(sort):
        if all(sort_value(rec, k) is not None and
               sort_value(rec, k) == sort_value(marker, k)
               for k, _ in sort[:i]):
            mine, theirs = sort_value(rec, key), sort_value(marker, key)
            if mine is None or theirs is None:
                continue
            if (mine > theirs) if direction == 'asc' else (mine < theirs):
                return True
    return False


def latest_only(records):
    """version=latest: per name, the highest (prefix, suffix) wins."""
    best = {}
    for rec in records:
        key = version_key(rec['version'])[:2]
        if rec['name'] not in best or key > best[rec['name']]:
            best[rec['name']] = key
    return [r for r in records
            if version_key(r['version'])[:2] == best[r['name']]]


# ---------------------------------------------------------------------------
# Fault injection
# ---------------------------------------------------------------------------

FAULT_KINDS = ('reset', 'truncate', 'badsum', 'corrupt', 'delay', 'drip',
               'slowread')


class FaultRule:
    def __init__(self, spec):
        spec = dict(spec)
        self.kind = str(spec.pop('kind', '')).strip()
        if self.kind not in FAULT_KINDS:
            if not re.match(r'^[45]\d\d$', self.kind):
                raise ValueError('unknown fault kind %r' % self.kind)
        self.method = str(spec.pop('method', '*')).upper()
        self.path = str(spec.pop('path', '*'))
        self.count = int(spec.pop('count', 1))
        self.params = {}
        numeric = {'retry_after': float, 'after': int, 'seconds': float,
                   'chunk': int, 'interval': float}
        for key, val in spec.items():
            if key in numeric:
                self.params[key] = numeric[key](val)
            elif key in ('when', 'format', 'which'):
                self.params[key] = str(val)
            else:
                raise ValueError('unknown fault option %r' % key)
        if self.params.get('when', 'before') not in ('before', 'after'):
            raise ValueError('when must be before or after')
        if self.params.get('format', 'glare') not in ('glare', 'html',
                                                      'empty'):
            raise ValueError('format must be glare, html or empty')
        if self.params.get('which', 'sha256') not in ('sha256', 'md5',
                                                      'sha1', 'all'):
            raise ValueError('which must be sha256, md5, sha1 or all')

    @classmethod
    def from_cli(cls, text):
        kind, *opts = text.split(',')
        spec = {'kind': kind}
        for opt in opts:
            key, sep, val = opt.partition('=')
            if not sep:
                raise ValueError('bad fault option %r in %r' % (opt, text))
            spec[key.strip()] = val.strip()
        return cls(spec)

    def matches(self, method, path):
        return (self.count != 0 and
                self.method in ('*', method) and
                fnmatch.fnmatchcase(path, self.path))

    def to_json(self):
        out = {'kind': self.kind, 'method': self.method, 'path': self.path,
               'count': self.count}
        out.update(self.params)
        return out


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.applied = {}

    def add(self, rules):
        with self.lock:
            self.rules.extend(rules)

    def clear(self):
        with self.lock:
            self.rules = []

    def take(self, method, path):
        """Consume and return every rule matching this request."""
        taken = []
        with self.lock:
            for rule in self.rules:
                if rule.matches(method, path):
                    if rule.count > 0:
                        rule.count -= 1
                    taken.append(rule)
                    self.applied[rule.kind] = self.applied.get(rule.kind,
                                                               0) + 1
            self.rules = [r for r in self.rules if r.count != 0]
        return taken

    def listing(self):
        with self.lock:
            return [r.to_json() for r in self.rules]


# ---------------------------------------------------------------------------
# The Glare API proper
# ---------------------------------------------------------------------------

class Reply:
    """A response: status, header list, body bytes or an open file.

    Blob files are opened while the store lock is held, so a concurrent
    re-upload or delete (which unlinks the file) cannot break a download.
    """

    def __init__(self, status, headers=None, body=b'', stream=None,
                 body_len=None):
        self.status, self.headers = status, headers or []
        self.body, self.stream = body, stream
        self.body_len = len(body) if stream is None else body_len
        self.versioned = False      # carries the microversion headers

    def close(self):
        if self.stream is not None:
            self.stream.close()
            self.stream = None

    def header(self, name):
        for key, val in self.headers:
            if key.lower() == name.lower():
                return val
        return None

    def set_header(self, name, value):
        self.headers = [(k, v) for k, v in self.headers
                        if k.lower() != name.lower()] + [(name, value)]


def json_reply(status, obj, ctype=JSON_CT):
    body = json.dumps(obj, ensure_ascii=False).encode('utf-8')
    reply = Reply(status, [('Content-Length', str(len(body))),
                           ('Content-Type', ctype)], body)
    reply.versioned = True
    return reply


class GlareAPI:
    """Everything behind the auth middleware: routes, engine, policies."""

    def __init__(self, store, types, public_download,
                 aborted_upload_hold=1.0):
        self.store, self.types = store, types
        self.public_download = public_download
        self.aborted_upload_hold = aborted_upload_hold

    # -- helpers --------------------------------------------------------------

    def get_type(self, name):
        atype = self.types.get(name)
        if atype is None:
            raise not_found("Glare type with name '%s' was not found."
                            % name, 'TypeNotFound')
        return atype

    @staticmethod
    def visible(ctx, rec):
        if ctx.is_admin:
            return True
        if rec['visibility'] == 'public':
            return True
        return ctx.project is not None and rec['owner'] == ctx.project

    def show_record(self, ctx, atype, af_id, write=False):
        """Engine._show_artifact: 404 if not visible, 403 if not writable."""
        rec = self.store.records.get(af_id)
        if (rec is None or not self.visible(ctx, rec) or
                rec['type_name'] not in self.types or
                (atype.name != 'all' and rec['type_name'] != atype.name)):
            raise not_found("Artifact with id=%s not found." % af_id,
                            'ArtifactNotFound')
        if write and ((not ctx.is_admin and ctx.project != rec['owner'])
                      or ctx.read_only):
            raise forbidden()
        return rec

    def render(self, rec, atype):
        if atype.name == 'all':
            return render(rec, atype)
        return render(rec, self.types[rec['type_name']])

    @staticmethod
    def admin_or_owner(ctx, rec):
        return ctx.is_admin or (ctx.project is not None and
                                ctx.project == rec['owner'])

    def check_scope(self, ctx, atype, name, version, owner, visibility):
        """Uniqueness of (type, name, version) per owner / among public."""
        key = version_key(version)
        for rec in self.store.records.values():
            if (rec['type_name'] == atype.name and rec['name'] == name and
                    version_key(rec['version']) == key and
                    self.visible(ctx, rec) and
                    rec['visibility'] == visibility and
                    (visibility == 'public' or rec['owner'] == owner)):
                raise conflict("Artifact with this name and version is "
                               "already exists for this scope.")

    # -- schemas --------------------------------------------------------------

    def list_schemas(self):
        return json_reply(200, {'schemas': {
            n: t.schema() for n, t in self.types.items()}},
            'application/schema+json; charset=UTF-8')

    def show_schema(self, type_name):
        atype = self.types.get(type_name)
        if atype is None:
            raise not_found("Artifact type %s does not exist" % type_name)
        return json_reply(200, {'schemas': {type_name: atype.schema()}},
                          'application/schema+json; charset=UTF-8')

    # -- list -----------------------------------------------------------------

    def list(self, ctx, type_name, params):
        params = [(k, v) for k, v in params]
        marker = limit = sort_text = None
        rest = []
        for key, val in params:
            if key == 'marker':
                marker = val
            elif key == 'limit':
                limit = val
            elif key == 'sort':
                sort_text = val
            else:
                rest.append((key, val))
        if limit is None:
            limit = DEFAULT_LIMIT
        else:
            try:
                limit = int(limit)
            except ValueError:
                raise bad_request("Limit param must be an integer.")
            if limit < 0:
                raise bad_request("Limit param must be positive.")
        limit = min(MAX_LIMIT, limit)
        sort = []
        if sort_text is not None:
            for item in sort_text.strip().split(','):
                key, _, direction = item.partition(':')
                if direction and direction not in ('asc', 'desc'):
                    raise bad_request('Sort direction must be one of ["asc", '
                                      '"desc"]. Got %s direction' % direction)
                sort.append((key, direction or 'desc'))
        latest = False
        filter_params = []
        for key, val in rest:
            if key == 'version' and val == 'latest':
                latest = True
            else:
                filter_params.append((key, val))

        atype = self.get_type(type_name)
        for key, _ in sort:
            if key not in atype.fields:
                raise bad_request("The field %s doesn't exist." % key)
            if not atype.fields[key].sortable:
                raise bad_request("The field %s is not sortable." % key)
        for default in ('created_at', 'id'):
            if default not in [k for k, _ in sort]:
                sort.append((default, 'desc' if default == 'created_at'
                             else 'asc'))
        filters = parse_filters(atype, filter_params)

        with self.store.lock:
            records = [r for r in self.store.records.values()
                       if self.visible(ctx, r) and r['status'] != 'deleted'
                       and r['type_name'] in self.types
                       and (atype.name == 'all' or
                            r['type_name'] == atype.name)
                       and match_all(r, filters)]
            if latest:
                records = latest_only(records)
            records = sort_records(records, sort)
            total = len(records)
            if marker is not None:
                mrec = self.store.records.get(marker)
                if mrec is None or not self.visible(ctx, mrec):
                    raise not_found("Artifact with id=%s not found." % marker,
                                    'ArtifactNotFound')
                records = [r for r in records if after_marker(r, mrec, sort)]
            page = records[:limit]
            artifacts = [self.render(r, atype) for r in page]

        # 'first'/'next' are built from dict(request.params): the last value
        # of a repeated key wins, keys keep their first position.
        query = {}
        for key, val in params:
            query[key] = val
        query.pop('marker', None)
        encoded = urllib.parse.urlencode(query)
        body = {'type_name': type_name, 'artifacts': artifacts,
                'first': '/artifacts/%s' % type_name,
                'schema': '/schemas/%s' % type_name, 'total_count': total}
        if encoded:
            body['first'] += '?' + encoded
        if artifacts and len(artifacts) == limit:
            query['marker'] = artifacts[-1]['id']
            body['next'] = '/artifacts/%s?%s' % (
                type_name, urllib.parse.urlencode(query))
        return json_reply(200, body)

    # -- create ---------------------------------------------------------------

    def create(self, ctx, type_name, values):
        if ctx.project is None or ctx.read_only:
            raise forbidden("It's forbidden to anonymous users to create "
                            "artifacts.")
        if not values.get('name'):
            raise bad_request("Name must be specified at creation.")
        for field in ('visibility', 'status', 'display_type_name'):
            if field in values:
                raise bad_request("%s is not allowed in a request at "
                                  "creation." % field)
        atype = self.get_type(type_name)
        values = dict(values)
        name = coerce_field(atype, atype.fields['name'], values.pop('name'))
        version = coerce_field(atype, atype.fields['version'],
                               values.get('version', '0.0.0'))
        version_key(version)            # 500 InvalidVersion, as upstream
        with self.store.lock:
            self.check_scope(ctx, atype, name, version, ctx.project,
                             'private')
            rec = new_record(atype, ctx, name, version)
            for field, value in values.items():
                if atype.is_blob(field) or atype.is_folder(field):
                    raise bad_request("Cannot add blob with this request. "
                                      "Use special Blob API for that.")
                self.validate_change_allowed(atype, rec, field)
                self.set_field(atype, rec, field, value)
            if atype.read_only:
                raise forbidden("This type is read only.")
            self.store.save(rec)
            return json_reply(201, self.render(rec, atype))

    @staticmethod
    def validate_change_allowed(atype, rec, field):
        if field not in atype.fields:
            raise bad_request("Cannot add new field '%s' to artifact."
                              % field)
        if rec['status'] not in ('active', 'drafted'):
            raise forbidden("Forbidden to change fields if artifact is not "
                            "active or drafted.")
        if atype.fields[field].system:
            raise forbidden("Forbidden to specify system field %s. It is not "
                            "available for modifying by users." % field)
        if rec['status'] == 'active' and not atype.fields[field].mutable:
            raise forbidden("Forbidden to change field '%s' after "
                            "activation." % field)

    @staticmethod
    def set_field(atype, rec, field, value):
        """setattr(af, field, value): coerce, store, report a change."""
        fld = atype.fields[field]
        new = coerce_field(atype, fld, value)
        if field in rec['strings']:
            old, rec['strings'][field] = rec['strings'][field], new
        else:
            old, rec[field] = rec.get(field), new
        return old != new

    # -- update (JSON patch) --------------------------------------------------

    def update(self, ctx, type_name, af_id, patch):
        atype = self.get_type(type_name)
        with self.store.lock:
            rec = copy.deepcopy(self.show_record(ctx, atype, af_id,
                                                 write=True))
            if not (self.admin_or_owner(ctx, rec) and
                    (rec['visibility'] != 'public' or ctx.is_admin)):
                raise policy_error('artifact:update')
            if atype.read_only:
                raise forbidden("This type is read only.")
            rtype = self.types[rec['type_name']]
            original = copy.deepcopy(rec)
            self.apply_patch(ctx, rtype, rec, patch)
            changed = {k for k in rec if rec[k] != original[k]}
            if not changed:
                return json_reply(200, self.render(original, atype))
            if changed & {'name', 'version', 'visibility'}:
                self.check_scope(ctx, rtype, rec['name'], rec['version'],
                                 rec['owner'], rec['visibility'])
            now = utcnow()
            rec['updated_at'] = now.isoformat()
            if 'status' in changed and rec['status'] == 'active':
                if any(b['status'] == 'saving' for b in iter_blobs(rec)):
                    raise conflict("You cannot activate artifact if it has "
                                   "uploading blobs.")
                # Kept at the second, as printed, so that a filter on a
                # printed time agrees with it (gt:T excludes T itself).
                rec['activated_at'] = now.replace(microsecond=0).isoformat()
            self.store.save(rec)
            return json_reply(200, self.render(rec, atype))

    def apply_patch(self, ctx, atype, rec, patch):
        doc = render(rec, atype)
        for op in patch:
            try:
                doc = apply_op(doc, op)
            except PatchError as exc:
                raise bad_request(str(exc))
            items = op['path'].split('/', 2)
            field = items[1] if len(items) > 1 else ''
            if atype.is_blob(field) or atype.is_folder(field):
                raise bad_request("Cannot add blob with this request. Use "
                                  "special Blob API for that.")
            if len(items) == 2 and op['op'] == 'remove':
                raise bad_request("Cannot remove field '%s' from artifact."
                                  % field)
            if not isinstance(doc, dict) or field not in doc:
                if field not in atype.fields:
                    raise bad_request("Cannot add new field '%s' to "
                                      "artifact." % field)
                raise bad_request("Json Patch body is malformed")
            new = doc[field]
            if field == 'visibility':
                self.check_visibility_change(ctx, rec, new)
            elif field == 'status':
                self.check_status_change(ctx, atype, rec, new)
            else:
                self.validate_change_allowed(atype, rec, field)
            self.set_field(atype, rec, field, new)

    def check_visibility_change(self, ctx, rec, new):
        if new == 'private':
            if rec['visibility'] != 'private':
                raise forbidden()
        elif new == 'public':
            if rec['status'] != 'active':
                raise forbidden("Cannot change visibility to 'public' if "
                                "artifact is not active.")
            if not ctx.is_admin:
                raise policy_error('artifact:publish')
        else:
            raise bad_request("Unknown artifact visibility: %s." % new)

    def check_status_change(self, ctx, atype, rec, new):
        old = rec['status']
        if old == 'deleted':
            raise forbidden("Cannot change status if artifact is deleted.")
        if new == 'active':
            if old == 'drafted':
                for name, fld in atype.fields.items():
                    if fld.required_on_activate and \
                            get_value(rec, name) is None:
                        raise forbidden("'%s' field value must be set before "
                                        "activation." % name)
            if old == 'deactivated':
                if not ctx.is_admin:
                    raise policy_error('artifact:reactivate')
            elif not self.admin_or_owner(ctx, rec):
                raise policy_error('artifact:activate')
        elif new == 'drafted':
            if old != 'drafted':
                # Upstream formats "Cannot change status to 'drafted'" with a
                # stray argument: the TypeError text is what clients get.
                raise bad_request("not all arguments converted during string "
                                  "formatting")
        elif new == 'deactivated':
            if old not in ('active', 'deactivated'):
                raise forbidden("Cannot deactivate artifact if it's not "
                                "active.")
            if not ctx.is_admin:
                raise policy_error('artifact:deactivate')
        elif new == 'deleted':
            raise forbidden("Cannot delete artifact with PATCH requests. Use "
                            "special API to do this.")
        else:
            raise bad_request("Unknown artifact status: %s." % new)

    # -- show / delete --------------------------------------------------------

    def show(self, ctx, type_name, af_id):
        atype = self.get_type(type_name)
        with self.store.lock:
            rec = self.show_record(ctx, atype, af_id)
            return json_reply(200, self.render(rec, atype))

    def delete(self, ctx, type_name, af_id):
        atype = self.get_type(type_name)
        with self.store.lock:
            rec = self.show_record(ctx, atype, af_id, write=True)
            if not (self.admin_or_owner(ctx, rec) and
                    (rec['visibility'] != 'public' or ctx.is_admin) and
                    (rec['status'] != 'deactivated' or ctx.is_admin)):
                raise policy_error('artifact:delete')
            if atype.read_only:
                raise forbidden("This type is read only.")
            if any(b['status'] == 'saving' for b in iter_blobs(rec)):
                raise conflict("You cannot change artifact status if it has "
                               "uploading blobs")
            self.store.delete(rec)
        reply = Reply(204, [('Content-Type', 'text/html; charset=UTF-8'),
                            ('Content-Length', '0')])
        reply.versioned = True
        return reply

    # -- blobs ----------------------------------------------------------------

    @staticmethod
    def blob_slot(atype, rec, field, key):
        """Engine._get_blob_info: (current value, display name)."""
        if key is not None:
            if not atype.is_folder(field):
                raise bad_request("%s is not a blob dict" % field)
            return rec['folders'][field].get(key), '%s[%s]' % (field, key)
        if not atype.is_blob(field):
            raise bad_request("%s is not a blob" % field)
        return rec['blobs'][field], field

    @staticmethod
    def put_blob(rec, field, key, value):
        if key is None:
            rec['blobs'][field] = value
        elif value is None:
            rec['folders'][field].pop(key, None)
        else:
            rec['folders'][field][key] = value

    def prepare_upload(self, ctx, type_name, af_id, field, key,
                       content_type, length):
        """Step 1 of an upload: checks, then mark the slot 'saving'."""
        atype = self.get_type(type_name)
        with self.store.lock:
            rec = self.show_record(ctx, atype, af_id, write=True)
            if not self.admin_or_owner(ctx, rec):
                raise policy_error('artifact:upload')
            rtype = atype if atype.name == 'all' else \
                self.types[rec['type_name']]
            old, blob_name = self.blob_slot(rtype, rec, field, key)
            if old is not None and old['status'] == 'saving':
                raise conflict("Blob %s is not ready for upload"
                               % blob_name)
            if any(b['status'] == 'saving' for b in iter_blobs(rec)):
                raise conflict("Cannot lock an item with key %s:%s. Lock "
                               "already acquired by other request"
                               % (rec['type_name'], rec['id']))
            self.validate_change_allowed(rtype, rec, field)
            max_size = rtype.fields[field].max_blob_size
            if key is not None:
                if len(key) > 255:
                    raise field_error(rtype.name, field, "Dict key length %s "
                                      "must be less than 255." % key)
                folder = rec['folders'][field]
                if old is None and len(folder) >= MAX_FOLDER_KEYS:
                    raise field_error(rtype.name, field, "Number of items "
                                      "must be less than  %d. Current size: "
                                      "%d" % (MAX_FOLDER_KEYS,
                                              len(folder) + 1))
                used = sum(b['size'] or 0 for k, b in folder.items()
                           if k != key)
                max_size = min(max_size, DEFAULT_MAX_FOLDER_SIZE - used)
            if length is not None and length > max_size:
                raise GlareError(413, "Can't upload %d bytes of data to blob "
                                 "%s. Its max allowed size is %d"
                                 % (length, blob_name, max_size),
                                 'RequestEntityTooLarge')
            if old is not None and not old['external']:
                content_type = old['content_type']   # upstream keeps it
            saving = {'file': None, 'url': None, 'status': 'saving',
                      'external': False, 'md5': None, 'sha1': None,
                      'sha256': None,
                      'size': length if length is not None else max_size,
                      'content_type': content_type, 'previous': old}
            live = self.store.records[rec['id']]
            self.put_blob(live, field, key, saving)
            return {'id': rec['id'], 'type': atype, 'field': field,
                    'key': key, 'old': old, 'saving': saving}

    def finish_upload(self, job, tmp_path, size, digests):
        """Step 3: publish the data file and activate the blob."""
        with self.store.lock:
            rec = self.store.records.get(job['id'])
            if rec is None:
                os.unlink(tmp_path)
                raise not_found("Artifact with id=%s not found." % job['id'],
                                'ArtifactNotFound')
            blob_id = str(uuid.uuid4())
            os.replace(tmp_path, self.store.blob_path(blob_id))
            blob = dict(job['saving'], file=blob_id, status='active',
                        size=size, **digests)
            del blob['previous']
            self.put_blob(rec, job['field'], job['key'], blob)
            rec['updated_at'] = utcnow().isoformat()
            self.store.save(rec)
            self.store.remove_blob_file(job['old'])
            return json_reply(200, self.render(rec, job['type']))

    def abort_upload(self, job, broken_off=False):
        """Undo step 1; an upload the client broke off stays 'saving' a while."""
        if broken_off and self.aborted_upload_hold > 0:
            timer = threading.Timer(self.aborted_upload_hold,
                                    self.abort_upload, (job,))
            timer.daemon = True
            timer.start()
            return
        with self.store.lock:
            rec = self.store.records.get(job['id'])
            if rec is None:
                return
            current, _ = self.blob_slot(self.types[rec['type_name']], rec,
                                        job['field'], job['key'])
            if current == job['saving']:     # not replaced meanwhile
                self.put_blob(rec, job['field'], job['key'], job['old'])

    def add_location(self, ctx, type_name, af_id, field, key, data):
        atype = self.get_type(type_name)
        location_type = data.get('location_type', 'external')
        url = data['url']
        if location_type == 'internal':
            scheme = urllib.parse.urlparse(url).scheme
            if scheme in ('file', 'filesystem', 'swift+config', 'sql'):
                raise forbidden("Forbidden to set internal locations with "
                                "scheme '%s'" % scheme)
            if scheme not in ('http', 'https', 'swift', 'swift+http',
                              'swift+https', 'rbd', 'sheepdog', 'cinder',
                              'vsphere'):
                raise bad_request("Unknown scheme '%s'" % scheme)
        with self.store.lock:
            rec = self.show_record(ctx, atype, af_id, write=True)
            allowed = (ctx.is_admin if location_type == 'internal'
                       else self.admin_or_owner(ctx, rec))
            if not allowed:
                raise policy_error('artifact:set_internal_location'
                                   if location_type == 'internal'
                                   else 'artifact:set_location')
            rtype = atype if atype.name == 'all' else \
                self.types[rec['type_name']]
            old, _ = self.blob_slot(rtype, rec, field, key)
            if old is not None:
                raise conflict("Blob %s already exists for artifact %s"
                               % (field, rec['id']))
            self.validate_change_allowed(rtype, rec, field)
            rec = copy.deepcopy(rec)
            self.put_blob(rec, field, key, {
                'file': None, 'url': url, 'size': None,
                'md5': data.get('md5'), 'sha1': data.get('sha1'),
                'sha256': data.get('sha256'), 'status': 'active',
                'external': location_type == 'external',
                'content_type': None})
            rec['updated_at'] = utcnow().isoformat()
            self.store.save(rec)
            return json_reply(200, self.render(rec, atype))

    def download(self, ctx, type_name, af_id, field, key):
        atype = self.get_type(type_name)
        with self.store.lock:
            rec = self.show_record(ctx, atype, af_id)
            may = self.admin_or_owner(ctx, rec) or self.public_download
            if not may or (rec['status'] == 'deactivated' and
                           not ctx.is_admin):
                raise policy_error('artifact:download')
            rtype = atype if atype.name == 'all' else \
                self.types[rec['type_name']]
            blob, blob_name = self.blob_slot(rtype, rec, field, key)
            if blob is None:
                raise not_found("No data found for blob %s" % blob_name)
            if blob['status'] != 'active':
                raise conflict("%s is not ready for download" % blob_name)
            sums = [('Content-Md5', str(blob['md5'])),
                    ('X-Openstack-Glare-Content-Sha1', str(blob['sha1'])),
                    ('X-Openstack-Glare-Content-Sha256', str(blob['sha256']))]
            if blob['external']:
                reply = Reply(301, sums + [
                    ('Location', blob['url']), ('Content-Length', '0'),
                    ('Content-Type', 'application/json')])
            elif blob.get('file'):
                stream = open(self.store.blob_path(blob['file']), 'rb')
                reply = Reply(200, [('Content-Type', blob['content_type'])] +
                              sums + [('Content-Length', str(blob['size']))],
                              stream=stream, body_len=blob['size'])
            else:
                raise GlareError(500, "Cannot load data of internal location "
                                 "%s" % blob['url'], 'GlareException')
            reply.versioned = True
            return reply

    def delete_external(self, ctx, type_name, af_id, field, key):
        atype = self.get_type(type_name)
        with self.store.lock:
            rec = self.show_record(ctx, atype, af_id, write=True)
            if not self.admin_or_owner(ctx, rec):
                raise policy_error('artifact:delete_blob')
            rtype = atype if atype.name == 'all' else \
                self.types[rec['type_name']]
            blob, blob_name = self.blob_slot(rtype, rec, field, key)
            if blob is None:
                raise not_found("Blob %s wasn't found for artifact"
                                % blob_name)
            if not blob['external']:
                raise forbidden("Blob %s is not external" % blob_name)
            rec = copy.deepcopy(rec)
            self.put_blob(rec, field, key, None)
            rec['updated_at'] = utcnow().isoformat()
            self.store.save(rec)
            return json_reply(200, self.render(rec, atype))


# ---------------------------------------------------------------------------
# HTTP front end
# ---------------------------------------------------------------------------

ROUTE_ALLOW = {'schemas': 'GET', 'schema': 'GET', 'artifacts': 'GET, POST',
               'artifact': 'GET, PATCH, DELETE', 'blob': 'GET, PUT, DELETE'}
KNOWN_METHODS = ('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH')


def route(path):
    """(kind, args) for a decoded path; kind None when nothing matches."""
    if path in ('/', '/versions'):
        return 'versions', ()
    if path == '/healthcheck':
        return 'healthcheck', ()
    if path == '/schemas':
        return 'schemas', ()
    match = re.match(r'^/schemas/([^/]+)$', path)
    if match:
        return 'schema', match.groups()
    match = re.match(r'^/artifacts/([^/]+)$', path)
    if match:
        return 'artifacts', match.groups()
    match = re.match(r'^/artifacts/([^/]+)/([^/]+)$', path)
    if match:
        return 'artifact', match.groups()
    match = re.match(r'^/artifacts/([^/]+)/([^/]+)/(.*)$', path, re.S)
    if match:
        return 'blob', match.groups()
    return None, ()


def media_type(value):
    return (value or '').split(';', 1)[0].strip().lower()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'glare-test-server'
    # TCP_NODELAY: headers and body are two writes, and with Nagle's algorithm the body
    # would wait for the client's delayed ACK (~40 ms); the real Glare has no such stall.
    disable_nagle_algorithm = True

    # Every method goes through one dispatcher, so unknown methods on a
    # known path get 405 (and 501 elsewhere) like the real router.
    def __getattr__(self, name):
        if name.startswith('do_'):
            return self.handle_request
        raise AttributeError(name)

    def send_response(self, code, message=None):
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header('Date', self.date_time_string())

    # -- request body ---------------------------------------------------------

    def body_length(self):
        value = self.headers.get('Content-Length')
        if value is None:
            return None
        try:
            length = int(value)
            if length < 0:
                raise ValueError
        except ValueError:
            raise bad_request("Content-Length must be a non negative "
                              "integer.")
        return length

    def is_chunked(self):
        return 'chunked' in (self.headers.get('Transfer-Encoding') or '')\
            .lower()

    def read_chunks(self):
        """Yield the chunks of a chunked request body."""
        while True:
            line = self.rfile.readline(65537)
            size = int(line.split(b';')[0].strip() or b'0', 16)
            if size == 0:
                while self.rfile.readline(65537) not in (b'\r\n', b'\n', b''):
                    pass
                return
            data = self.rfile.read(size)
            self.rfile.readline(65537)
            yield data

    def read_body(self, limit=64 * 1024 * 1024):
        """The whole request body (bytes), marking it consumed."""
        self.body_consumed = True
        if self.is_chunked():
            return b''.join(self.read_chunks())
        length = self.body_length() or 0
        if length > limit:
            raise bad_request("Request body too large")
        data = self.rfile.read(length)
        if len(data) != length:
            raise ConnectionError('client closed the connection')
        return data

    def drain_body(self):
        """Discard an unread body so the connection stays in sync."""
        if self.body_consumed:
            return
        self.body_consumed = True
        try:
            if self.is_chunked():
                for _ in self.read_chunks():
                    pass
                return
            length = self.body_length() or 0
        except (GlareError, ValueError, OSError):
            self.close_connection = True
            return
        if length > 256 * 1024 * 1024:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 16))
            if not chunk:
                self.close_connection = True
                return
            length -= len(chunk)

    # -- dispatch -------------------------------------------------------------

    def handle_request(self):
        srv = self.server
        self.body_consumed = False
        self.api_version = '1.0'
        raw_path, _, query = self.path.partition('?')
        # PATH_INFO under Python 3 WSGI: the bytes read as latin-1.
        path = urllib.parse.unquote(raw_path, encoding='latin-1')
        method = self.command
        if srv.control and path.startswith('/__control/'):
            return self.send_reply(self.control(method, path))
        kind = route(path)[0] or ('static' if path.startswith('/__static/')
                                  and srv.control else 'other')
        srv.count(method, kind)
        rules = srv.faults.take(method, path)
        plan = {r.kind: r for r in reversed(rules)}
        if 'delay' in plan:
            time.sleep(plan['delay'].params.get('seconds', 1.0))
        self.slowread = plan.get('slowread')
        status_rule = next((r for r in rules if r.kind[0] in '45'), None)
        if status_rule and status_rule.params.get('when') != 'after':
            self.drain_body()
            return self.send_reply(self.fault_reply(status_rule), plan)
        try:
            if kind == 'static':
                reply = self.static(method, path)
            else:
                reply = self.dispatch(method, path, query)
        except GlareError as err:
            reply = json_error_reply(err)
        except WebobError as err:
            reply = webob_error_reply(err, method,
                                      self.headers.get('Accept'))
            reply.versioned = True
        except ConnectionError:
            # The client went away mid-body: upstream ends in a 500
            # (DisconnectionError); the answer is sent to whoever is left.
            self.close_connection = True
            reply = webob_error_reply(WebobError(500), method,
                                      self.headers.get('Accept'))
            try:
                self.send_reply(reply)
            except OSError:
                pass
            return
        except Exception:                       # a bug: 500 like webob
            traceback.print_exc()
            reply = webob_error_reply(WebobError(500), method,
                                      self.headers.get('Accept'))
            reply.versioned = True
        self.drain_body()
        if status_rule:                         # when=after
            reply.close()
            reply = self.fault_reply(status_rule)
        if reply.versioned:
            reply.headers += [(VERSION_HEADER, 'artifact ' + self.api_version),
                              ('Vary', 'openstack-api-version')]
        self.send_reply(reply, plan)

    def dispatch(self, method, path, query):
        srv = self.server
        if path in ('/', '/versions'):
            body = json.dumps(VERSIONS_BODY).encode()
            return Reply(300, [('Content-Type', 'application/json'),
                               ('Content-Length', str(len(body)))], body)
        if path == '/healthcheck':
            return Reply(200, [('Content-Type', 'text/plain; charset=UTF-8'),
                               ('Content-Length', '2')], b'OK')
        self.negotiate_version()
        ctx = srv.authenticate(self.headers)
        kind, args = route(path)
        if kind is None:
            if method not in KNOWN_METHODS:
                raise WebobError(501)
            raise WebobError(404)
        allow = ROUTE_ALLOW[kind]
        if method not in allow.split(', '):
            raise WebobError(405, headers=[('Allow', allow)])
        params = urllib.parse.parse_qsl(query, keep_blank_values=True)
        body_reject = method == 'GET' or (method == 'DELETE' and
                                          kind != 'blob')
        if body_reject and (self.body_length() or 0) > 0:
            raise WebobError(400, "A body is not expected with this request.")
        api = srv.api
        if kind == 'schemas':
            return api.list_schemas()
        if kind == 'schema':
            return api.show_schema(args[0])
        if kind == 'artifacts':
            if method == 'GET':
                return api.list(ctx, args[0], params)
            return api.create(ctx, args[0], self.json_body(
                ['application/json'], dict_required=True))
        if kind == 'artifact':
            if method == 'GET':
                return api.show(ctx, *args)
            if method == 'DELETE':
                return api.delete(ctx, *args)
            patch = self.json_body(['application/json-patch+json'])
            if not validate_patch(patch):
                raise bad_request("Json Patch body is malformed")
            return api.update(ctx, args[0], args[1], patch)
        type_name, af_id, blob_path = args
        field, _, key = blob_path.partition('/')
        key = key or None
        if method == 'GET':
            return api.download(ctx, type_name, af_id, field, key)
        if method == 'DELETE':
            return api.delete_external(ctx, type_name, af_id, field, key)
        return self.upload(ctx, type_name, af_id, field, key)

    def negotiate_version(self):
        """GlareVersionNegotiationFilter: Accept vnd type or the header."""
        accept = self.headers.get('Accept') or ''
        mime = 'application/vnd.openstack.artifacts-'
        requested = accept[len(mime):] if accept.startswith(mime) else None
        if requested is None:
            for value in self.headers.get_all('OpenStack-API-Version') or []:
                for item in value.split(','):
                    service, _, ver = item.strip().partition(' ')
                    if service.lower() == 'artifact':
                        requested = ver.strip()
        if requested is None:
            return
        if requested == 'latest':
            self.api_version = '%d.%d' % API_MAX
            return
        match = re.match(r'^([1-9]\d*)\.([1-9]\d*|0)$', requested)
        if not match:
            raise bad_request("API version string %s is not valid. Cannot "
                              "determine API version." % requested)
        ver = (int(match.group(1)), int(match.group(2)))
        if not API_MIN <= ver <= API_MAX:
            text = '%d.%d' % ver
            raise GlareError(
                406, "Version %s is not supported by the API. Minimum is "
                "%d.%d and maximum is %d.%d." % ((text,) + API_MIN + API_MAX),
                'InvalidGlobalAPIVersion',
                {'min_version': '%d.%d' % API_MIN,
                 'max_version': '%d.%d' % API_MAX})
        self.api_version = '%d.%d' % ver

    def content_type(self):
        # eventlet fills in text/plain when the header is missing.
        return media_type(self.headers.get('Content-Type') or 'text/plain')

    def json_body(self, expected, dict_required=False):
        ctype = self.content_type()
        if ctype not in expected:
            raise GlareError(415, 'Invalid content type: %s. Expected: %s'
                             % (ctype, ', '.join(expected)),
                             'UnsupportedMediaType')
        body = self.read_body()
        try:
            data = json.loads(body.decode('utf-8'))
        except (ValueError, UnicodeDecodeError):
            raise WebobError(400, 'Malformed JSON in request body.')
        if not isinstance(data, (dict, list)):
            raise WebobError(400, 'Unexpected body type. Expected list/dict.')
        if dict_required and not isinstance(data, dict):
            raise bad_request("Dictionary expected as body value. Got %s."
                              % type(data))
        return data

    def upload(self, ctx, type_name, af_id, field, key):
        api = self.server.api
        ctype = self.content_type()
        if ctype == CUSTOM_LOCATION_CT:
            data = self.json_body([CUSTOM_LOCATION_CT])
            if not isinstance(data, dict) or 'url' not in data:
                raise bad_request("url is required when specifying external "
                                  "location. Cannot find 'url' in request "
                                  "body: %s" % str(data))
            location_type = data.get('location_type', 'external')
            if location_type not in ('external', 'internal'):
                raise bad_request("Incorrect location type '%s'. It must be "
                                  "one of the following external, internal"
                                  % location_type)
            if location_type == 'external':
                if not str(data['url']).startswith('http'):
                    raise bad_request("Url '%s' doesn't have http(s) scheme"
                                      % data['url'])
                if 'md5' not in data:
                    raise bad_request("Incorrect blob metadata. MD5 must be "
                                      "specified for external location in "
                                      "artifact blob.")
            return api.add_location(ctx, type_name, af_id, field, key, data)
        length = self.body_length()
        if length is None and self.is_chunked():
            # Upstream reads the body before marking it readable, so a
            # chunked upload without Content-Length stores an empty blob.
            self.drain_body()
        job = api.prepare_upload(ctx, type_name, af_id, field, key, ctype,
                                 length)
        try:
            tmp_path, size, digests = self.receive_blob(length or 0)
        except ConnectionError:
            api.abort_upload(job, broken_off=True)
            raise
        except BaseException:
            api.abort_upload(job)
            raise
        return api.finish_upload(job, tmp_path, size, digests)

    def receive_blob(self, length):
        """Stream ``length`` body bytes to a temp file, hashing them."""
        self.body_consumed = True
        hashes = {n: hashlib.new(n) for n in ('md5', 'sha1', 'sha256')}
        fd, tmp = tempfile.mkstemp(dir=self.server.store.bdir,
                                   prefix='.upload-')
        step, pause = 1 << 16, 0
        if self.slowread:
            step = self.slowread.params.get('chunk', 1 << 16)
            pause = self.slowread.params.get('interval', 0.2)
        try:
            with os.fdopen(fd, 'wb') as fobj:
                left = length
                while left > 0:
                    time.sleep(pause)
                    chunk = self.rfile.read(min(left, step))
                    if not chunk:
                        raise ConnectionError('client closed the connection')
                    fobj.write(chunk)
                    for hsh in hashes.values():
                        hsh.update(chunk)
                    left -= len(chunk)
                fobj.flush()
                os.fsync(fobj.fileno())
        except BaseException:
            os.unlink(tmp)
            raise
        return tmp, length, {n: h.hexdigest() for n, h in hashes.items()}

    # -- control API and static files ---------------------------------------

    def control(self, method, path):
        srv = self.server
        try:
            if path == '/__control/faults':
                if method == 'GET':
                    return plain_json(200, {'faults': srv.faults.listing()})
                if method == 'DELETE':
                    self.drain_body()
                    srv.faults.clear()
                    return plain_json(200, {'faults': []})
                if method == 'POST':
                    data = json.loads(self.read_body().decode('utf-8'))
                    specs = data if isinstance(data, list) else [data]
                    srv.faults.add([FaultRule(s) for s in specs])
                    return plain_json(201, {'faults': srv.faults.listing()})
            elif path == '/__control/stats':
                if method == 'GET':
                    return plain_json(200, srv.stats())
                if method == 'DELETE':
                    srv.reset_stats()
                    return plain_json(200, srv.stats())
            else:
                return plain_json(404, {'error': 'no such control path'})
            return plain_json(405, {'error': 'method not allowed'})
        except (ValueError, TypeError, AttributeError) as exc:
            return plain_json(400, {'error': str(exc)})

    def static(self, method, path):
        name = path[len('/__static/'):]
        if not name or '/' in name or name in ('.', '..'):
            return plain_json(404, {'error': 'no such file'})
        fpath = os.path.join(self.server.store.sdir, name)
        if method == 'PUT':
            atomic_write(fpath, self.read_body(limit=1 << 40))
            return plain_json(201, {'name': name})
        if method not in ('GET', 'HEAD'):
            return plain_json(405, {'error': 'method not allowed'})
        if not os.path.isfile(fpath):
            return plain_json(404, {'error': 'no such file'})
        stream = open(fpath, 'rb')
        size = os.fstat(stream.fileno()).st_size
        return Reply(200, [('Content-Type', 'application/octet-stream'),
                           ('Content-Length', str(size))],
                     stream=stream, body_len=size)

    # -- sending, with transport faults ---------------------------------------

    def fault_reply(self, rule):
        code = int(rule.kind)
        title, explanation = http_text(code)
        fmt = rule.params.get('format', 'glare')
        if fmt == 'html':
            body = ('<html><body><h1>%d %s</h1></body></html>'
                    % (code, title)).encode()
            reply = Reply(code, [('Content-Type', 'text/html'),
                                 ('Content-Length', str(len(body)))], body)
        elif fmt == 'empty':
            reply = Reply(code, [('Content-Length', '0')])
        else:
            reply = json_error_reply(GlareError(code, 'Injected fault',
                                                'InjectedFault'))
        retry = rule.params.get('retry_after',
                                1 if code in (429, 503) else None)
        if retry is not None:
            reply.headers.append(('Retry-After', '%g' % retry))
        return reply

    def send_reply(self, reply, plan=None):
        plan = plan or {}
        if 'badsum' in plan:
            which = plan['badsum'].params.get('which', 'sha256')
            for name, algo in (('Content-Md5', 'md5'),
                               ('X-Openstack-Glare-Content-Sha1', 'sha1'),
                               ('X-Openstack-Glare-Content-Sha256', 'sha256')):
                if which in (algo, 'all') and reply.header(name):
                    bogus = hashlib.new(algo, b'bad' + reply.header(name)
                                        .encode()).hexdigest()
                    reply.set_header(name, bogus)
        head_only = self.command == 'HEAD'
        self.drain_body()
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header('Connection', 'close')
        self.end_headers()
        try:
            if not head_only:
                self.write_body(reply, plan)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            reply.close()

    @staticmethod
    def body_chunks(reply):
        if reply.stream is None:
            if reply.body:
                yield reply.body
            return
        try:
            while True:
                chunk = reply.stream.read(1 << 16)
                if not chunk:
                    return
                yield chunk
        finally:
            reply.close()

    def write_body(self, reply, plan):
        total = reply.body_len or 0
        cut_rule = plan.get('reset') or plan.get('truncate')
        limit = total
        if cut_rule:
            limit = min(total, cut_rule.params.get('after', total // 2))
        flip = total // 2 if ('corrupt' in plan and total) else None
        drip = plan.get('drip')
        sent = 0
        for chunk in self.body_chunks(reply):
            if sent >= limit:
                break
            chunk = chunk[:limit - sent]
            if flip is not None and sent <= flip < sent + len(chunk):
                pos = flip - sent
                chunk = chunk[:pos] + bytes([chunk[pos] ^ 0xFF]) + \
                    chunk[pos + 1:]
            if drip:
                step = max(1, drip.params.get('chunk', 1))
                for i in range(0, len(chunk), step):
                    self.wfile.write(chunk[i:i + step])
                    self.wfile.flush()
                    time.sleep(drip.params.get('interval', 0.2))
            else:
                self.wfile.write(chunk)
            sent += len(chunk)
        self.wfile.flush()
        if cut_rule:
            self.close_connection = True
            if cut_rule.kind == 'reset':
                # SO_LINGER 0 turns close() into a TCP RST.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER,
                    struct.pack('ii', 1, 0))
                self.connection.close()


def json_error_reply(err):
    body = json.dumps(glare_error_body(err)).encode('utf-8')
    return Reply(err.code, [('Content-Type', 'application/json'),
                            ('Content-Length', str(len(body)))], body)


def plain_json(status, obj):
    body = json.dumps(obj).encode('utf-8')
    return Reply(status, [('Content-Type', 'application/json'),
                          ('Content-Length', str(len(body)))], body)


class GlareServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port, store, types, auth='trusted',
                 allow_anonymous=False, public_download=False,
                 control=False, aborted_upload_hold=1.0):
        super().__init__(('127.0.0.1', port), Handler)
        self.store = store
        self.api = GlareAPI(store, types, public_download,
                            aborted_upload_hold)
        self.auth, self.allow_anonymous = auth, allow_anonymous
        self.control = control
        self.faults = Faults()
        self.stats_lock = threading.Lock()
        self.requests = {}

    def authenticate(self, headers):
        if self.auth == 'noauth':
            return noauth_context(headers, self.allow_anonymous)
        return trusted_context(headers, self.allow_anonymous)

    def count(self, method, kind):
        with self.stats_lock:
            key = '%s %s' % (method, kind)
            self.requests[key] = self.requests.get(key, 0) + 1

    def stats(self):
        with self.stats_lock:
            return {'total': sum(self.requests.values()),
                    'requests': dict(self.requests),
                    'faults_applied': dict(self.faults.applied)}

    def reset_stats(self):
        with self.stats_lock:
            self.requests = {}
        with self.faults.lock:
            self.faults.applied = {}


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Glare v1 compatible test server.')
    parser.add_argument('--port', type=int, default=0)
    parser.add_argument('--data', required=True)
    parser.add_argument('--type', action='append', default=[],
                        metavar='NAME=SPEC')
    parser.add_argument('--max-blob-size', type=int,
                        default=DEFAULT_MAX_BLOB_SIZE)
    parser.add_argument('--auth', choices=('trusted', 'noauth'),
                        default='trusted')
    parser.add_argument('--allow-anonymous', action='store_true')
    parser.add_argument('--public-download', action='store_true')
    parser.add_argument('--control', action='store_true')
    parser.add_argument('--fault', action='append', default=[],
                        metavar='SPEC')
    parser.add_argument('--aborted-upload-hold', type=float, default=1.0,
                        metavar='SECONDS')
    args = parser.parse_args(argv)

    try:
        types = {'workflows': workflows_type(args.max_blob_size)}
        for spec in args.type:
            atype = parse_type_spec(spec, args.max_blob_size)
            types[atype.name] = atype
        types['all'] = all_type()
        rules = [FaultRule.from_cli(spec) for spec in args.fault]
    except ValueError as exc:
        parser.error(str(exc))

    store = Store(os.path.abspath(args.data))
    server = GlareServer(args.port, store, types, args.auth,
                         args.allow_anonymous, args.public_download,
                         args.control, args.aborted_upload_hold)
    server.faults.add(rules)

    def stop(signum, frame):
        # shutdown() waits for serve_forever(), so it must not run on the
        # thread that is inside serve_forever().
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print('listening on http://127.0.0.1:%d' % server.server_address[1],
          flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
