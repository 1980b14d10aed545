"""Mistral expression functions backed by libglarex.

    glare(name, version, resource)       the resource's content, as text
    glare(uri)                           the same for a glare:// URI
    glare_path(...), glare_b64(...)      its cached file's path; base64 text
    glare_info(...)                      {id, name, version, key, sha256,
                                          size, content_type}

Mistral finds them through the stevedore namespace
'mistral.expression.functions' (pyproject.toml), which makes each a YAQL
function, a Jinja global and a Jinja filter. Resolution, caching and
checksum verification all happen in libglarex; this package only checks
argument types, names the caller (_caller.py: the execution's identity,
workflow and start) and converts results, off eventlet's hub.

The environment is read once per process, on the first call:

    GLARE_URL         Glare API (http[s]://host:9494), or file:///dir for a
                      local directory store; unset: the embedded default store
    OS_AUTH_TOKEN     sent as X-Auth-Token (Keystone token, or trusted-auth
                      user:project:roles) only when Mistral's authentication
                      is off (single-tenant); with it on, each execution's
                      own token is sent
    GLAREX_CACHE_DIR  cache directory (default $XDG_CACHE_HOME/glarex)
    GLAREX_OFFLINE    1/true/yes/on: serve only cached content
    GLAREX_AS_OF_SKEW seconds of allowance for clock differences in "as of
                      the execution's start" (default 10; 0: none)
    GLAREX_LIBRARY    libglarex to load (default libglarex.so.0 on the
                      loader's search path)
"""

import base64

from glarex_mistral._caller import caller
from glarex_mistral._libglarex import EBINARY, GlarexError, fetch

__all__ = ['GlarexError', 'glare_', 'glare_path_', 'glare_b64_',
           'glare_info_']


def _fetch(fname, context, name, version, resource, convert):
    """convert(blob) for glare(uri) when only the first argument is given,
    else for glare(name, version, resource), fetched as the execution's
    caller. Arguments must be strings: a number or null would otherwise
    reach the resolver as some other reference."""
    args = [('name', name)]
    if version is not None or resource is not None:
        args += [('version', version), ('resource', resource)]
    for arg, value in args:
        if not isinstance(value, str):
            raise TypeError("%s() argument '%s' must be a string, got %s"
                            % (fname, arg, type(value).__name__))
        if '\0' in value:
            # C strings end at NUL: the reference would silently change.
            raise ValueError("%s() argument '%s' contains a NUL character"
                             % (fname, arg))
    return fetch(caller(context), [value for _, value in args], convert)


def _text(blob):
    data = blob.data()
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError:
        info = blob.info()
        raise GlarexError(
            "resource '%s' of %s %s is not UTF-8 text; use glare_path() "
            "or glare_b64() for binary content"
            % (info.get('key'), info.get('name'), info.get('version')),
            EBINARY) from None


def _b64(blob):
    return base64.b64encode(blob.data()).decode('ascii')


def glare_(context, name, version=None, resource=None):
    return _fetch('glare', context, name, version, resource, _text)


def glare_path_(context, name, version=None, resource=None):
    return _fetch('glare_path', context, name, version, resource,
                  lambda blob: blob.path())


def glare_b64_(context, name, version=None, resource=None):
    return _fetch('glare_b64', context, name, version, resource, _b64)


def glare_info_(context, name, version=None, resource=None):
    return _fetch('glare_info', context, name, version, resource,
                  lambda blob: blob.info())
