#!/usr/bin/python3
"""Runs the examples as their readers would, so they cannot rot (suite `examples`).

examples/executor/executor renders tasks against a local store; examples/lua/
list_resources.lua runs in a plain lua5.4 with LUA_CPATH at the built module. The store is
made by tests/examples/mkstore. tests/meson.build passes every path in the environment.
"""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import unittest

ENV = os.environ
SOURCE = ENV["GLAREX_TEST_SOURCE_DIR"]
BUILD = ENV["GLAREX_TEST_BUILD_DIR"]
EXECUTOR = ENV["GLAREX_TEST_EXECUTOR"]
MKSTORE = ENV["GLAREX_TEST_MKSTORE"]
LUA = ENV.get("GLAREX_TEST_LUA", "")
SAMPLE_TASK = os.path.join(SOURCE, "examples", "executor", "task.json")
SAMPLE_CONTEXT = os.path.join(SOURCE, "examples", "executor", "context.json")
LIST_RESOURCES = os.path.join(SOURCE, "examples", "lua", "list_resources.lua")

SCRIPT = "#!/bin/sh\n# heal one VM\nsystemctl restart nova-compute\n"
RESOURCES = {
    "heal_vm_script.sh": SCRIPT,
    "notes/read me.txt": "keys may hold '/' and spaces\n",
    "config.yaml": "retries: 3\n",
}


def sanitizer_env():
    """lua5.4 is not built with ASan: preload its runtime before the module is loaded."""
    env = dict(ENV)
    if "address" in ENV.get("GLAREX_TEST_SANITIZE", ""):
        cc = ENV.get("GLAREX_TEST_CC", "cc")
        libs = [subprocess.run([cc, "-print-file-name=" + lib], capture_output=True,
                               text=True, check=True).stdout.strip()
                for lib in ("libasan.so", "libubsan.so")]
        env["LD_PRELOAD"] = " ".join(libs)
    return env


def mkstore(url, name, version, resources, replace=False):
    args = [MKSTORE] + (["--replace"] if replace else []) + [url, name, version]
    for key, text in resources.items():
        args += [key, text]
    subprocess.run(args, check=True, timeout=60)


