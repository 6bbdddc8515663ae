"""Sandboxed Jinja2 SMS templates: ``{{first-name}}`` reads meta key "first-name". Hyphen rule:
inside a tag ``a-b`` (no spaces) is the key "a-b" but ``a - b`` subtracts; every part must start
like an identifier, so ``count-1`` subtracts too."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

from jinja2 import StrictUndefined, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.filters import FILTERS
from jinja2.runtime import missing as _no_object
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.tests import TESTS

from campaign.templates_engine.bounds import (
    FILTER_ARGUMENTS,
    MAX_INTERMEDIATE_LENGTH,
    MAX_RENDERED_LENGTH,
    TEST_ARGUMENTS,
    UNKNOWN,
    OutOfBounds,
    bounded,
    number_problem,
    result_problem,
)

MAX_TEMPLATE_LENGTH = 1600

ALLOWED_FILTERS: frozenset[str] = frozenset({
    "default", "d", "upper", "lower", "title", "capitalize", "trim", "replace", "truncate",
    "length", "count", "round", "int", "float", "string", "first", "last", "abs", "urlencode",
})  # fmt: skip
ALLOWED_TESTS: frozenset[str] = frozenset({
    "defined", "undefined", "none", "boolean", "true", "false", "integer", "float", "number",
    "string", "lower", "upper", "odd", "even", "divisibleby", "in", "eq", "equalto", "ne",
    "lt", "lessthan", "le", "gt", "greaterthan", "ge",
})  # fmt: skip
# Names of Jinja/Flask globals and Jinja's implicit variables: always a probe, never contact data.
RESERVED_NAMES: frozenset[str] = frozenset({
    "config", "request", "session", "g", "url_for", "get_flashed_messages", "self", "loop",
    "caller", "varargs", "kwargs", "super", "range", "lipsum", "cycler", "joiner",
    "namespace", "dict",
})  # fmt: skip

_OPTIONAL_FILTERS = frozenset({"default", "d"})
_GUARD_TESTS = frozenset({"defined", "undefined"})
_SEQUENCE_TYPES = (str, list, tuple)
_MINUS = ("operator", "-")
_ALLOWED_NODES: tuple[type[nodes.Node], ...] = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.If, nodes.CondExpr, nodes.Const,
    nodes.Name, nodes.List, nodes.Tuple, nodes.Concat, nodes.Filter, nodes.Test, nodes.Keyword,
    nodes.Compare, nodes.Operand, nodes.And, nodes.Or, nodes.Not, nodes.Neg, nodes.Pos,
    nodes.Add, nodes.Sub, nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Mod,
)  # fmt: skip
_REFUSALS: dict[type[nodes.Node], str] = {
    nodes.Getattr: "attribute access is not allowed", nodes.Getitem: "item access is not allowed",
    nodes.Slice: "slicing is not allowed", nodes.Call: "function calls are not allowed",
    nodes.Pow: "the ** operator is not allowed", nodes.For: "for loops are not allowed",
    nodes.Assign: "'set' is not allowed", nodes.AssignBlock: "'set' is not allowed",
    nodes.Include: "'include' is not allowed", nodes.Extends: "'extends' is not allowed",
    nodes.Import: "'import' is not allowed", nodes.FromImport: "'import' is not allowed",
    nodes.Macro: "'macro' is not allowed", nodes.CallBlock: "'call' is not allowed",
    nodes.FilterBlock: "'filter' blocks are not allowed", nodes.With: "'with' is not allowed",
    nodes.Block: "'block' is not allowed", nodes.Scope: "'autoescape' is not allowed",
    nodes.ScopedEvalContextModifier: "'autoescape' is not allowed",
    nodes.Dict: "dict literals are not allowed",
}  # fmt: skip


class TemplateError(ValueError):
    """A template body that is too long, malformed or unsafe."""

    def __init__(self, message: str, lineno: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.lineno = lineno


class RenderError(ValueError):
    """Rendering failed: missing variables, output too long, or a runtime error in an expression."""

    def __init__(self, message: str, missing: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.missing: list[str] = list(missing)


class _MissingVariable(UndefinedError):
    """UndefinedError that remembers which identifier was undefined."""

    def __init__(self, message: str, name: str | None) -> None:
        super().__init__(message)
        self.name = name


class _StrictUndefined(StrictUndefined):
    """StrictUndefined whose error carries the variable name instead of only a message."""

    __slots__ = ()

    def __init__(
        self,
        hint: str | None = None,
        obj: Any = _no_object,
        name: str | None = None,
        exc: Any = None,
    ) -> None:
        # exc is only set by the sandbox for unsafe attributes, which validation already refuses.
        super().__init__(hint, obj, name, functools.partial(_MissingVariable, name=name))


def _safe_replace(value: object, old: object, new: object, count: int | None = None) -> str:
    """``str.replace`` that refuses results over MAX_INTERMEDIATE_LENGTH (``replace("", x)``)."""
    text, old_s, new_s = str(value), str(old), str(new)
    hits = len(text) + 1 if old_s == "" else text.count(old_s)
    if count is not None and count >= 0:
        hits = min(hits, count)
    if len(text) + hits * (len(new_s) - len(old_s)) > MAX_INTERMEDIATE_LENGTH:
        raise SecurityError("replace would build a string over the length limit")
    return text.replace(old_s, new_s, -1 if count is None else count)


class _SmsSandbox(ImmutableSandboxedEnvironment):
    """Sandbox that also refuses ``**``, sequence repetition, ``%`` string formatting and
    arithmetic on or into numbers or texts past the bounds."""

    # Every binary operator, so none is constant-folded at compile time unchecked.
    intercepted_binops = frozenset({"**", "*", "%", "+", "-", "/", "//"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """Refuse operators that can allocate unbounded memory or CPU; delegate the rest."""
        if operator == "**":
            raise SecurityError("the ** operator is not allowed")
        if operator == "*" and any(isinstance(side, _SEQUENCE_TYPES) for side in (left, right)):
            raise SecurityError("repeating text or lists with * is not allowed")
        if operator == "%" and isinstance(left, str):
            raise SecurityError("string formatting with % is not allowed")
        for side in (left, right):
            if problem := number_problem(side):
                raise OutOfBounds(f"the {operator} operator: {problem}")
        result = super().call_binop(context, operator, left, right)
        # Operands within the bounds make a result at most twice their size: cheap to build.
        if problem := result_problem(result):
            raise OutOfBounds(f"the {operator} operator: {problem}")
        return result


def _make_environment() -> _SmsSandbox:
    """Build the shared environment: no globals, allow-listed filters and tests only."""
    env = _SmsSandbox(
        undefined=_StrictUndefined,
        autoescape=False,  # SMS text, not HTML.
        keep_trailing_newline=True,  # The body is sent verbatim; a final newline is content.
    )
    env.globals.clear()
    own = {**FILTERS, "replace": _safe_replace}
    env.filters = {name: bounded("filter", name, own[name]) for name in ALLOWED_FILTERS}
    env.tests = {name: bounded("test", name, TESTS[name]) for name in ALLOWED_TESTS}
    return env


_ENV = _make_environment()


def _unsafe(lineno: int | None, reason: str) -> TemplateError:
    """TemplateError for a refused construct."""
    where = f" at line {lineno}" if lineno else ""
    return TemplateError(f"unsafe construct{where}: {reason}", lineno)


def _unmangle(message: str, wires: Mapping[str, str]) -> str:
    """Put hyphenated keys back into a message that mentions their mangled identifiers."""
    for ident in sorted(wires, key=len, reverse=True):  # Longest first: hex names nest.
        message = message.replace(ident, wires[ident])
    return message


def _syntax_error(exc: TemplateSyntaxError, wires: Mapping[str, str]) -> TemplateError:
    """TemplateError for a Jinja syntax error, naming hyphenated keys as the author wrote them."""
    message = _unmangle(exc.message or "invalid template", wires)
    return TemplateError(f"syntax error at line {exc.lineno}: {message}", exc.lineno)


def _translate(body: str) -> tuple[str, dict[str, str]]:
    """Rewrite hyphenated names in tags to mangled identifiers; returns source and ident->key."""
    try:
        tokens = list(_ENV.lex(body))
    except TemplateSyntaxError as exc:
        raise _syntax_error(exc, {}) from exc
    out: list[str] = []
    wires: dict[str, str] = {}
    line, i = 1, 0
    while i < len(tokens):
        lineno, kind, value = tokens[i]
        # Whitespace control ({{- ... }}) strips newlines from the tokens; restore them so
        # error line numbers still point into the author's body.
        if lineno > line:
            out.append("\n" * (lineno - line))
            line = lineno
        if kind == "name":
            j = i + 1
            parts = [value]
            while j + 1 < len(tokens) and tokens[j][1:] == _MINUS and tokens[j + 1][1] == "name":
                parts.append(tokens[j + 1][2])
                j += 2
            if len(parts) > 1:
                wire = "-".join(parts)
                # Hex keeps the mapping injective; users cannot type it since '_' names are refused.
                value = "_m" + wire.encode("utf-8").hex()
                wires[value] = wire
            elif value.startswith("_"):
                raise _unsafe(lineno, "names starting with '_' are not allowed")
            i = j
        else:
            i += 1
        out.append(value)
        line += value.count("\n")
    return "".join(out), wires


def _defined_when(test: nodes.Node) -> tuple[frozenset[str], frozenset[str]]:
    """Identifiers proven defined when ``test`` is true, and when it is false."""
    if isinstance(test, nodes.Test) and isinstance(test.node, nodes.Name):
        if test.name == "defined":
            return frozenset({test.node.name}), frozenset()
        if test.name == "undefined":
            return frozenset(), frozenset({test.node.name})
    if isinstance(test, nodes.Not):
        when_true, when_false = _defined_when(test.node)
        return when_false, when_true
    if isinstance(test, nodes.And | nodes.Or):
        left_t, left_f = _defined_when(test.left)
        right_t, right_f = _defined_when(test.right)
        if isinstance(test, nodes.And):
            return left_t | right_t, left_f & right_f
        return left_t & right_t, left_f | right_f
    return frozenset(), frozenset()


class _Analyzer:
    """Walk a parsed template: refuse unsafe nodes and record variable uses in source order."""

    def __init__(self, wires: Mapping[str, str]) -> None:
        self.wires = wires
        self.order: list[str] = []
        self.required: set[str] = set()

    def refuse(self, node: nodes.Node, reason: str) -> NoReturn:
        """Raise TemplateError for ``node``."""
        # Some wrapper nodes ({% autoescape %}'s Scope) carry no line; their children do.
        lineno = next((n.lineno for n in (node, *node.find_all(nodes.Node)) if n.lineno), None)
        raise _unsafe(lineno, _unmangle(reason, self.wires))

    def use(self, node: nodes.Name, optional: bool) -> None:
        """Record one reference to a variable."""
        if node.ctx != "load":
            self.refuse(node, "assignment is not allowed")
        if node.name in RESERVED_NAMES:
            self.refuse(node, f"'{node.name}' is a reserved name")
        if node.name not in self.order:
            self.order.append(node.name)
        if not optional:
            self.required.add(node.name)

    def visit(self, node: nodes.Node, guarded: frozenset[str]) -> None:
        """Check ``node`` and its children; ``guarded`` names are known to be defined here."""
        if not isinstance(node, _ALLOWED_NODES):
            reason = _REFUSALS.get(type(node), f"'{type(node).__name__}' is not allowed")
            self.refuse(node, reason)
        if isinstance(node, nodes.Name):
            self.use(node, node.name in guarded)
        elif isinstance(node, nodes.Const) and (problem := number_problem(node.value)):
            self.refuse(node, problem)
        elif isinstance(node, nodes.Filter | nodes.Test):
            self.visit_call_like(node, guarded)
        elif isinstance(node, nodes.If):
            self.visit_if(node, guarded)
        elif isinstance(node, nodes.CondExpr):
            when_true, when_false = _defined_when(node.test)
            self.visit(node.expr1, guarded | when_true)  # Source order: a if test else b.
            self.visit(node.test, guarded)
            if node.expr2 is not None:
                self.visit(node.expr2, guarded | when_false)
        elif isinstance(node, nodes.And | nodes.Or):
            when_true, when_false = _defined_when(node.left)
            narrowed = when_true if isinstance(node, nodes.And) else when_false
            self.visit(node.left, guarded)
            self.visit(node.right, guarded | narrowed)
        else:
            sides = (node.left, node.right) if isinstance(node, nodes.Mul | nodes.Mod) else ()
            if any(_is_sequence_literal(side) for side in sides):
                self.refuse(node, "repeating or formatting text with * or % is not allowed")
            for child in node.iter_child_nodes():
                self.visit(child, guarded)

    def visit_call_like(self, node: nodes.Filter | nodes.Test, guarded: frozenset[str]) -> None:
        """Check a filter or test: allow-listed name, plain arguments."""
        kind, allowed = ("filter", ALLOWED_FILTERS) if isinstance(node, nodes.Filter) else (
            "test", ALLOWED_TESTS)  # fmt: skip
        if node.name not in allowed:
            self.refuse(node, f"{kind} '{node.name}' is not allowed")
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            self.refuse(node, f"*args and **kwargs in a {kind} are not allowed")
        if node.node is None:
            self.refuse(node, f"'{kind}' blocks are not allowed")
        guards = _OPTIONAL_FILTERS if isinstance(node, nodes.Filter) else _GUARD_TESTS
        if node.name in guards and isinstance(node.node, nodes.Name):
            self.use(node.node, optional=True)
        else:
            self.visit(node.node, guarded)
        for child in (*node.args, *node.kwargs):
            self.visit(child, guarded)
        arguments = (FILTER_ARGUMENTS if kind == "filter" else TEST_ARGUMENTS).get(node.name)
        if arguments is not None:
            args = [_constant(arg) for arg in node.args]
            kwargs = {kwarg.key: _constant(kwarg.value) for kwarg in node.kwargs}
            if problem := arguments.problem(args, kwargs):
                self.refuse(node, f"{kind} '{node.name}': {problem}")

    def visit_if(self, node: nodes.If, guarded: frozenset[str]) -> None:
        """Visit an if/elif/else chain, narrowing ``guarded`` per branch."""
        falses = guarded
        for branch in (node, *node.elif_):
            when_true, when_false = _defined_when(branch.test)
            self.visit(branch.test, falses)
            for child in branch.body:
                self.visit(child, falses | when_true)
            falses = falses | when_false
        for child in node.else_:
            self.visit(child, falses)


def _constant(node: nodes.Expr) -> Any:
    """The value of a constant argument such as ``-5``; UNKNOWN when it depends on meta."""
    try:
        # Safe to evaluate: arithmetic is intercepted (never folded) and filters are bounded.
        return node.as_const(nodes.EvalContext(_ENV))
    except nodes.Impossible:
        return UNKNOWN


def _is_sequence_literal(node: nodes.Node) -> bool:
    """True for expressions that are text or lists without evaluating them."""
    literal = isinstance(node, nodes.Const) and isinstance(node.value, _SEQUENCE_TYPES)
    return literal or isinstance(node, nodes.List | nodes.Tuple | nodes.Concat)


class CompiledTemplate:
    """A validated, compiled message template; safe to share across threads and renders.

    Rendering needs no timer: loops, assignments, macros and calls are refused at compile
    time, so evaluation is one pass over an expression tree bounded by the body length. Each
    step is cheap because ``bounds`` limits what it works on: numbers (literals, meta values,
    operator and filter results) to MAX_INT_BITS, filter arguments that set an amount of work
    (``round`` precision, ``truncate`` length, ``trim`` characters) to small ranges checked at
    compile time when constant and at render otherwise, and text a filter or ``+`` grows to
    MAX_INTERMEDIATE_LENGTH; every allowed filter is linear in its input within these bounds.

    ``required_variables`` are those used outside ``x | default(...)``, ``x is defined`` /
    ``x is undefined`` and the branches such tests guard. It is conservative: a use in a
    branch the data never takes, or inside default()'s arguments, still counts as required.
    """

    __slots__ = ("_idents", "_template", "body", "required_variables", "variables")

    def __init__(self, body: str, source: nodes.Template, wires: Mapping[str, str]) -> None:
        analyzer = _Analyzer(wires)
        analyzer.visit(source, frozenset())
        self.body = body
        self.variables: tuple[str, ...] = tuple(wires.get(i, i) for i in analyzer.order)
        self.required_variables: tuple[str, ...] = tuple(
            wires.get(i, i) for i in analyzer.order if i in analyzer.required
        )
        self._idents: dict[str, str] = {wires.get(i, i): i for i in analyzer.order}
        self._template = _ENV.from_string(source)

    def __repr__(self) -> str:
        return f"CompiledTemplate(variables={self.variables!r})"

    def missing(self, meta: Mapping[str, object]) -> list[str]:
        """Required variables absent from ``meta`` (a None value counts as absent)."""
        return [key for key in self.required_variables if meta.get(key) is None]

    def render(
        self, meta: Mapping[str, str | int | float | bool], *, max_length: int = MAX_RENDERED_LENGTH
    ) -> str:
        """Render with ``meta``; values print as ``str(value)``, so True renders "True"."""
        context: dict[str, object] = {}
        for key, ident in self._idents.items():
            value = meta.get(key)
            if value is None:
                continue
            if not isinstance(value, str | int | float | bool):
                raise RenderError(f"variable '{key}' must be text, a number or a boolean")
            if problem := number_problem(value):
                raise RenderError(f"variable '{key}' is too large: {problem}")
            context[ident] = value
        try:
            text = self._template.render(context)
        except _MissingVariable as exc:
            first = next((k for k, i in self._idents.items() if i == exc.name), str(exc.name))
            names = [first, *(key for key in self.missing(meta) if key != first)]
            label = "variable" if len(names) == 1 else "variables"
            quoted = ", ".join(f"'{name}'" for name in names)
            raise RenderError(f"missing {label} {quoted}", names) from exc
        # Any failure inside a user-written expression (bad filter argument, division by
        # zero, sandbox refusal) is a property of the template and data, not a server bug.
        except Exception as exc:
            raise RenderError(f"cannot render template: {exc}") from exc
        if len(text) > max_length:
            raise RenderError(
                f"rendered message is {len(text)} characters, over the limit of {max_length}"
            )
        return text


@functools.lru_cache(maxsize=256)
def compile_template(body: str, *, max_length: int = MAX_TEMPLATE_LENGTH) -> CompiledTemplate:
    """Validate length, syntax and safety, then compile; cached because batches reuse bodies."""
    if len(body) > max_length:
        raise TemplateError(f"template is {len(body)} characters, over the limit of {max_length}")
    source, wires = _translate(body)
    try:
        return CompiledTemplate(body, _ENV.parse(source), wires)
    except TemplateSyntaxError as exc:
        raise _syntax_error(exc, wires) from exc
    # Deep nesting exhausts the parser's or Python compiler's recursion before any limit of ours.
    except (RecursionError, SyntaxError) as exc:
        raise TemplateError("template is nested too deeply") from exc


def template_variables(body: str) -> list[str]:
    """Meta keys ``body`` references, in first-appearance order."""
    return list(compile_template(body).variables)
