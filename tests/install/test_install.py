#!/usr/bin/python3
"""Installs glarex into a temporary DESTDIR and uses it as a user would (suite `install`).

How: `meson install --no-rebuild --destdir D` from the build directory the test runs in.
A second build configured with `--prefix=<tmp>` would install without tricks, but it
rebuilds the whole tree (minutes on a loaded machine), and the running build's prefix
cannot be changed under it. DESTDIR keeps the configured prefix, so the staged glarex.pc
still says e.g. prefix=/usr/local; pkg-config is pointed at the staged tree with
PKG_CONFIG_SYSROOT_DIR=D, which puts D in front of every -I and -L it prints: how
distributions build against a staged install. (`--destdir` exists since meson 0.57.)
`--no-rebuild` because `meson test` has built the test's dependencies, and a rebuild
from inside a running test would race the other tests for the build tree; installable
outputs that were never built are built first, alone.

Then it checks the installed tree (every file meson lists as installed, and by name the
library, glarex.h, glarex.pc, the glarex command, the Lua module), builds
examples/executor/executor.c against the installed glarex.pc, runs it with the installed
library against a local store, and loads the installed Lua module from a plain lua5.4.

Under sanitizers it exits 77 (skip): the installed library is instrumented, the flags
needed to link against it are not in glarex.pc, and lua5.4 cannot load it without
preloading the runtime. The normal build runs this test.
"""
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

ENV = os.environ
SOURCE = ENV["GLAREX_TEST_SOURCE_DIR"]
BUILD = ENV["GLAREX_TEST_BUILD_DIR"]
VERSION = ENV["GLAREX_TEST_VERSION"]
LUA = ENV.get("GLAREX_TEST_LUA", "")
LUA_MODULE = ENV.get("GLAREX_TEST_LUA_MODULE") == "true"
EXAMPLES = os.path.join(SOURCE, "examples")

# Installed paths, as the configured prefix names them (libdir may be absolute).
PREFIX = ENV["GLAREX_TEST_PREFIX"]
LIBDIR = os.path.join(PREFIX, ENV["GLAREX_TEST_LIBDIR"])
PCDIR = os.path.join(LIBDIR, "pkgconfig")
LUADIR = os.path.join(PREFIX, "lib", "lua", "5.4")
GLAREX = os.path.join(PREFIX, "bin", "glarex")
MANPAGE = os.path.join(PREFIX, ENV["GLAREX_TEST_MANDIR"], "man1", "glarex.1")

SCRIPT = "#!/bin/sh\n# heal one VM\nsystemctl restart nova-compute\n"


