"""The package layout's import rule: core -> nothing above it; training -> core; evaluation -> both."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

MODEL_DIR = Path(__file__).resolve().parents[1] / "model"
TRAINING = "model.training"
EVALUATION = "model.evaluation"


def module_name(path: Path) -> str:
    """``model/training/data.py`` -> ``model.training.data``."""
    parts = path.relative_to(MODEL_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module an ``import`` or ``from ... import`` names in the file, anywhere in it (relative ones resolved)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            # ``from model import training`` imports the subpackage too.
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def modules_in(where: str) -> list[Path]:
    """The files of the core (``core``), ``training`` or ``evaluation``."""
    if where == "core":
        return sorted(MODEL_DIR.glob("*.py"))
    return sorted((MODEL_DIR / where).rglob("*.py"))


def reaches(imported: set[str], package: str) -> list[str]:
    return sorted(name for name in imported if name == package or name.startswith(package + "."))


@pytest.mark.parametrize("path", modules_in("core"), ids=lambda p: p.name)
def test_core_imports_neither_training_nor_evaluation(path):
    imported = imported_modules(path)
    assert not reaches(imported, TRAINING) + reaches(imported, EVALUATION), f"{path.name} is in the serving core"


@pytest.mark.parametrize("path", modules_in("training"), ids=lambda p: p.name)
def test_training_does_not_import_evaluation(path):
    assert not reaches(imported_modules(path), EVALUATION)


def test_the_checker_sees_every_import_form(tmp_path, monkeypatch):
    """A core module importing training in any of the usual ways is caught (guards the rule above)."""
    fake_model = tmp_path / "model"
    fake_model.mkdir()
    monkeypatch.setattr(sys.modules[__name__], "MODEL_DIR", fake_model)
    forms = [
        "import model.training.data\n",
        "from model.evaluation.report import write_eval_report\n",
        "from model import training\n",
        "from .training import data\n",
        "def later():\n    from model.evaluation import plots\n",
    ]
    for index, source in enumerate(forms):
        path = fake_model / f"core_{index}.py"
        path.write_text(source)
        imported = imported_modules(path)
        assert reaches(imported, TRAINING) + reaches(imported, EVALUATION), source
    clean = fake_model / "clean.py"
    clean.write_text("from model.scoring import Scorer\nimport numpy\n")
    assert not reaches(imported_modules(clean), TRAINING) + reaches(imported_modules(clean), EVALUATION)
