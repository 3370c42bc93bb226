"""The syntax tree of a search filter: plain frozen records, independent of any database.

Source positions are left out of equality and repr, so two spellings of one filter (different
spacing, keyword case, quoting) give equal trees and the same repr; the page-token fingerprint
relies on that.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Operator(enum.StrEnum):
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    LIKE = "LIKE"
    ILIKE = "ILIKE"
    NOT_LIKE = "NOT LIKE"
    NOT_ILIKE = "NOT ILIKE"
    IN = "IN"
    NOT_IN = "NOT IN"


# Each negative operator and the positive one it negates. Tags and aliases need this: a row
# without the tag must satisfy "tag.k != 'v'", so the negation has to wrap the EXISTS.
NEGATED: dict[Operator, Operator] = {
    Operator.NE: Operator.EQ,
    Operator.NOT_LIKE: Operator.LIKE,
    Operator.NOT_ILIKE: Operator.ILIKE,
    Operator.NOT_IN: Operator.IN,
}

LIST_OPERATORS = frozenset({Operator.IN, Operator.NOT_IN})
PATTERN_OPERATORS = frozenset(
    {Operator.LIKE, Operator.ILIKE, Operator.NOT_LIKE, Operator.NOT_ILIKE}
)
ORDERING_OPERATORS = frozenset({Operator.LT, Operator.LE, Operator.GT, Operator.GE})


@dataclass(frozen=True)
class AttributeRef:
    """An attribute such as ``name``; ``name`` is lower-cased and without an attribute. prefix."""

    name: str
    position: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class TagRef:
    """``tag.<key>``; the key keeps its case, tag keys are case-sensitive."""

    key: str
    position: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class StringValue:
    value: str
    position: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class IntegerValue:
    value: int
    # The digits as written: compared against a string attribute, "007" must stay "007".
    text: str
    position: int = field(default=0, compare=False, repr=False)


Value = StringValue | IntegerValue
Target = AttributeRef | TagRef


@dataclass(frozen=True)
class Comparison:
    """``target op value``; ``values`` has exactly one item except for IN and NOT IN."""

    target: Target
    op: Operator
    values: tuple[Value, ...]
    position: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


Node = Comparison | Not | And | Or
