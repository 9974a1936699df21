"""scripts/check_structure.py, the layout check scripts/test runs, on small crates made
here: it passes a layered crate, and fails — naming the place — on an import cycle
between modules and on a function past the length limit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "check_structure.py"


def _crate(root: Path, files: dict[str, str]) -> Path:
    crate = root / "crates" / "demo"
    for name, text in files.items():
        path = crate / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return crate


def _check(crate: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(crate)], capture_output=True,
                          text=True, timeout=60)


def test_a_layered_crate_passes(tmp_path):
    crate = _crate(tmp_path, {
        "lib.rs": "mod top;\nmod bottom;\n",
        "top.rs": "use crate::bottom::Thing;\npub fn f(_: Thing) {}\n",
        "bottom/mod.rs": "mod inner;\npub struct Thing;\n",
        "bottom/inner.rs": "use super::Thing;\nfn g(_: Thing) {}\n",
    })
    r = _check(crate)
    assert r.returncode == 0, r.stdout


def test_an_import_cycle_fails_naming_each_edge(tmp_path):
    crate = _crate(tmp_path, {
        "lib.rs": "mod a;\nmod b;\n",
        "a.rs": "use crate::b::B;\npub struct A;\n",
        "b.rs": "// use crate::a::A; in a comment does not count\npub struct B(crate::a::A);\n",
    })
    r = _check(crate)
    assert r.returncode == 1
    assert "import cycle under crate root: a <-> b" in r.stdout
    assert "b -> a:" in r.stdout and "b.rs:2" in r.stdout


def test_a_function_past_the_limit_fails_and_one_at_it_passes(tmp_path):
    at_limit = "fn ok() {\n" + "    let _ = 1;\n" * 118 + "}\n"
    over = "fn long() {\n" + "    let _ = 1;\n" * 119 + "}\n"
    r = _check(_crate(tmp_path / "a", {"lib.rs": at_limit}))
    assert r.returncode == 0, r.stdout
    r = _check(_crate(tmp_path / "b", {"lib.rs": at_limit + over}))
    assert r.returncode == 1
    assert "lib.rs:121: fn long is 121 lines" in r.stdout
