#!/usr/bin/python3
"""The update path against a real Mistral API server (Debian python3-mistral).

    /usr/bin/python3 tests/cli/test_mistral_update.py --build-dir build [-v]

A new version of a workflow that Mistral already has updates it there
(PUT /v2/workflows) instead of failing with 409; a failure after the update
puts the old definition back; workflow-get-definition prints what an
artifact stores; an existing version gets the next one suggested; Mistral's
messages are printed whole.  Mistral is started as tests/cli/test_mistral.py
starts it.  Exits 77 (meson: skipped) when the mistral package is missing.
"""

import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cli_support as S  # noqa: E402
from test_mistral import MistralBase, main  # noqa: E402

# Mistral's schema check of a task with an unknown property answers with a
# message far longer than one error line holds.
LONG_FAULT = """---
version: '2.0'
heal_vms:
  tasks:
    t:
      action: std.echo output=<% glare('heal_vms', '%s', 'heal_vm_script.sh') %>
      no-such-property: 1
"""


class MistralUpdateTests(MistralBase):
    def setUp(self):
        super().setUp()
        self.env['MISTRAL_URL'] = self.mistral.url

    def version_file(self, version):
        """The example workflow as version `version` would have it."""
        with open(S.EXAMPLE_WF) as f:
            text = f.read().replace("'heal_vms', '1.0'", "'heal_vms', '%s'" % version)
        text = text.replace('Heals every host', 'Heals (v%s) every host' % version)
        path = os.path.join(self.home, 'heal_vms-%s.yaml' % version)
        with open(path, 'w') as f:
            f.write(text)
        return path, text

    def create(self, version, *extra, code=0):
        path, _ = self.version_file(version)
        return self.glarex('workflow-create', path, '--version', version,
                           '-r', S.EXAMPLE_SCRIPT, *extra, code=code)

    def definition(self):
        [wf] = self.mistral.workflows()
        return wf['definition']

    def test_a_new_version_updates_mistral(self):
        self.create('1.0')
        [first] = self.mistral.workflows()
        r = self.create('2.0', '-f', 'json')
        self.assertTrue(r.json['mistral_updated'])
        _, text2 = self.version_file('2.0')
        [wf] = self.mistral.workflows()
        self.assertEqual(wf['definition'], text2)
        self.assertEqual(wf['id'], first['id'])  # the same workflow, updated
        self.assertEqual(self.mine(), [('1.0.0', 'active'), ('2.0.0', 'active')])
        r = self.create('3.0', '-v')
        self.assertIn('updating it (PUT /v2/workflows)', r.err)
        self.assertIn('updated to this version', r.out)

    def test_a_failure_after_the_update_puts_the_old_definition_back(self):
        self.create('1.0')
        _, text1 = self.version_file('1.0')
        # activation, the last step, fails after Mistral was updated
        self.glare.fault(kind='500', method='PATCH', path='/artifacts/*', count=-1)
        self.create('2.0', code=1)
        self.assertEqual(self.definition(), text1)
        self.assertEqual(self.mine(), [('1.0.0', 'active')])

    def test_workflow_get_definition(self):
        self.create('1.0')
        self.create('2.0')
        _, text1 = self.version_file('1.0')
        _, text2 = self.version_file('2.0')
        self.assertEqual(self.glarex('workflow-get-definition', 'heal_vms@1.0').out,
                         text1)
        self.assertEqual(self.glarex('workflow-get-definition', 'heal_vms').out, text2)
        r = self.glarex('-f', 'json', 'workflow-get-definition', 'heal_vms@2.0.0')
        self.assertEqual(r.json['definition'], text2)
        self.assertEqual(r.json['version'], '2.0.0')
        r = self.glarex('workflow-get-definition', 'heal_vms@9.0', code=1)
        self.assertIn("no workflow artifact 'heal_vms@9.0'", r.err)

    def test_an_existing_version_gets_the_next_one_suggested(self):
        self.create('1.0')
        self.create('1.2.3')
        r = self.create('1.0', code=1)
        self.assertIn('--version 1.2.4 (the highest now is 1.2.3)', r.err)

    def test_mistral_message_in_full(self):
        path = os.path.join(self.home, 'bad.yaml')
        with open(path, 'w') as f:
            f.write(LONG_FAULT.replace('%s', '1.0'))
        r = self.glarex('workflow-create', path, '-r', S.EXAMPLE_SCRIPT, code=1)
        self.assertIn('POST /v2/workflows: 400', r.err)
        # Mistral's own text, whole: the last line it sent is there
        status, fault = self.fault_of(f_text=LONG_FAULT.replace('%s', '1.0'))
        self.assertEqual(status, 400)
        self.assertGreater(len(fault), 512)
        self.assertIn("Mistral's message in full:\n" + fault, r.err)
        self.assertEqual(self.mine(), [])

    def fault_of(self, f_text):
        req = urllib.request.Request(self.mistral.url + '/v2/workflows',
                                     data=f_text.encode(), method='POST',
                                     headers={'Content-Type': 'text/plain'})
        try:
            urllib.request.urlopen(req, timeout=30).close()
            return 201, ''
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())['faultstring']


if __name__ == '__main__':
    main()
