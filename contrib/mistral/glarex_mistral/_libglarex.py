"""ctypes binding to the part of libglarex that the expression functions use.

The structures mirror include/glarex.h member by member, at the option
versions named below. tests/contrib/test_contrib.py compares every offset
and size with what the C compiler produces.

Every fetch is made as a glarex_request: the caller's credentials, the
execution it serves, its workflow and its as-of time (glarex_mistral's
Caller). A download blocks its thread for as long as it lasts, so under
eventlet the fetch runs in eventlet's pool of OS threads and the hub keeps
serving every other green thread (offload()).
"""

import ctypes
import json
import os
import sys
import threading

CLIENT_OPTIONS_VERSION = 1
STORE_OPTIONS_VERSION = 1
CTX_OPTIONS_VERSION = 1
REQUEST_OPTIONS_VERSION = 2

# glarex_status codes raised from this side of the binding.
EINVALID = -3
ENOMEM = -8
EAUTH = -11
EIO = -17
EBINARY = -23


class Error(ctypes.Structure):
    _fields_ = [
        ('code', ctypes.c_int),
        ('http_status', ctypes.c_int),
        ('line', ctypes.c_int),
        ('column', ctypes.c_int),
        ('offset', ctypes.c_size_t),
        ('source', ctypes.c_char * 80),
        ('message', ctypes.c_char * 512),
    ]


TraceCallback = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_void_p)


class ClientOptions(ctypes.Structure):
    _fields_ = [
        ('version', ctypes.c_uint),
        ('url', ctypes.c_char_p),
        ('auth_token', ctypes.c_char_p),
        ('noauth_project', ctypes.c_char_p),
        ('noauth_user', ctypes.c_char_p),
        ('noauth_roles', ctypes.c_char_p),
        ('ca_file', ctypes.c_char_p),
        ('client_cert', ctypes.c_char_p),
        ('client_key', ctypes.c_char_p),
        ('insecure', ctypes.c_int),
        ('connect_timeout_ms', ctypes.c_long),
        ('total_timeout_ms', ctypes.c_long),
        ('stall_timeout_ms', ctypes.c_long),
        ('max_retries', ctypes.c_int),
        ('retry_base_ms', ctypes.c_long),
        ('retry_max_ms', ctypes.c_long),
        ('max_json_size', ctypes.c_uint64),
        ('max_download_size', ctypes.c_uint64),
        ('redirect_hosts', ctypes.POINTER(ctypes.c_char_p)),
        ('allow_http_redirects', ctypes.c_int),
        ('trace', TraceCallback),
        ('trace_payload', ctypes.c_void_p),
    ]


class StoreOptions(ctypes.Structure):
    _fields_ = [
        ('version', ctypes.c_uint),
        ('url', ctypes.c_char_p),
        ('client', ClientOptions),
        ('max_blob_size', ctypes.c_uint64),
    ]


class CtxOptions(ctypes.Structure):
    _fields_ = [
        ('version', ctypes.c_uint),
        ('store', StoreOptions),
        ('type_name', ctypes.c_char_p),
        ('workflow_field', ctypes.c_char_p),
        ('resources_field', ctypes.c_char_p),
        ('cache_dir', ctypes.c_char_p),
        ('memory_budget', ctypes.c_uint64),
        ('disk_budget', ctypes.c_uint64),
        ('max_blob_size', ctypes.c_uint64),
        ('stream_threshold', ctypes.c_uint64),
        ('ttl_exact_ms', ctypes.c_long),
        ('ttl_latest_ms', ctypes.c_long),
        ('ttl_drafted_ms', ctypes.c_long),
        ('ttl_negative_ms', ctypes.c_long),
        ('offline', ctypes.c_int),
        ('prefer_own_project', ctypes.c_int),
        ('project', ctypes.c_char_p),
        ('as_of_skew_ms', ctypes.c_long),
    ]


class RequestOptions(ctypes.Structure):
    _fields_ = [
        ('version', ctypes.c_uint),
        ('auth_token', ctypes.c_char_p),
        ('project_id', ctypes.c_char_p),
        ('user_id', ctypes.c_char_p),
        ('roles', ctypes.c_char_p),
        ('execution_id', ctypes.c_char_p),
        ('workflow', ctypes.c_char_p),
        ('as_of_ms', ctypes.c_int64),
        ('progress', ctypes.c_void_p),          # left NULL: no progress reports
        ('progress_payload', ctypes.c_void_p),
    ]


class GlarexError(Exception):
    """A libglarex failure: str() is its message, code a glarex_status."""

    def __init__(self, message, code, http_status=0):
        super().__init__(message)
        self.code = code
        self.http_status = http_status


