"""Every public function's docstring says what it costs (the developers' guide's rule).

The rule, checked with :mod:`ast` over the source files of ``src/runtime_alloc``:

* a *public module* is a ``.py`` file whose path below the package has no part
  starting with ``_`` (``__init__.py`` counts as public; ``_ledger.py`` and
  everything under a ``_private/`` folder do not);
* a *public function* is a module-level ``def`` (or ``async def``) of a public
  module, or a method of a public class (a class at module level, or nested in
  a public class, whose name has no leading ``_``), whose name has no leading
  ``_`` (so private helpers and dunder methods are skipped); functions defined
  inside a function body are not visited;
* its docstring states a cost when it contains ``O(``, ``complexity`` or
  ``cost`` (any case): e.g. "Runtime complexity: O(N).", a trailing "O(1).",
  or "Cost: non-blocking, one queue put." for a protocol method or a call that
  blocks.

A function without a docstring fails too. :data:`ALLOWED` names the only
exceptions, each with its reason.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import runtime_alloc

PACKAGE = Path(runtime_alloc.__file__).parent
COST = re.compile(r"O\(|complexity|cost", re.IGNORECASE)

#: ``"path/below/the/package.py:Qualified.name" -> reason`` for the functions allowed to
#: leave the cost out: empty, every public function states its cost. An entry needs a reason
#: why a cost makes no sense; the test also fails for an entry whose function states its
#: cost (or no longer exists), so the list only shrinks.
ALLOWED: dict[str, str] = {}


def public_functions(tree: ast.Module) -> list[tuple[str, str]]:
    """``(qualified name, docstring or "")`` of the public functions and methods of a module."""
    found: list[tuple[str, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if child.name.startswith("_"):  # private, or a dunder method
                continue
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                found.append((prefix + child.name, ast.get_docstring(child) or ""))

    visit(tree, "")
    return found


def missing_costs(source: str, module: str) -> list[str]:
    """``"module:Qualified.name"`` of each public function whose docstring states no cost."""
    return [
        f"{module}:{name}"
        for name, doc in public_functions(ast.parse(source))
        if not COST.search(doc)
    ]


def public_modules() -> list[Path]:
    """The package's public modules (no ``_``-prefixed part below the package but __init__)."""
    return sorted(
        path
        for path in PACKAGE.rglob("*.py")
        if not any(
            part.startswith("_") and part != "__init__.py"
            for part in path.relative_to(PACKAGE).parts
        )
    )


def test_the_rule_flags_a_function_without_a_cost() -> None:
    source = '''
def public_with_cost():
    """Do it. O(1)."""

def public_without_cost():
    """Do it."""

def public_without_docstring():
    pass

def _private():
    """Do it."""

class Public:
    def method(self):
        """Do it."""

    @property
    def prop(self):
        """A value. Runtime complexity: O(N)."""

    def __len__(self):
        """No cost needed: dunder."""

    class Inner:
        def deep(self):
            """Do it; the cost is one queue put."""

        def deeper(self):
            """Do it."""

class _Private:
    def method(self):
        """Do it."""
'''
    assert missing_costs(source, "m.py") == [
        "m.py:public_without_cost",
        "m.py:public_without_docstring",
        "m.py:Public.method",
        "m.py:Public.Inner.deeper",
    ]


def test_every_public_function_states_its_cost() -> None:
    modules = public_modules()
    names = [
        name for path in modules for name, _ in public_functions(ast.parse(path.read_text("utf-8")))
    ]
    assert len(names) > 300, f"the walk found only {len(names)} public functions in {PACKAGE}"
    missing = [
        gap
        for path in modules
        for gap in missing_costs(path.read_text("utf-8"), path.relative_to(PACKAGE).as_posix())
    ]
    unexplained = [gap for gap in missing if gap not in ALLOWED]
    assert not unexplained, (
        f"{len(unexplained)} public functions do not say what they cost (add e.g. "
        '"Runtime complexity: O(N)." to the docstring):\n  ' + "\n  ".join(unexplained)
    )
    stale = sorted(set(ALLOWED) - set(missing))
    assert not stale, (
        "ALLOWED lists functions that state their cost now or no longer exist; delete them:\n  "
        + "\n  ".join(stale)
    )