def run(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    if r.returncode != 0:
        raise AssertionError("%s: exit %d\n%s%s" % (shlex.join(cmd), r.returncode,
                                                    r.stdout, r.stderr))
    return r


class Install(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="glarex-install-")
        cls.destdir = os.path.join(cls.tmp, "destdir")
        with open(os.path.join(BUILD, "meson-info", "intro-installed.json")) as f:
            cls.installed = json.load(f)  # built or source file -> installed path
        missing = [os.path.relpath(src, BUILD) for src in cls.installed
                   if src.startswith(BUILD + os.sep) and not os.path.exists(src)]
        if missing:
            run([shutil.which("ninja") or "ninja", "-C", BUILD] + missing)
        run([ENV["GLAREX_TEST_MESON"], "install", "-C", BUILD, "--no-rebuild",
             "--quiet", "--destdir", cls.destdir])
        cls.store = "file://" + os.path.join(cls.tmp, "store")
        run([ENV["GLAREX_TEST_MKSTORE"], cls.store, "heal_vms", "1.0",
             "heal_vm_script.sh", SCRIPT])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def staged(self, *path):
        """Where an installed absolute path is in the DESTDIR tree."""
        return os.path.join(self.destdir, os.path.relpath(os.path.join(*path), "/"))

    def runtime_env(self, **extra):
        return dict(ENV, LD_LIBRARY_PATH=self.staged(LIBDIR), **extra)

    def test_every_listed_file_is_installed(self):
        # Man pages and docs, when the build installs any, are in this listing too.
        self.assertTrue(self.installed)
        for dest in self.installed.values():
            self.assertTrue(os.path.lexists(self.staged(dest)), dest)

    def test_the_parts_a_user_needs(self):
        parts = [os.path.join(LIBDIR, "libglarex.so"),
                 os.path.join(LIBDIR, "libglarex.so.0"),
                 os.path.join(PCDIR, "glarex.pc"),
                 os.path.join(PREFIX, "include", "glarex.h"),
                 GLAREX, MANPAGE]
        if LUA_MODULE:
            parts.append(os.path.join(LUADIR, "glarex.so"))
        for path in parts:
            self.assertTrue(os.path.exists(self.staged(path)), path)
        self.assertTrue(os.access(self.staged(GLAREX), os.X_OK))
        with open(self.staged(PCDIR, "glarex.pc")) as f:
            pc = f.read()
        self.assertIn("prefix=" + PREFIX + "\n", pc)
        self.assertIn("Version: " + VERSION + "\n", pc)

    def test_installed_command_runs(self):
        r = run([self.staged(GLAREX), "--version"], env=self.runtime_env())
        self.assertIn(VERSION, r.stdout)

    def test_installed_command_runs_the_main_job(self):
        """workflow-create then eval, as the README's demo does, on a fresh store."""
        store = "file://" + os.path.join(self.tmp, "cli-store")
        env = self.runtime_env(GLARE_URL=store,
                               GLAREX_CACHE_DIR=os.path.join(self.tmp, "cli-cache"))
        heal = os.path.join(EXAMPLES, "heal_vms")
        run([self.staged(GLAREX), "-q", "workflow-create", os.path.join(heal, "heal_vms.yaml"),
             "--resource", "heal_vm_script.sh=" + os.path.join(heal, "heal_vm_script.sh")],
            env=env)
        r = run([self.staged(GLAREX), "eval", "--raw",
                 "<% glare('heal_vms', '1.0', 'heal_vm_script.sh') %>"], env=env)
        with open(os.path.join(heal, "heal_vm_script.sh")) as f:
            self.assertEqual(r.stdout, f.read())

    def test_completion_scripts_are_where_the_shells_look(self):
        bash = os.path.join(PREFIX, ENV["GLAREX_TEST_BASH_COMPLETIONS"], "glarex")
        zsh = os.path.join(PREFIX, ENV["GLAREX_TEST_DATADIR"], "zsh", "site-functions",
                           "_glarex")
        printed = run([self.staged(GLAREX), "completion", "bash"],
                      env=self.runtime_env()).stdout
        with open(self.staged(bash), encoding="utf-8") as f:
            self.assertEqual(f.read(), printed)
        with open(self.staged(zsh), encoding="utf-8") as f:
            self.assertTrue(f.read().startswith("#compdef glarex\n"))

    def test_man_page_is_a_valid_page(self):
        page = self.staged(MANPAGE)
        with open(page, encoding="utf-8") as f:
            text = f.read()
        self.assertTrue(text.startswith(".TH GLAREX 1 "), text[:40])
        self.assertIn("glarex " + VERSION, text)
        groff = shutil.which("groff")
        if not groff:
            self.skipTest("no groff to render the page")
        r = subprocess.run([groff, "-man", "-Tutf8", "-ww", page], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        for command in ("workflow-create", "workflow-list", "workflow-show",
                        "workflow-delete", "resource-list", "resource-get", "eval",
                        "render", "resolve", "cache"):
            self.assertIn(command, r.stdout)

    def test_executor_builds_against_installed_pc_and_runs(self):
        pkg_config = ENV.get("GLAREX_TEST_PKG_CONFIG")
        if not pkg_config:
            self.skipTest("no pkg-config")
        search = [self.staged(PCDIR)] + ENV.get("PKG_CONFIG_PATH", "").split(os.pathsep)
        env = dict(ENV, PKG_CONFIG_PATH=os.pathsep.join(filter(None, search)),
                   PKG_CONFIG_SYSROOT_DIR=self.destdir)
        flags = run([pkg_config, "--cflags", "--libs", "glarex"], env=env).stdout.split()
        self.assertIn("-I" + self.staged(PREFIX, "include"), flags)

        exe = os.path.join(self.tmp, "executor")
        run([ENV.get("GLAREX_TEST_CC", "cc"), "-std=c11", "-pedantic", "-Wall", "-Wextra",
             "-Werror", "-o", exe, os.path.join(EXAMPLES, "executor", "executor.c")]
            + flags + ["-pthread"])

        # It must load the installed library, not the one in the build tree.
        loaded = run([exe], env=self.runtime_env(LD_TRACE_LOADED_OBJECTS="1")).stdout
        self.assertIn(self.staged(LIBDIR, "libglarex.so.0"), loaded)

        r = run([exe, "--threads", "2", "--store", self.store,
                 "--cache-dir", os.path.join(self.tmp, "cache"),
                 "--task", os.path.join(EXAMPLES, "executor", "task.json"),
                 "--context", os.path.join(EXAMPLES, "executor", "context.json")],
                env=self.runtime_env())
        lines = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertEqual([l["index"] for l in lines], [0, 1, 2])
        self.assertTrue(all(l["input"]["cmd"] == SCRIPT for l in lines))

    @unittest.skipUnless(LUA_MODULE and LUA, "the Lua module is not built")
    def test_lua_loads_the_installed_module(self):
        env = self.runtime_env(LUA_CPATH=self.staged(LUADIR, "?.so"))
        r = run([LUA, "-e", 'local g = require "glarex"; print(g.version, '
                 'package.searchpath("glarex", package.cpath))'], env=env)
        self.assertEqual(r.stdout.split(), [VERSION, self.staged(LUADIR, "glarex.so")])

        r = run([LUA, os.path.join(EXAMPLES, "lua", "list_resources.lua"), self.store,
                 "heal_vms", "1.0", os.path.join(self.tmp, "luacache")], env=env)
        self.assertTrue(r.stdout.endswith("  %d  heal_vm_script.sh\n" % len(SCRIPT)),
                        r.stdout)


if __name__ == "__main__":
    if ENV.get("GLAREX_TEST_SANITIZE", "none") not in ("", "none"):
        print("skipped under sanitizers: see the comment at the top of this file")
        sys.exit(77)
    unittest.main(verbosity=2)
