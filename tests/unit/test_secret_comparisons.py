"""Every secret comparison goes through the constant-time helpers (`secrets.compare_digest`,
via `config.keys.same_secret`, `api.workers.token_ok`, `KeyRing.match`). A plain `==` leaks
how much of a guess was right through timing, and no behaviour test can tell it from the right
comparison (issue 27's mutation audit): so this reads the source. Any `==`, `!=`, `in` or
`startswith`/`endswith` that touches a value named like a secret is reported."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "lmarenarev"
SECRET_NAME = re.compile(
    r"^(admin_key|api_key|token|given|wanted|expected|secret|digest|password)$"
    r"|_(api_key|token|secret|digest|password)s?$"
)
TEXT_CHECKS = {"startswith", "endswith", "find", "index", "count", "removeprefix"}
# Comparisons that touch such a name but no secret a client presents, each with its reason.
NOT_SECRETS = {
    ("config/keys.py", "entry.digest() in digests"): "config check: two keys alike (no input)",
    ("config/jsonc.py", "token == '/*'"): "a token of the JSONC lexer",
    ("chat/conversation.py", "_text_digest(m.text) not in seen"): "a system text's digest",
    ("config/jsonc.py", "token.startswith('\"')"): "a token of the JSONC lexer",
    ("config/jsonc.py", "last_token.endswith(',')"): "a token of the JSONC lexer",
}


def _names(node: ast.AST) -> set[str]:
    found = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            found.add(child.id)
        elif isinstance(child, ast.Attribute):
            found.add(child.attr)
    return found


def _plain_comparisons(tree: ast.AST) -> list[ast.expr]:
    """`==`/`!=`/`in` comparisons and text checks like `.startswith(...)`."""
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        compares = isinstance(node, ast.Compare) and any(
            isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops
        )
        checks_text = (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                       and node.func.attr in TEXT_CHECKS)
        if compares or checks_text:
            found.append(node)
    return found


def secret_comparisons() -> list[tuple[str, str]]:
    """(module, expression) of every plain comparison that touches a secret-like name."""
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        module = path.relative_to(SOURCE).as_posix()
        for node in _plain_comparisons(ast.parse(path.read_text("utf-8"))):
            if any(SECRET_NAME.search(name) for name in _names(node)):
                found.append((module, ast.unparse(node)))
    return found


def test_no_secret_is_compared_with_a_plain_equals() -> None:
    offenders = [f"{module}: {expression}" for module, expression in secret_comparisons()
                 if (module, expression) not in NOT_SECRETS]
    assert offenders == [], "compare secrets with keys.same_secret (constant time)"


def test_the_known_exceptions_still_exist() -> None:
    """A stale entry would let a real secret comparison hide behind its text."""
    assert set(NOT_SECRETS) <= set(secret_comparisons())


def test_the_secret_checks_use_compare_digest() -> None:
    """The helpers everything goes through, and the file bed's key, call compare_digest."""
    helpers = {
        "config/keys.py": ("same_secret",),
        "api/keys.py": ("match",),
        "api/workers.py": ("token_ok",),
        "media/files/filebed_server.py": ("upload",),
    }
    for module, functions in helpers.items():
        tree = ast.parse((SOURCE / module).read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in functions:
                assert {"compare_digest", "same_secret"} & _names(node), f"{module}: {node.name}"