_P = ctypes.POINTER
_PROTOTYPES = {
    # name: (restype, argtypes). Handles are opaque, so c_void_p.
    'glarex_strerror': (ctypes.c_char_p, [ctypes.c_int]),
    'glarex_ctx_options_init': (ctypes.c_int, [_P(CtxOptions), ctypes.c_uint]),
    'glarex_ctx_new': (ctypes.c_int, [_P(ctypes.c_void_p), _P(CtxOptions),
                                      _P(Error)]),
    'glarex_request_options_init': (ctypes.c_int, [_P(RequestOptions),
                                                   ctypes.c_uint]),
    'glarex_request_new': (ctypes.c_int, [_P(ctypes.c_void_p), ctypes.c_void_p,
                                          _P(RequestOptions), _P(Error)]),
    'glarex_request_free': (None, [ctypes.c_void_p]),
    'glarex_request_fetch': (ctypes.c_int, [_P(ctypes.c_void_p),
                                            ctypes.c_void_p, ctypes.c_char_p,
                                            ctypes.c_char_p, ctypes.c_char_p,
                                            _P(Error)]),
    'glarex_request_fetch_uri': (ctypes.c_int, [_P(ctypes.c_void_p),
                                                ctypes.c_void_p,
                                                ctypes.c_char_p, _P(Error)]),
    'glarex_blob_free': (None, [ctypes.c_void_p]),
    # c_void_p, not c_char_p: the content may hold NUL bytes.
    'glarex_blob_data': (ctypes.c_void_p, [ctypes.c_void_p]),
    'glarex_blob_size': (ctypes.c_uint64, [ctypes.c_void_p]),
    'glarex_blob_path': (ctypes.c_int, [_P(ctypes.c_char_p), ctypes.c_void_p,
                                        _P(Error)]),
    'glarex_blob_info': (ctypes.c_void_p, [ctypes.c_void_p]),
    # jansson, a dependency of libglarex, serialises glarex_blob_info's
    # object, so glare_info() returns exactly what the C evaluator returns.
    'json_dumpb': (ctypes.c_size_t, [ctypes.c_void_p, ctypes.c_void_p,
                                     ctypes.c_size_t, ctypes.c_size_t]),
    'json_delete': (None, [ctypes.c_void_p]),
}

_lock = threading.Lock()
_lib = None
_ctx = None
_ctx_pid = None


def _load():
    path = os.environ.get('GLAREX_LIBRARY') or 'libglarex.so.0'
    try:
        lib = ctypes.CDLL(path)
    except OSError as exc:
        raise GlarexError('cannot load libglarex (GLAREX_LIBRARY=%s): %s'
                          % (path, exc), EINVALID) from None
    for name, (restype, argtypes) in _PROTOTYPES.items():
        func = getattr(lib, name)
        func.restype, func.argtypes = restype, argtypes
    return lib


def _check(lib, rc, err):
    if rc < 0:
        text = err.message.decode('utf-8', 'replace') if err else ''
        raise GlarexError(text or lib.glarex_strerror(rc).decode(), rc,
                          err.http_status if err else 0)


def _env(name):
    """The variable's bytes, None when unset or empty (as the glarex CLI)."""
    return os.environb.get(name.encode()) or None


def _env_bool(name):
    value = os.environ.get(name, '')
    if value.lower() in ('', '0', 'false', 'no', 'off'):
        return 0
    if value.lower() in ('1', 'true', 'yes', 'on'):
        return 1
    raise GlarexError("%s: '%s' is not a boolean (use 1/0, true/false, "
                      "yes/no, on/off)" % (name, value), EINVALID)


def _skew_ms():
    """GLAREX_AS_OF_SKEW in seconds, as the glarex command reads it: unset is
    the library's default (0 here), 0 asks for no allowance (-1 here)."""
    value = os.environ.get('GLAREX_AS_OF_SKEW', '')
    try:
        seconds = float(value) if value else None
    except ValueError:
        seconds = -1.0
    if seconds is not None and (seconds < 0 or seconds != seconds):
        raise GlarexError("GLAREX_AS_OF_SKEW: '%s' is not a number of seconds"
                          % value, EINVALID)
    if seconds is None:
        return 0
    return int(seconds * 1000) or -1


def _new_ctx(lib):
    opts = CtxOptions()
    _check(lib, lib.glarex_ctx_options_init(ctypes.byref(opts),
                                            CTX_OPTIONS_VERSION), None)
    opts.store.url = _env('GLARE_URL')
    opts.store.client.auth_token = _env('OS_AUTH_TOKEN')
    # cache_dir stays NULL: libglarex reads GLAREX_CACHE_DIR itself.
    opts.offline = _env_bool('GLAREX_OFFLINE')
    opts.as_of_skew_ms = _skew_ms()
    ctx, err = ctypes.c_void_p(), Error()
    _check(lib, lib.glarex_ctx_new(ctypes.byref(ctx), ctypes.byref(opts),
                                   ctypes.byref(err)), err)
    return ctx


