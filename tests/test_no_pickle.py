"""The source never unpickles: every torch.load is weights_only=True, numpy never allows pickles, skops loads a fixed type list."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "shipyard"
FORBIDDEN_MODULES = {"pickle", "cPickle", "cloudpickle", "dill", "joblib", "shelve", "marshal"}


def calls(name: str):
    """Every call of a function or method named ``name`` in the package, with its file."""
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if called == name:
                    yield path, node


def keyword(node: ast.Call, name: str):
    return next((k.value for k in node.keywords if k.arg == name), None)


def test_no_module_that_unpickles_is_imported():
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not names & FORBIDDEN_MODULES, f"{path}: imports {names & FORBIDDEN_MODULES}"


def test_every_torch_load_is_weights_only():
    found = list(calls("load"))
    torch_loads = [(p, n) for p, n in found if isinstance(n.func, ast.Attribute) and getattr(n.func.value, "id", None) == "torch"]
    assert torch_loads, "the checkpoint's training state is read with torch.load"
    for path, node in torch_loads:
        value = keyword(node, "weights_only")
        assert isinstance(value, ast.Constant) and value.value is True, f"{path}:{node.lineno}: torch.load without weights_only=True"


def test_numpy_never_allows_pickles_and_skops_trusts_a_fixed_list():
    for path, node in calls("load"):
        owner = getattr(node.func.value, "id", None) if isinstance(node.func, ast.Attribute) else None
        if owner == "np":
            value = keyword(node, "allow_pickle")
            assert value is None or (isinstance(value, ast.Constant) and value.value is False), f"{path}:{node.lineno}"
        if owner == "sio":
            trusted = keyword(node, "trusted")
            assert trusted is not None and not (isinstance(trusted, ast.Constant) and trusted.value is True), f"{path}:{node.lineno}: skops trusts everything"