class TempStore(unittest.TestCase):
    """A local store holding heal_vms 1.0, shared by the tests of a class."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="glarex-examples-")
        cls.store = "file://" + cls.dir + "/store"
        cls.cache = os.path.join(cls.dir, "cache")
        mkstore(cls.store, "heal_vms", "1.0", RESOURCES)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def write_json(self, name, value):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            json.dump(value, f)
        return path


class Executor(TempStore):
    def run_executor(self, *args, store=True):
        cmd = [EXECUTOR]
        if store:
            cmd += ["--store", self.store, "--cache-dir", self.cache]
        return subprocess.run(cmd + list(args), capture_output=True, text=True,
                              timeout=120)

    def render(self, *args):
        r = self.run_executor(*args)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        return [json.loads(line) for line in r.stdout.splitlines()]

    def assert_fails(self, status, message, *args, store=True):
        r = self.run_executor(*args, store=store)
        self.assertEqual(r.returncode, status, r.stderr)
        self.assertIn(message, r.stderr)
        self.assertEqual(r.stdout if status == 1 else "", "")
        return r.stderr

    def test_sample_task_over_20_hosts_with_8_threads(self):
        hosts = ["vm-%02d.example.org" % i for i in range(20)]
        context = self.write_json("hosts20.json", {"hosts": hosts, "ssh_user": "admin"})
        lines = self.render("--task", SAMPLE_TASK, "--context", context, "--threads", "8")
        self.assertEqual(len(lines), 20)
        for i, line in enumerate(lines):
            self.assertEqual(line, {"index": i, "action": "std.ssh",
                                    "input": {"cmd": SCRIPT, "host": hosts[i],
                                              "username": "admin"}})

    def test_sample_files_as_shipped(self):
        with open(SAMPLE_CONTEXT) as f:
            hosts = json.load(f)["hosts"]
        lines = self.render("--task", SAMPLE_TASK, "--context", SAMPLE_CONTEXT)
        self.assertEqual([l["input"]["host"] for l in lines], hosts)
        self.assertTrue(all(l["input"]["cmd"] == SCRIPT for l in lines))

    def test_item_bound_as_item_without_a_name(self):
        task = self.write_json("item.json", {
            "action": "std.echo", "with_items": "<% $.keys %>",
            "input": {"key": "<% $.item %>",
                      "text": "<% glare('heal_vms', '1.0', $.item) %>"}})
        keys = sorted(RESOURCES) * 3
        context = self.write_json("keys.json", {"keys": keys})
        lines = self.render("--task", task, "--context", context, "--threads", "5")
        self.assertEqual([l["input"]["key"] for l in lines], keys)
        self.assertEqual([l["input"]["text"] for l in lines],
                         [RESOURCES[k] for k in keys])

    def test_jinja_task(self):
        task = self.write_json("jinja.json", {
            "action": "std.ssh", "with_items": "host in {{ _.hosts }}",
            "input": {"cmd": "{{ glare('heal_vms', '1.0', 'heal_vm_script.sh') }}",
                      "host": "{{ _.host }}"}})
        hosts = ["vm-%d" % i for i in range(10)]
        context = self.write_json("jinja_ctx.json", {"hosts": hosts})
        lines = self.render("--task", task, "--context", context, "--threads", "4")
        self.assertEqual([l["input"] for l in lines],
                         [{"cmd": SCRIPT, "host": h} for h in hosts])

    def test_without_with_items_renders_once(self):
        task = self.write_json("once.json", {
            "action": "std.noop", "input": ["<% $.n + 1 %>", "size <% len($.s) %>"]})
        context = self.write_json("once_ctx.json", {"n": 41, "s": "abc"})
        self.assertEqual(self.render("--task", task, "--context", context),
                         [{"index": 0, "action": "std.noop", "input": [42, "size 3"]}])

    def test_an_empty_list_renders_nothing(self):
        context = self.write_json("empty.json", {"hosts": [], "ssh_user": "x"})
        self.assertEqual(self.render("--task", SAMPLE_TASK, "--context", context), [])

    def test_usage_errors_exit_2(self):
        self.assert_fails(2, "--task is required", store=False)
        self.assert_fails(2, "--threads: '0' is not a number from 1 to 64",
                          "--task", SAMPLE_TASK, "--threads", "0")
        task = ["--task", SAMPLE_TASK]
        self.assert_fails(2, "--threads: 'many'", *task, "--threads", "many")
        self.assert_fails(2, "--threads: '65'", *task, "--threads", "65")
        self.assert_fails(2, "unrecognized option '--bogus'", *task, "--bogus")
        self.assert_fails(2, "unexpected argument 'extra'", *task, "extra")
        self.assert_fails(2, "requires an argument", "--task")

    def test_help(self):
        r = self.run_executor("--help", store=False)
        self.assertEqual(r.returncode, 0)
        self.assertTrue(r.stdout.startswith("usage: executor --task FILE"))
        for opt in ("--task", "--context", "--store", "--cache-dir", "--threads"):
            self.assertIn(opt, r.stdout)

    def test_bad_expression_is_reported_with_its_place(self):
        task = self.write_json("syntax.json", {
            "action": "std.ssh", "with_items": "host in <% $.hosts %>",
            "input": {"host": "<% $.host %>", "args": ["ok", {"cmd": "<% $.host + %>"}]}})
        err = self.assert_fails(1, "executor: input.args[1].cmd: '<% $.host + %>': ",
                                "--task", task, "--context", SAMPLE_CONTEXT)
        self.assertEqual(err.count("\n"), 1, "one line")

    def test_first_failing_item_in_item_order_is_reported(self):
        task = self.write_json("missing.json", {
            "action": "std.echo", "with_items": "key in <% $.keys %>",
            "input": {"text": "<% glare('heal_vms', '1.0', $.key) %>"}})
        keys = ["heal_vm_script.sh"] * 20
        keys[7], keys[15] = "missing-7.sh", "missing-15.sh"
        context = self.write_json("missing_ctx.json", {"keys": keys})
        for _ in range(3):  # the same answer whatever the threads' timing
            err = self.assert_fails(1, 'executor: item 7 ("missing-7.sh"): ', "--task",
                                    task, "--context", context, "--threads", "8")
            self.assertIn("has no resource 'missing-7.sh'", err)

    def test_evaluation_error(self):
        task = self.write_json("method.json", {
            "action": "std.echo", "with_items": "host in <% $.hosts %>",
            "input": {"x": "<% $.host.no_such_method() %>"}})
        self.assert_fails(1, 'executor: item 0 ("vm-1.example.org"): ', "--task", task,
                          "--context", SAMPLE_CONTEXT)

    def test_with_items_must_give_a_list(self):
        task = self.write_json("notalist.json", {
            "action": "a", "with_items": "<% $.ssh_user %>", "input": {}})
        self.assert_fails(1, "with_items: '<% $.ssh_user %>' gave \"cloud-user\", "
                          "not a list", "--task", task, "--context", SAMPLE_CONTEXT)

    def test_bad_files(self):
        missing = os.path.join(self.dir, "no-such-task.json")
        self.assert_fails(1, "executor: unable to open " + missing, "--task", missing)
        bad = os.path.join(self.dir, "malformed.json")
        with open(bad, "w") as f:
            f.write('{"action": "a",\n "input": }\n')
        self.assert_fails(1, "executor: %s:2:11: " % bad, "--task", bad)
        self.assert_fails(1, "a task needs \"action\" (a string) and \"input\"",
                          "--task", self.write_json("noaction.json", {"input": {}}))
        not_object = self.write_json("list_ctx.json", [1, 2])
        self.assert_fails(1, "the context must be a JSON object",
                          "--task", SAMPLE_TASK, "--context", not_object)

    def test_bad_store(self):
        self.assert_fails(1, "unsupported scheme 'ftp'", "--task", SAMPLE_TASK, "--store",
                          "ftp://example.org/x", store=False)


@unittest.skipUnless(LUA, "the Lua module is not built (-Dlua_module=false)")
class ListResources(TempStore):
    def list_resources(self, *args, cache=None):
        env = sanitizer_env()
        env["LUA_CPATH"] = os.path.join(BUILD, "src", "module", "?.so")
        return subprocess.run([LUA, LIST_RESOURCES] + list(args), capture_output=True,
                              text=True, env=env, timeout=120)

    def test_lists_and_verifies_every_resource(self):
        r = self.list_resources(self.store, "heal_vms", "1.0", self.cache)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        expected = ["%s  %d  %s" % (hashlib.sha256(text.encode()).hexdigest(),
                                    len(text.encode()), key)
                    for key, text in sorted(RESOURCES.items())]
        self.assertEqual(r.stdout.splitlines(), expected)

    def test_corrupt_content_is_an_error(self):
        # Damage one blob file of a second artifact in place (layout: docs/store.md).
        mkstore(self.store, "damaged", "2.0", {"a.sh": "echo a\n", "b.sh": "echo b\n"})
        root = os.path.join(self.dir, "store", "workflows")
        for art_id in os.listdir(root):
            record_path = os.path.join(root, art_id, "artifact.json")
            if not os.path.exists(record_path):
                continue
            with open(record_path) as f:
                record = json.load(f)
            if record["artifact"]["name"] == "damaged":
                blob = os.path.join(root, art_id, "blobs",
                                    record["files"]["resources"]["b.sh"])
                os.chmod(blob, 0o600)
                with open(blob, "w") as f:
                    f.write("echo X\n")
        cache = os.path.join(self.dir, "cache2")
        r = self.list_resources(self.store, "damaged", "2.0", cache)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("list_resources: ", r.stderr)
        self.assertIn("b.sh", r.stderr)
        self.assertIn("a.sh", r.stdout)  # the good one is still listed
        self.assertNotIn("b.sh", r.stdout)

    def test_stale_cache_is_a_mismatch(self):
        # A resolution is trusted for minutes (docs/cache.md), so an artifact deleted and
        # stored again under the same name and version meanwhile is served stale.
        cache = os.path.join(self.dir, "cache3")
        mkstore(self.store, "replaced", "1.0", {"run.sh": "echo old\n"})
        r = self.list_resources(self.store, "replaced", "1.0", cache)
        self.assertEqual(r.returncode, 0, r.stderr)
        mkstore(self.store, "replaced", "1.0", {"run.sh": "echo new\n"}, replace=True)
        r = self.list_resources(self.store, "replaced", "1.0", cache)
        self.assertEqual(r.returncode, 1, r.stderr)
        old, new = (hashlib.sha256(t).hexdigest() for t in (b"echo old\n", b"echo new\n"))
        self.assertEqual(r.stderr, "list_resources: run.sh: served %s (9 bytes), "
                         "recorded %s (9)\n" % (old, new))
        self.assertEqual(r.stdout, "")

    def test_missing_artifact(self):
        r = self.list_resources(self.store, "heal_vms", "9.9", self.cache)
        self.assertEqual(r.returncode, 1)
        self.assertIn("list_resources: no artifact named 'heal_vms' version 9.9",
                      r.stderr)

    def test_wrong_arguments(self):
        r = self.list_resources(self.store, "heal_vms")
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage: lua5.4 list_resources.lua STORE_URL NAME VERSION", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
