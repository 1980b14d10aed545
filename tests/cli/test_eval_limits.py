#!/usr/bin/python3
"""glarex eval under the evaluation limits (the defaults: 64 MiB, 5 s), as a user runs it.

    /usr/bin/python3 tests/cli/test_eval_limits.py --build-dir build [-v]

A result that holds one value many times is charged for every copy before it is
printed; deep nesting and values that hold themselves are errors that name them.
"""

import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cli_support as S  # noqa: E402


class EvalLimitTests(unittest.TestCase):
    def setUp(self):
        self.home = tempfile.mkdtemp(prefix='glarex-cli-limits-')
        self.addCleanup(shutil.rmtree, self.home, True)
        self.env = S.clean_environ(self.home)

    def eval(self, *args):
        t0 = time.monotonic()
        r = S.run(('eval',) + args, self.env, timeout=60)
        return r, time.monotonic() - t0

    def test_copies_of_a_shared_value_are_charged(self):
        # 200 copies of 2 MB: 400 MB of output from 2 MB of Lua strings
        r, secs = self.eval("{{ ['x' * 2000000] * 200 }}")
        self.assertEqual(r.code, 1, r)
        self.assertIn('memory limit of 67108864 bytes', r.err)
        self.assertIn('each copy', r.err)
        self.assertEqual(r.out, '')
        self.assertLess(secs, 5)
        chain = '<% $.l' + '.select([$,$,$,$])' * 12 + ' %>'
        r, secs = self.eval(chain, '-c', '{"l": [1, 2, 3]}')
        self.assertEqual(r.code, 1, r)
        # a first run is compiled under the count hook, which may stop it first
        self.assertRegex(r.err, 'memory limit|instructions')
        self.assertLess(secs, 5)
        # within the limit the copies are printed
        r, _ = self.eval("{{ ['ab'] * 3 }}")
        self.assertEqual(r.out, '["ab","ab","ab"]\n')

    def test_deep_nesting_names_the_nesting(self):
        for tmpl in ('{{ ' + '[' * 60000 + ']' * 60000 + ' }}',
                     '<% ' + '[' * 60000 + ']' * 60000 + ' %>',
                     '<% ' + 'not ' * 30000 + '1 %>',
                     '{{ _' + '.a' * 30000 + ' }}'):
            r, _ = self.eval(tmpl)
            self.assertEqual(r.code, 1, r)
            self.assertIn('nested deeper than 50 levels', r.err)
            self.assertNotIn('internal error', r.err)

    def test_a_value_that_holds_itself(self):
        for tmpl in ('{% set l = [] %}{% set x = l.append(l) %}{{ l }}',
                     "{% set d = {} %}{% set x = d.update({'a': d}) %}{{ d }}"):
            r, _ = self.eval(tmpl)
            self.assertEqual(r.code, 1, r)
            self.assertIn('contains itself', r.err)
            self.assertNotIn('internal error', r.err)


if __name__ == '__main__':
    S.build_dir()  # takes --build-dir out of argv
    if not os.access(S.glarex_binary(), os.X_OK):
        sys.exit('no glarex binary at %s (give --build-dir)' % S.glarex_binary())
    unittest.main()
