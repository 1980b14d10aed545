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
argument types and converts results.

The environment is read once per process, on the first call:

    GLARE_URL         Glare API (http[s]://host:9494), or file:///dir for a
                      local directory store; unset: the embedded default store
    OS_AUTH_TOKEN     sent as X-Auth-Token (Keystone token, or trusted-auth
                      user:project:roles)
    GLAREX_CACHE_DIR  cache directory (default $XDG_CACHE_HOME/glarex)
    GLAREX_OFFLINE    1/true/yes/on: serve only cached content
    GLAREX_LIBRARY    libglarex to load (default libglarex.so.0 on the
                      loader's search path)
"""

import base64

from glarex_mistral._libglarex import EBINARY, GlarexError, fetch

__all__ = ['GlarexError', 'glare_', 'glare_path_', 'glare_b64_',
           'glare_info_']


def _fetch(fname, name, version, resource):
    """Fetches glare(uri) when only the first argument is given, else
    glare(name, version, resource). Arguments must be strings: a number or
    null would otherwise reach the resolver as some other reference."""
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
    return fetch(*(value for _, value in args))


def glare_(context, name, version=None, resource=None):
    with _fetch('glare', name, version, resource) as blob:
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


def glare_path_(context, name, version=None, resource=None):
    with _fetch('glare_path', name, version, resource) as blob:
        return blob.path()


def glare_b64_(context, name, version=None, resource=None):
    with _fetch('glare_b64', name, version, resource) as blob:
        return base64.b64encode(blob.data()).decode('ascii')


def glare_info_(context, name, version=None, resource=None):
    with _fetch('glare_info', name, version, resource) as blob:
        return blob.info()
