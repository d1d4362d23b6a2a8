"""The house rule: `engine` is a library that knows nothing of the terminal app."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_engine_imports_without_textual() -> None:
    code = (
        "import sys, pkgutil, importlib, engine\n"
        "for m in pkgutil.iter_modules(engine.__path__):\n"
        "    importlib.import_module('engine.' + m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('textual', 'tui'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_engine_sources_never_import_textual_or_tui() -> None:
    for path in (ROOT / "engine").rglob("*.py"):
        text = path.read_text()
        assert "import textual" not in text and "from textual" not in text, path
        assert "from tui" not in text and "import tui" not in text, path


def test_nothing_loads_pickles() -> None:
    for folder in ("engine", "tui"):
        for path in (ROOT / folder).rglob("*.py"):
            assert not re.search(r"import pickle|pickle\.loads?\(|torch\.load\(|\.pkl\b", path.read_text()), path