def _context():
    """The process-wide glarex_ctx, created on first use.

    A forked child (Mistral's API and engine workers) builds its own: a
    context's threads and locks do not survive fork(). The parent's context
    is left alone, since its locks may be held at the moment of the fork.
    """
    global _lib, _ctx, _ctx_pid
    with _lock:
        if _ctx is None or _ctx_pid != os.getpid():
            if _lib is None:
                _lib = _load()
            _ctx, _ctx_pid = _new_ctx(_lib), os.getpid()
        return _lib, _ctx


class Blob:
    """One fetched resource; use it in a with block to release it."""

    def __init__(self, lib, handle):
        self._lib, self._handle = lib, handle

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._lib.glarex_blob_free(self._handle)
        self._handle = None

    def data(self):
        size = self._lib.glarex_blob_size(self._handle)
        ptr = self._lib.glarex_blob_data(self._handle)
        if not ptr and size:
            raise GlarexError('cannot read the cached content of %s'
                              % self.info().get('key'), EIO)
        return ctypes.string_at(ptr, size) if size else b''

    def path(self):
        out, err = ctypes.c_char_p(), Error()
        _check(self._lib, self._lib.glarex_blob_path(
            ctypes.byref(out), self._handle, ctypes.byref(err)), err)
        return os.fsdecode(out.value)

    def info(self):
        obj = self._lib.glarex_blob_info(self._handle)
        if not obj:
            raise GlarexError('out of memory', ENOMEM)
        try:
            size = self._lib.json_dumpb(obj, None, 0, 0)
            buf = ctypes.create_string_buffer(size)
            if not size or self._lib.json_dumpb(obj, buf, size, 0) != size:
                raise GlarexError('cannot serialise the blob info', ENOMEM)
        finally:
            # The object is new (reference count 1): json_decref() is an
            # inline function, json_delete() is what it would call.
            self._lib.json_delete(obj)
        return json.loads(buf.raw.decode('utf-8'))


def _bytes(text):
    return None if text is None else text.encode()


def _new_request(lib, ctx, caller):
    opts = RequestOptions()
    _check(lib, lib.glarex_request_options_init(ctypes.byref(opts),
                                                REQUEST_OPTIONS_VERSION), None)
    opts.auth_token = _bytes(caller.auth_token)
    opts.project_id = _bytes(caller.project_id)
    opts.user_id = _bytes(caller.user_id)
    opts.roles = _bytes(caller.roles)
    opts.execution_id = _bytes(caller.execution_id)
    opts.workflow = _bytes(caller.workflow)
    opts.as_of_ms = caller.as_of_ms
    req, err = ctypes.c_void_p(), Error()
    _check(lib, lib.glarex_request_new(ctypes.byref(req), ctx,
                                       ctypes.byref(opts), ctypes.byref(err)),
           err)
    return req


def _fetch_and_convert(lib, req, args, convert):
    """The blocking part, run off the hub: the fetch (a download, a cache
    file read) and the conversion of the blob, which may map its file.
    Returns (True, result) or (False, exception): eventlet's pool would
    print the traceback of every exception raised through it."""
    try:
        blob, err = ctypes.c_void_p(), Error()
        if len(args) == 1:
            rc = lib.glarex_request_fetch_uri(ctypes.byref(blob), req,
                                              args[0].encode(),
                                              ctypes.byref(err))
        else:
            rc = lib.glarex_request_fetch(ctypes.byref(blob), req,
                                          *(a.encode() for a in args),
                                          ctypes.byref(err))
        _check(lib, rc, err)
        with Blob(lib, blob) as handle:
            return True, convert(handle)
    except Exception as exc:  # handed to the caller's green thread
        return False, exc


def offload(func, *args):
    """func(*args) in eventlet's pool of OS threads when eventlet has
    patched this process (Mistral's services), so that a blocking C call
    holds only its own green thread; a direct call otherwise. ctypes
    releases the GIL around each C call."""
    eventlet = sys.modules.get('eventlet')
    if eventlet is not None and \
            eventlet.patcher.is_monkey_patched('thread'):
        from eventlet import tpool
        return tpool.execute(func, *args)
    return func(*args)


def fetch(caller, args, convert):
    """convert(blob) for the blob that glarex_request_fetch(name, version,
    resource) or, with one argument, glarex_request_fetch_uri(text) returns
    to `caller` (a Caller). Arguments are str."""
    lib, ctx = _context()
    req = _new_request(lib, ctx, caller)
    try:
        ok, result = offload(_fetch_and_convert, lib, req, args, convert)
    finally:
        lib.glarex_request_free(req)
    if not ok:
        raise result
    return result
