"""The cycle check on small crates, one for each way a cycle hid from its first version:
so it cannot go blind again. Run: `python3 -m unittest discover -s .ci` (the lint does)."""
import os
import tempfile
import textwrap
import unittest

import import_cycles


def crate(files):
    """A workspace with one crate `demo` holding `files` (path under src -> text)."""
    root = tempfile.mkdtemp(prefix="cycles-")
    for path, text in files.items():
        full = os.path.join(root, "demo", "src", path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(textwrap.dedent(text))
    return root


def found(files, allow=()):
    return [names for _, names in import_cycles.find(crate(files), list(allow))]


LIB = "mod a;\nmod b;\n"


class HiddenCycles(unittest.TestCase):
    def test_plain_use_lines(self):
        cycles = found({"lib.rs": LIB, "a.rs": "use crate::b::B;\npub struct A;\n",
                        "b.rs": "use crate::a::A;\npub struct B;\n"})
        self.assertEqual(cycles, [["demo/src/a.rs", "demo/src/b.rs"]])

    def test_an_inline_path(self):
        cycles = found({"lib.rs": LIB, "a.rs": "use crate::b::B;\npub fn f() {}\n",
                        "b.rs": "pub struct B;\nfn g() { crate::a::f(); }\n"})
        self.assertEqual(len(cycles), 1)

    def test_a_grouped_and_aliased_use_of_any_visibility(self):
        cycles = found({"lib.rs": LIB, "a.rs": "pub(crate) use crate::{b::{B as Bee}};\npub struct A;\n",
                        "b.rs": "use super::a::A;\npub struct B;\n"})
        self.assertEqual(len(cycles), 1)

    def test_a_use_relative_to_a_child_declared_in_the_file(self):
        cycles = found({
            "lib.rs": "mod schema;\nmod ws;\n",
            "schema/mod.rs": "mod subscription;\nuse subscription::Sub;\npub struct Schema;\n",
            "schema/subscription.rs": "use crate::ws::Slot;\npub struct Sub;\n",
            "ws.rs": "use crate::schema::Schema;\npub struct Slot;\n",
        })
        self.assertEqual(len(cycles), 1)
        self.assertIn("demo/src/ws.rs", cycles[0])

    def test_through_a_reexport_in_mod_rs(self):
        # c -> m::B, re-exported by m/mod.rs from m/b.rs, which uses c: the edge goes to
        # the file that defines B.
        cycles = found({
            "lib.rs": "mod m;\nmod c;\n",
            "m/mod.rs": "mod b;\npub use b::B;\n",
            "m/b.rs": "use crate::c::C;\npub struct B;\n",
            "c.rs": "use crate::m::B;\npub struct C;\n",
        })
        self.assertEqual(cycles, [["demo/src/c.rs", "demo/src/m/b.rs"]])

    def test_in_a_test_module_after_cfg_test(self):
        cycles = found({"lib.rs": LIB,
                        "a.rs": "#[cfg(test)]\nmod fixtures;\npub struct A;\n#[cfg(test)]\nmod tests {\n    use crate::b::B;\n}\n",
                        "b.rs": "pub struct B;\n#[cfg(test)]\nmod tests {\n    use super::super::a::A;\n}\n"})
        self.assertEqual(len(cycles), 1)


class NotCycles(unittest.TestCase):
    def test_a_child_reaching_its_parent_with_super(self):
        cycles = found({"lib.rs": "mod p;\n",
                        "p/mod.rs": "mod c;\nuse c::C;\npub struct P;\n",
                        "p/c.rs": "use super::P;\npub struct C;\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n"})
        self.assertEqual(cycles, [])

    def test_comments_and_strings(self):
        cycles = found({"lib.rs": LIB, "a.rs": "use crate::b::B;\npub struct A;\n",
                        "b.rs": "//! See [`crate::a::A`].\npub struct B;\nconst S: &str = \"crate::a::A\";\n"})
        self.assertEqual(cycles, [])

    def test_an_allowed_cycle(self):
        files = {"lib.rs": LIB, "a.rs": "use crate::b::B;\npub struct A;\n",
                 "b.rs": "use crate::a::A;\npub struct B;\n"}
        cycles = found(files, allow=[{"demo/src/a.rs", "demo/src/b.rs"}])
        self.assertEqual(cycles, [])


if __name__ == "__main__":
    unittest.main()
