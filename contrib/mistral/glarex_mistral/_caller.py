"""Who evaluates an expression, for which execution, as of when.

With Mistral's authentication on, the identity is the security context of
the running execution (mistral.context.ctx(): its token, trust-scoped ones
included, project, user and roles). With it off, Mistral has no identity to
give and the process's configured OS_AUTH_TOKEN is used: one identity for
every execution, a single-tenant deployment.

The execution is the data context's __execution. Its workflow names the
artifact of self references (glare('heal_vm_script.sh')), and its root
execution's start is the time references resolve as of, so a sub-workflow
sees the versions its root saw. Both come from Mistral's database, as
Mistral's own execution() reads them, and never change: they are kept per
execution id in a bounded LRU.
"""

import collections
import datetime
import sys

from glarex_mistral._libglarex import EAUTH, GlarexError

# Executions whose workflow and start are kept; one entry is ~200 bytes.
EXECUTION_CACHE_SIZE = 4096

_EPOCH = datetime.datetime(1970, 1, 1)


class Caller(collections.namedtuple(
        'Caller', 'auth_token project_id user_id roles execution_id '
                  'workflow as_of_ms')):
    """The fields of glarex_request_options; None: the context's own."""


_executions = collections.OrderedDict()   # id -> (workflow, as_of_ms)


def epoch_ms(naive_utc):
    """Mistral's DB datetimes are naive UTC: milliseconds since the epoch,
    exactly (no float, no local time zone)."""
    return (naive_utc - _EPOCH) // datetime.timedelta(milliseconds=1)


def _security_context():
    """Mistral's security context when authentication is on, else None.
    Outside a Mistral process (mistral.context never imported) there is
    no execution and no identity to take."""
    auth_ctx = sys.modules.get('mistral.context')
    if auth_ctx is None:
        return None
    from oslo_config import cfg
    if not cfg.CONF.pecan.auth_enable:
        return None
    ctx = auth_ctx.ctx() if auth_ctx.has_ctx() else None
    if ctx is None or not ctx.auth_token:
        # Never fall back to the process's token here: it belongs to
        # another identity than the execution's.
        raise GlarexError(
            'Mistral has authentication on but the expression is evaluated '
            'without a security context holding a token (no request or '
            'trust behind it); glarex fetches only as the execution\'s own '
            'identity', EAUTH)
    return ctx


def _execution_id(context):
    """The data context's __execution id. YAQL passes its context, Jinja
    the data dict; a Jinja filter passes the piped value instead."""
    try:
        execution = context['__execution']
    except (KeyError, TypeError, IndexError):
        return None
    return execution.get('id') if isinstance(execution, dict) else None


def _read_execution(execution_id):
    """(workflow name, root execution's start in ms) from Mistral's DB, in
    the engine's current transaction, with the caller's access rights."""
    from mistral.db.v2 import api as db_api
    wf_ex = db_api.get_workflow_execution(execution_id)
    root = wf_ex
    if wf_ex.root_execution_id and wf_ex.root_execution_id != wf_ex.id:
        root = db_api.get_workflow_execution(wf_ex.root_execution_id)
    return wf_ex.workflow_name, epoch_ms(root.created_at)


def _execution(execution_id):
    found = _executions.get(execution_id)
    if found is not None:
        _executions.move_to_end(execution_id)
        return found
    found = _read_execution(execution_id)
    _executions[execution_id] = found
    while len(_executions) > EXECUTION_CACHE_SIZE:
        _executions.popitem(last=False)
    return found


def caller(context):
    """The Caller for an expression evaluated with Mistral's data context
    `context` (None outside an execution)."""
    ctx = _security_context()
    if ctx is None:
        identity = (None, None, None, None)
    else:
        identity = (ctx.auth_token, ctx.project_id, ctx.user_id,
                    ','.join(ctx.roles or ()) or None)
    execution_id = _execution_id(context)
    if execution_id is None or 'mistral.context' not in sys.modules:
        return Caller(*identity, execution_id=None, workflow=None,
                      as_of_ms=0)
    workflow, as_of_ms = _execution(execution_id)
    return Caller(*identity, execution_id=execution_id, workflow=workflow,
                  as_of_ms=as_of_ms)
