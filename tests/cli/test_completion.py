#!/usr/bin/python3
"""glarex completion bash|zsh: the script loaded in bash and queried for commands,
options, formats, artifact names, NAME@VERSION and resource keys from a local store;
"did you mean" for mistyped commands, options, formats, columns, cache subcommands
and configuration keys.

    /usr/bin/python3 tests/cli/test_completion.py --build-dir build [-v]
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cli_support as S  # noqa: E402

WF = """---
version: '2.0'
%s:
  tasks:
    run:
      action: std.echo output=<%% glare('%s') %%>
"""


# zsh's completion system, reduced to what _glarex calls: the words of $LINE, the
# candidates compadd gets that match the word being completed.
ZSH_HARNESS = r"""
compadd() {
    local -a c
    if [[ $1 == -a ]]; then c=(${(P)2}); else c=("$@"); fi
    local w; for w in $c; do [[ $w == ${PREFIX}* ]] && print -r -- $w; done
    return 0
}
_files() { print -r -- '<files>' }
compdef() { : }
source %s
words=("${(@Q)${(z)LINE}}"); CURRENT=${#words}; PREFIX=${words[CURRENT]}
_glarex || true
"""


class Completion(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.home = tempfile.mkdtemp(prefix='glarex-completion-test-')
        cls.env = S.clean_environ(cls.home)
        # the scripts run 'glarex': the one under test
        cls.env['PATH'] = os.path.dirname(S.glarex_binary()) + ':' + cls.env['PATH']
        for name, key, versions in (('heal_vms', 'heal.sh', ('1.0', '1.10', '2.0')),
                                    ('backup', 'dump.sh', ('0.1',))):
            wf = os.path.join(cls.home, name + '.yaml')
            with open(wf, 'w') as f:
                f.write(WF % (name, key))
            for v in versions:
                r = S.run(['workflow-create', wf, '--version', v, '-q',
                           '-r', key + '=' + S.EXAMPLE_SCRIPT], cls.env)
                assert r.code == 0, r
        r = S.run(['completion', 'bash'], cls.env)
        assert r.code == 0, r
        cls.script = os.path.join(cls.home, 'glarex.bash')
        with open(cls.script, 'w') as f:
            f.write(r.out)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.home, True)

    def complete(self, *words, line=None):
        """COMPREPLY for the words (the last one being completed), as bash fills
        COMP_WORDS; or for a command line as typed (COMP_LINE, COMP_POINT)."""
        if line is None:
            setup = 'COMP_WORDS=(%s); COMP_CWORD=%d' % (
                ' '.join("'%s'" % w for w in ('glarex',) + words), len(words))
        else:
            setup = "COMP_LINE='%s'; COMP_POINT=%d" % (line, len(line))
        p = subprocess.run(['bash', '-c', 'source "$1"; %s; _glarex; '
                            'printf "%%s\\n" "${COMPREPLY[@]}"' % setup, 'bash',
                            self.script], env=self.env, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return sorted(w for w in p.stdout.splitlines() if w)

    def test_commands(self):
        self.assertEqual(self.complete('workflow-'),
                         ['workflow-create', 'workflow-delete', 'workflow-get-definition',
                          'workflow-list', 'workflow-show'])
        self.assertEqual(self.complete('comp'), ['completion'])
        self.assertIn('resource-get', self.complete(''))
        self.assertEqual(self.complete('help', 'ev'), ['eval'])
        self.assertEqual(self.complete('cache', ''),
                         ['gc', 'invalidate', 'ls', 'purge', 'stats', 'verify'])
        self.assertEqual(self.complete('completion', ''), ['bash', 'zsh'])

    def test_options(self):
        self.assertEqual(self.complete('workflow-list', '--sort-'),
                         ['--sort-ascending', '--sort-column', '--sort-descending'])
        self.assertEqual(self.complete('eval', '--r'), ['--raw', '--recursive'])
        self.assertEqual(self.complete('cache', 'ls', '--col'), ['--column'])
        self.assertIn('--glare-url', self.complete('--gl'))
        self.assertEqual(self.complete('workflow-show', 'x', '-f', ''),
                         ['json', 'shell', 'table', 'value', 'yaml'])
        self.assertEqual(self.complete('--format', 'y'), ['yaml'])

    def test_names_versions_and_keys_from_the_store(self):
        self.assertEqual(self.complete('workflow-show', ''), ['backup', 'heal_vms'])
        self.assertEqual(self.complete('resource-list', 'he'), ['heal_vms'])
        self.assertEqual(self.complete('workflow-delete', 'heal_vms@1'),
                         ['heal_vms@1.0.0', 'heal_vms@1.10.0'])
        # options and their values before the name are skipped
        self.assertEqual(self.complete('-f', 'json', 'workflow-show', '--config',
                                       '/dev/null', 'b'), ['backup'])
        self.assertEqual(self.complete('resource-get', 'heal_vms@2.0.0', ''), ['heal.sh'])
        self.assertEqual(self.complete('resource-get', '-o', 'out', 'backup@0.1', 'd'),
                         ['dump.sh'])
        self.assertEqual(self.complete('eval', 'x', '--workflow', 'ba'), ['backup'])
        # as typed: bash breaks the word at '@' and replaces only what follows it
        self.assertEqual(self.complete(line='glarex workflow-show heal_vms@2'), ['2.0.0'])
        self.assertEqual(self.complete(line='glarex resource-get backup@0.1.0 '),
                         ['dump.sh'])

    def test_names_from_the_store_are_never_run(self):
        # a name another project made public reaches every user's completion
        evil = 'e$(touch pwned)`touch pwned2`*'
        wf = os.path.join(self.home, 'evil.yaml')
        with open(wf, 'w') as f:
            f.write("---\nversion: '2.0'\nx:\n  tasks:\n    run:\n      action: std.noop\n")
        r = S.run(['workflow-create', wf, '--name', evil, '-q'], self.env)
        self.assertEqual(r.code, 0, r)
        work = tempfile.mkdtemp(dir=self.home)
        old = os.getcwd()
        os.chdir(work)
        try:
            got = self.complete('workflow-show', 'e')
            versions = self.complete('workflow-show', evil + '@')
        finally:
            os.chdir(old)
            S.run(['workflow-delete', evil + '@1.0.0'], self.env)
        self.assertEqual(got, [evil])
        self.assertEqual(versions, [evil + '@1.0.0'])
        self.assertEqual(os.listdir(work), [])

    def zsh_complete(self, line):
        """What the zsh script offers for a command line, with compadd, _files and
        compdef standing in for zsh's completion system (compadd matches the prefix)."""
        script = ZSH_HARNESS % os.path.join(self.home, '_glarex')
        p = subprocess.run(['zsh', '-f', '-c', script], env=dict(self.env, LINE=line),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual((p.returncode, p.stderr), (0, ''))
        return sorted(p.stdout.split('\n')[:-1])

    def test_zsh_script(self):
        r = S.run(['completion', 'zsh'], self.env)
        self.assertTrue(r.out.startswith('#compdef glarex\n'))
        if not shutil.which('zsh'):
            self.skipTest('no zsh')
        with open(os.path.join(self.home, '_glarex'), 'w') as f:
            f.write(r.out)
        p = subprocess.run(['zsh', '-n'], input=r.out, text=True, capture_output=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.zsh_complete('glarex workflow-s'), ['workflow-show'])
        self.assertEqual(self.zsh_complete('glarex workflow-show b'), ['backup'])
        self.assertEqual(self.zsh_complete('glarex workflow-show heal_vms@1'),
                         ['heal_vms@1.0.0', 'heal_vms@1.10.0'])
        self.assertEqual(self.zsh_complete("glarex resource-get backup@0.1.0 ''"),
                         ['dump.sh'])
        self.assertEqual(self.zsh_complete('glarex workflow-list --sort-c'),
                         ['--sort-column'])
        self.assertEqual(self.zsh_complete("glarex -f y"), ['yaml'])
        self.assertEqual(self.zsh_complete("glarex cache st"), ['stats'])
        self.assertEqual(self.zsh_complete("glarex workflow-create ''"), ['<files>'])

    def test_built_scripts_are_the_printed_ones(self):
        built = os.path.join(S.build_dir(), 'src', 'cli', 'completion')
        for shell, name in (('bash', 'glarex'), ('zsh', '_glarex')):
            with open(os.path.join(built, name)) as f:
                self.assertEqual(f.read(), S.run(['completion', shell], self.env).out)

    def test_unknown_shell(self):
        r = S.run(['completion', 'fish'], self.env)
        self.assertEqual(r.code, 2, r)
        self.assertIn("no completion for the shell 'fish'", r.err)


class DidYouMean(unittest.TestCase):
    def setUp(self):
        self.home = tempfile.mkdtemp(prefix='glarex-typo-test-')
        self.addCleanup(shutil.rmtree, self.home, True)
        self.env = S.clean_environ(self.home)

    def test_suggestions(self):
        conf = os.path.join(self.home, 'glarex.conf')
        with open(conf, 'w') as f:
            f.write('glare_ulr = file:///x\n')
        cases = [
            (['workflow-lsit'], "unknown command 'workflow-lsit': did you mean "
                                "'workflow-list'?"),
            (['evl', 'x'], "did you mean 'eval'?"),
            (['workflow-list', '--verbos'], "unknown option '--verbos': did you mean "
                                            "'--verbose'?"),
            (['workflow-list', '--sort-colum', 'name'], "did you mean '--sort-column'?"),
            (['workflow-list', '-f', 'tabel'], "did you mean 'table'?"),
            (['workflow-list', '-c', 'verison'], "did you mean 'version'?"),
            (['cache', 'stauts'], "unknown subcommand 'stauts': did you mean 'stats'?"),
            (['workflow-list', '--config', conf], "unknown key 'glare_ulr': did you "
                                                  "mean 'glare_url'?"),
        ]
        for args, message in cases:
            r = S.run(args, self.env)
            self.assertEqual(r.code, 2, r)
            self.assertIn(message, r.err, r)
        # nothing close: no guess
        r = S.run(['frobnicate'], self.env)
        self.assertNotIn('did you mean', r.err)


if __name__ == '__main__':
    S.build_dir()
    unittest.main()
