"""Glare artifact type ``workflows``: a Mistral workflow and its resources.

Glare imports this module through ``custom_artifact_types_modules =
glarex_glare.workflows`` and serves the type once ``workflows`` is listed in
``enabled_artifact_types`` (see glare.conf.sample).  glarex reads
``resources`` by key (``glare('my_wf', '1.0', 'heal_vm_script.sh')``) and
``workflow`` when a reference names no resource.

tests/contrib/test_contrib.py compares these declarations with the schema
that tests/glare_server.py serves, so the two cannot drift apart.
"""

from glare.objects import base
from glare.objects.meta import wrappers

Blob = wrappers.BlobField.init
Folder = wrappers.FolderField.init

# Glare's default (wrappers.DEFAULT_MAX_BLOB_SIZE), written out because glarex
# and the test server are built around it.
MAX_BLOB_SIZE = 10485760


class Workflows(base.BaseArtifact):
    # Neither blob field is mutable: once an artifact is active its content
    # can never change, which is what lets glarex cache it by sha256 forever.
    fields = {
        'workflow': Blob(max_blob_size=MAX_BLOB_SIZE,
                         required_on_activate=True,
                         mutable=False,
                         description="Mistral workflow definition (YAML)."),
        'resources': Folder(max_blob_size=MAX_BLOB_SIZE,
                            max_size=255,
                            required_on_activate=False,
                            mutable=False,
                            default={},
                            description="Dict of resources (scripts, images) "
                                        "used by the workflow; key is the "
                                        "resource file name."),
    }

    @classmethod
    def get_type_name(cls):
        return "workflows"

    @classmethod
    def get_display_type_name(cls):
        return "Workflows"
