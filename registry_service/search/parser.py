"""A recursive-descent parser from filter text to the syntax tree in ``nodes``.

Grammar (keywords in any case)::

    filter     := [or_expr] END
    or_expr    := and_expr (OR and_expr)*
    and_expr   := not_expr (AND not_expr)*
    not_expr   := NOT not_expr | primary
    primary    := '(' or_expr ')' | comparison
    comparison := name operator value
                | name [NOT] (LIKE | ILIKE) value
                | name [NOT] IN '(' value (',' value)* ')'
    value      := string | integer

The parser knows which names are tags but not which attributes exist: that depends on what is
searched and is checked when the tree is compiled to SQL.
"""

from __future__ import annotations

from registry_service.search.lexer import Token, TokenKind, filter_error, tokenize
from registry_service.search.nodes import (
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
    Target,
    Value,
)

# Each level of parentheses or NOT costs a few Python frames; the bound keeps hostile input far
# from the interpreter's recursion limit, and no real filter comes close to it.
MAX_DEPTH = 32
# Bounds the size of the SQL a single request can make the database plan.
MAX_COMPARISONS = 100

TAG_PREFIXES = frozenset({"tag", "tags"})
ATTRIBUTE_PREFIXES = frozenset({"attribute", "attributes"})

_OPERATORS = {
    "=": Operator.EQ,
    "!=": Operator.NE,
    "<": Operator.LT,
    "<=": Operator.LE,
    ">": Operator.GT,
    ">=": Operator.GE,
}
_EXPECTED_OPERATOR = "a comparison operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN)"


def parse_filter(text: str) -> Node | None:
    """The tree of ``text``, or None when it is empty or only whitespace (matches everything)."""
    return _Parser(tokenize(text)).parse()


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.depth = 0
        self.comparisons = 0

    def parse(self) -> Node | None:
        if self._peek().kind is TokenKind.END:
            return None
        node = self._or()
        token = self._peek()
        if token.kind is not TokenKind.END:
            raise self._unexpected("AND, OR or the end of the filter", token)
        return node

    # -- helpers -------------------------------------------------------------------------------

    def _peek(self) -> Token:
        return self.tokens[self.index]

    def _advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind is not TokenKind.END:
            self.index += 1
        return token

    def _at_keyword(self, *words: str) -> bool:
        token = self._peek()
        return token.kind is TokenKind.KEYWORD and token.value in words

    def _unexpected(self, expected: str, token: Token) -> Exception:
        return filter_error(
            f"expected {expected} at position {token.position}, found {token.describe()}"
        )

    def _expect(self, kind: TokenKind, expected: str) -> Token:
        token = self._peek()
        if token.kind is not kind:
            raise self._unexpected(expected, token)
        return self._advance()

    def _enter(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise filter_error(
                f"nesting too deep at position {token.position}; the maximum is {MAX_DEPTH} "
                "levels of parentheses and NOT"
            )

    # -- grammar -------------------------------------------------------------------------------

    def _or(self) -> Node:
        operands = [self._and()]
        while self._at_keyword("OR"):
            self._advance()
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def _and(self) -> Node:
        operands = [self._not()]
        while self._at_keyword("AND"):
            self._advance()
            operands.append(self._not())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def _not(self) -> Node:
        if not self._at_keyword("NOT"):
            return self._primary()
        token = self._advance()
        self._enter(token)
        operand = self._not()
        self.depth -= 1
        return Not(operand)

    def _primary(self) -> Node:
        token = self._peek()
        if token.kind is TokenKind.LPAREN:
            self._advance()
            self._enter(token)
            node = self._or()
            self._expect(TokenKind.RPAREN, "')' or a combinator AND/OR")
            self.depth -= 1
            return node
        if token.kind is TokenKind.NAME:
            return self._comparison()
        raise self._unexpected("an attribute, a tag, '(' or NOT", token)

    def _comparison(self) -> Comparison:
        name = self._advance()
        target = _target(name)
        token = self._peek()
        if token.kind is TokenKind.OPERATOR:
            self._advance()
            op = _OPERATORS[token.value]
            values: tuple[Value, ...] = (self._value(),)
        elif token.kind is TokenKind.KEYWORD and token.value in ("LIKE", "ILIKE", "IN", "NOT"):
            self._advance()
            negated = token.value == "NOT"
            word = token
            if negated:
                word = self._peek()
                if not self._at_keyword("LIKE", "ILIKE", "IN"):
                    raise self._unexpected("IN, LIKE or ILIKE after NOT", word)
                self._advance()
            op = Operator(("NOT " if negated else "") + word.value)
            values = self._values() if word.value == "IN" else (self._value(),)
        else:
            raise self._unexpected(_EXPECTED_OPERATOR, token)
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise filter_error(
                f"too many comparisons (the one at position {name.position} is number "
                f"{self.comparisons}); the maximum is {MAX_COMPARISONS}"
            )
        return Comparison(target, op, values, name.position)

    def _value(self) -> Value:
        token = self._peek()
        if token.kind is TokenKind.STRING:
            self._advance()
            return StringValue(token.value, token.position)
        if token.kind is TokenKind.INTEGER:
            self._advance()
            return IntegerValue(token.integer, token.text, token.position)
        raise self._unexpected("a quoted string or an integer", token)

    def _values(self) -> tuple[Value, ...]:
        opening = self._expect(TokenKind.LPAREN, "'(' to open the IN list")
        if self._peek().kind is TokenKind.RPAREN:
            raise filter_error(
                f"empty IN list at position {opening.position}; give at least one value"
            )
        values = [self._value()]
        while self._peek().kind is TokenKind.COMMA:
            self._advance()
            values.append(self._value())
        self._expect(TokenKind.RPAREN, "',' or ')' in the IN list")
        return tuple(values)


def _target(token: Token) -> Target:
    parts = token.parts
    prefix = parts[0].lower()
    if len(parts) > 1 and prefix in TAG_PREFIXES:
        key = ".".join(parts[1:])
        if not key:
            raise filter_error(f"empty tag key at position {token.position}")
        return TagRef(key, token.position)
    if len(parts) > 1 and prefix in ATTRIBUTE_PREFIXES:
        parts = parts[1:]
    return AttributeRef(".".join(parts).lower(), token.position)
