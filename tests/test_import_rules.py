"""Dependency direction: nothing imports `api` but the app entry point; only bot/nlu_client.py speaks Rasa's HTTP API."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_bot_and_knowledge_never_import_api():
    for package in ("bot", "knowledge"):
        for path in (ROOT / package).rglob("*.py"):
            offending = {n for n in _imports(path) if n == "api" or n.startswith("api.")}
            assert not offending, f"{path.relative_to(ROOT)} imports {offending}"


def test_knowledge_never_imports_bot():
    for path in (ROOT / "knowledge").rglob("*.py"):
        assert not {n for n in _imports(path) if n == "bot" or n.startswith("bot.")}, path


def test_no_app_code_imports_rasa_and_only_the_nlu_client_calls_model_parse():
    for package in ("bot", "knowledge", "api"):
        for path in (ROOT / package).rglob("*.py"):
            assert not {n for n in _imports(path) if n.split(".")[0] == "rasa"}, path
            if path.name != "nlu_client.py":
                assert "/model/parse" not in path.read_text(encoding="utf-8"), path
