"""The OBS script must run on the Python inside OBS: 3.9 or newer, standard library only."""

from __future__ import annotations

import ast
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PLUGIN = REPO / "obs_plugin"
MODULES = sorted(p.stem for p in PLUGIN.glob("*.py"))


def test_plugin_source_parses_as_python_3_9() -> None:
    for path in PLUGIN.glob("*.py"):
        ast.parse(path.read_text("utf-8"), filename=str(path), feature_version=(3, 9))


def test_plugin_imports_only_the_standard_library_and_itself() -> None:
    allowed = set(sys.stdlib_module_names) | set(MODULES) | {"obspython"}
    for path in PLUGIN.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


def oldest_python() -> str:
    """The oldest Python 3.9+ on this machine (pyenv's 3.9 on the CI image, else this one)."""
    found = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.9*/bin/python3")))
    return found[0] if found else (shutil.which("python3.9") or sys.executable)


def run_isolated(python: str) -> subprocess.CompletedProcess[str]:
    """Import every plugin module with a fake obspython and no site-packages (-S -I)."""
    paths = [str(PLUGIN), str(REPO / "tests" / "plugin")]
    code = (
        f"import sys; sys.path[:0] = {paths!r}\n"
        "import fake_obspython; sys.modules['obspython'] = fake_obspython\n"
        f"for name in {MODULES!r}: __import__(name)\n"
        "print(sys.version_info[:2])\n"
    )
    return subprocess.run([python, "-S", "-I", "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)


def test_every_plugin_module_imports_on_the_oldest_python_and_the_system_python() -> None:
    pythons = {oldest_python()}
    if Path("/usr/bin/python3").exists():  # what Debian's OBS embeds
        pythons.add("/usr/bin/python3")
    for python in pythons:
        result = run_isolated(python)
        assert result.returncode == 0, f"{python}: {result.stderr}"
