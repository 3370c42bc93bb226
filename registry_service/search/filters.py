"""Compiles a filter tree to a SQLAlchemy condition with bound parameters.

Attributes compare their column directly. Tags and aliases are rows of their own: a positive
comparison becomes "the row is among the owners of matching tag (alias) rows", an IN over a
subquery that the tag (alias) index answers; a negative comparison (!=, NOT IN, NOT LIKE) becomes
NOT EXISTS of the positive one, so a row without the tag or alias satisfies it. MLflow clients
depend on that: they add ``tag.`mlflow.prompt.is_prompt` != 'true'`` to every model search.

Tag values are indexed by a prefix (see ``Entity.tag_value_prefix``), so = and IN also compare the
prefix: implied by the exact comparison, it only lets the index be used.

Under an OR, every such "among the owners" term is a ``MemberOf``: PostgreSQL plans a plain
``IN (subquery)`` inside an OR as a filter evaluated on every row of a full scan, but
``= ANY(ARRAY(subquery))`` as an index condition, so that the OR becomes a BitmapOr of index scans.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Boolean, ColumnElement, Select, and_, not_, or_, select, true, tuple_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from registry_service.errors import InvalidArgument
from registry_service.search.entities import Attribute, Entity, ValueKind
from registry_service.search.lexer import MAX_INTEGER, MIN_INTEGER, filter_error
from registry_service.search.nodes import (
    NEGATED,
    ORDERING_OPERATORS,
    PATTERN_OPERATORS,
    And,
    AttributeRef,
    Comparison,
    IntegerValue,
    Node,
    Not,
    Operator,
    Or,
    StringValue,
    TagRef,
    Value,
)
from registry_service.validation import parse_stage

# Backslash escapes % and _ in LIKE patterns on every database. PostgreSQL does that by default
# and SQLite only when told, so the ESCAPE clause is always given to make both agree.
LIKE_ESCAPE = "\\"
_INTEGER_TEXT = re.compile(r"-?[0-9]+")


class MemberOf(ColumnElement[bool]):
    """``outer IN (subquery)``, spelled ``outer = ANY(ARRAY(subquery))`` on PostgreSQL.

    The two agree because neither side is ever NULL (the subqueries select key columns).
    """

    inherit_cache = True
    type = Boolean()
    # A condition in its own right: without this, SQLite would get "(… IN …) = 1", which no
    # index serves.
    _is_implicitly_boolean = True
    # SQLAlchemy's protocol for a custom element's children; the type is spelled out because
    # SQLAlchemy's own name for it is private.
    _traverse_internals: list[tuple[str, InternalTraversal]] = [  # noqa: RUF012
        ("outer", InternalTraversal.dp_clauseelement),
        ("subquery", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, outer: ColumnElement[Any], subquery: Select[Any]) -> None:
        self.outer = outer
        self.subquery = subquery


@compiles(MemberOf)
def _member_of(element: MemberOf, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.outer.in_(element.subquery), **kw)


@compiles(MemberOf, "postgresql")
def _member_of_postgresql(element: MemberOf, compiler: SQLCompiler, **kw: Any) -> str:
    outer = compiler.process(element.outer, **kw)
    subquery = compiler.process(element.subquery.scalar_subquery(), **kw)
    return f"{outer} = ANY(ARRAY{subquery})"


def _member(
    outer: ColumnElement[Any], subquery: Select[Any], under_or: bool
) -> ColumnElement[bool]:
    return MemberOf(outer, subquery) if under_or else outer.in_(subquery)


def compile_filter(node: Node | None, entity: Entity) -> ColumnElement[bool]:
    """The condition ``node`` puts on the rows of ``entity``; true() for an empty filter."""
    if node is None:
        return true()
    return _compile(node, entity, under_or=False)


def _compile(node: Node, entity: Entity, under_or: bool) -> ColumnElement[bool]:
    """``under_or``: whether an OR encloses ``node``; see ``Lookup`` for why that matters."""
    # Recursion here is as deep as the parse tree, which the parser bounds.
    match node:
        case And(operands):
            return and_(*(_compile(operand, entity, under_or) for operand in operands))
        case Or(operands):
            return or_(*(_compile(operand, entity, True) for operand in operands))
        case Not(operand):
            return not_(_compile(operand, entity, under_or))
        case Comparison(target=TagRef(key=key)):
            return _tag(node, key, entity, under_or)
        case Comparison(target=AttributeRef() as target):
            attribute = entity.attributes.get(target.name)
            if attribute is None:
                raise filter_error(
                    f"unknown attribute {target.name!r} at position {target.position}; "
                    f"{entity.name} can be filtered on {entity.attribute_names()}"
                )
            return _attribute(node, attribute, entity, under_or)
    raise AssertionError(f"unhandled filter node {node!r}")  # pragma: no cover


def _attribute(
    node: Comparison, attribute: Attribute, entity: Entity, under_or: bool
) -> ColumnElement[bool]:
    if attribute.kind is ValueKind.ALIAS:
        return _alias(node, entity, under_or)
    assert attribute.column is not None
    values: list[str] | list[int]
    if attribute.kind is ValueKind.INTEGER:
        if node.op in PATTERN_OPERATORS:
            raise _bad_operator(node, attribute.name, "an integer attribute")
        values = [_integer(value, attribute.name) for value in node.values]
    elif attribute.kind is ValueKind.STAGE and node.op not in PATTERN_OPERATORS:
        if node.op in ORDERING_OPERATORS:
            raise _bad_operator(node, attribute.name, "the stage")
        values = [_stage(value) for value in node.values]
    else:
        values = [_string(value, node.op) for value in node.values]
    lookup = attribute.lookup
    # Outside an OR the joined column is better: the database can then read one model's
    # versions in index order (say, newest first) and stop after a page.
    if lookup is not None and under_or and node.op not in NEGATED:
        owners = select(lookup.inner).where(_apply(lookup.column, node.op, values))
        return _member(lookup.outer, owners, under_or)
    return _apply(attribute.column, node.op, values)


def _tag(node: Comparison, key: str, entity: Entity, under_or: bool) -> ColumnElement[bool]:
    negated = node.op in NEGATED
    op = NEGATED[node.op] if negated else node.op
    values = [_string(value, op) for value in node.values]
    value = entity.tag_value
    # EQ is spelled as a range: SQLite propagates "value = ?" into substr(value, …) below, which
    # then no longer matches the expression index. Equivalent under byte-wise comparison.
    if op is Operator.EQ:
        exact = and_(value >= values[0], value <= values[0])
    else:
        exact = _apply(value, op, values)
    condition = and_(entity.tag_key == key, exact)
    if op in (Operator.EQ, Operator.IN):
        prefixes = [str(v)[: entity.tag_value_prefix_length] for v in values]
        condition = and_(condition, _apply(entity.tag_value_prefix(value), op, prefixes))
    if negated:
        return ~select(value).where(entity.tag_scope, condition).correlate(entity.table).exists()
    return _member(entity.key, select(entity.tag_owner).where(condition), under_or)


def _alias(node: Comparison, entity: Entity, under_or: bool) -> ColumnElement[bool]:
    negated = node.op in NEGATED
    op = NEGATED[node.op] if negated else node.op
    values = [_string(value, op) for value in node.values]
    condition = _apply(entity.alias_name, op, values)
    if negated:
        return ~(
            select(entity.alias_name)
            .where(entity.alias_scope, condition)
            .correlate(entity.table)
            .exists()
        )
    owners = select(*entity.alias_owner).where(condition)
    if len(entity.alias_target) == 1:
        return _member(entity.alias_target[0], owners, under_or)
    return tuple_(*entity.alias_target).in_(owners)


def _apply(
    column: ColumnElement[Any], op: Operator, values: Sequence[str | int]
) -> ColumnElement[bool]:
    value = values[0]
    match op:
        case Operator.EQ:
            return column == value
        case Operator.NE:
            return column != value
        case Operator.LT:
            return column < value
        case Operator.LE:
            return column <= value
        case Operator.GT:
            return column > value
        case Operator.GE:
            return column >= value
        case Operator.LIKE:
            return column.like(value, escape=LIKE_ESCAPE)
        case Operator.ILIKE:
            return column.ilike(value, escape=LIKE_ESCAPE)
        case Operator.NOT_LIKE:
            return column.not_like(value, escape=LIKE_ESCAPE)
        case Operator.NOT_ILIKE:
            return column.not_ilike(value, escape=LIKE_ESCAPE)
        case Operator.IN:
            return column.in_(values)
        case Operator.NOT_IN:
            return column.not_in(values)
    raise AssertionError(f"unhandled operator {op!r}")  # pragma: no cover


def _string(value: Value, op: Operator) -> str:
    text = value.value if isinstance(value, StringValue) else value.text
    if op in PATTERN_OPERATORS:
        _check_pattern(text, value.position)
    return text


def _check_pattern(pattern: str, position: int) -> None:
    # PostgreSQL rejects a pattern ending in its escape character at run time; refuse it here so
    # the caller gets a bad-argument error instead of a database error.
    index = 0
    while index < len(pattern):
        if pattern[index] == LIKE_ESCAPE:
            if index + 1 == len(pattern):
                raise filter_error(
                    f"the LIKE pattern at position {position} ends in a backslash that escapes "
                    "nothing"
                )
            index += 2
        else:
            index += 1


def _integer(value: Value, attribute: str) -> int:
    if isinstance(value, IntegerValue):
        return value.value
    if _INTEGER_TEXT.fullmatch(value.value):
        number = int(value.value)
        if MIN_INTEGER <= number <= MAX_INTEGER:
            return number
    raise filter_error(
        f"{attribute} needs an integer at position {value.position}, found {value.value[:40]!r}"
    )


def _stage(value: Value) -> str:
    text = value.value if isinstance(value, StringValue) else value.text
    try:
        return parse_stage(text, field="current_stage").value
    except InvalidArgument as error:
        raise filter_error(f"at position {value.position}, {error.message}") from None


def _bad_operator(node: Comparison, attribute: str, what: str) -> InvalidArgument:
    return filter_error(
        f"{node.op.value} cannot be applied to {what} {attribute} at position {node.position}"
    )
