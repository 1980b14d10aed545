#!/usr/bin/python3
"""YAML tags through the glarex command: a workflow or context file with a tag
that PyYAML's safe_load refuses (as Mistral reads YAML) is refused, naming the
tag, the file and the line; the tags safe_load reads still work.

    /usr/bin/python3 tests/cli/test_yaml_tags.py --build-dir build [-v]
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cli_support as S  # noqa: E402
from test_inputs import Base  # noqa: E402

APPLY = 'tag:yaml.org,2002:python/object/apply:os.system'

WF = """---
version: '2.0'
wf:
  input:
    - cmd: !!python/object/apply:os.system ["id"]
  tasks:
    run:
      action: std.echo output=<% glare('wf', '1.0', 's.sh') %>
"""


class YamlTagTests(Base):
    def assert_names(self, r, *parts):
        for part in parts:
            self.assertIn(part, r.err)

    def test_workflow_file_with_a_python_tag_is_refused(self):
        wf = self.write('wf.yaml', WF)
        r = self.glarex('workflow-create', wf, '-r', self.script(), '--dry-run', code=1)
        self.assert_names(r, 'wf.yaml: ', APPLY, '(line 5,')

    def test_context_file_with_a_python_tag_is_refused(self):
        ctx = self.write('ctx.yaml', 'a: 1\nb: !!python/object/apply:os.system ["id"]\n')
        r = self.glarex('eval', '<% $.a %>', '--context-file', ctx, code=1)
        self.assert_names(r, 'ctx.yaml: ', APPLY, '(line 2,')

    def test_rendered_file_with_a_local_tag_is_refused(self):
        doc = self.write('doc.yaml', 'x: !custom [1]\n')
        r = self.glarex('render', doc, '-c', '{}', code=1)
        self.assert_names(r, 'doc.yaml: ', "'!custom'", '(line 1,')

    def test_tags_safe_load_reads_still_work(self):
        ctx = self.write('ctx.yaml', 'a: !!str 12\nb: !!map {c: !!int "7"}\nd: ! 5\n')
        r = self.glarex('eval', '<% [$.a, $.b.c, $.d] %>', '--context-file', ctx)
        self.assertEqual(r.json, ['12', 7, 5])


if __name__ == '__main__':
    S.build_dir()
    unittest.main()
