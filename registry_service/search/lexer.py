"""The tokenizer of the filter language.

Positions are 1-based character positions in the filter, as a person counts them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from registry_service.errors import Flaw, InvalidArgument

MAX_FILTER_LENGTH = 4096
# Every integer column is a BIGINT; a larger literal would overflow the driver, not just miss.
MIN_INTEGER = -(2**63)
MAX_INTEGER = 2**63 - 1

KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "LIKE", "ILIKE"})
OPERATORS = ("<=", ">=", "!=", "<>", "=", "<", ">")

# ASCII only: str.isalpha would let lookalike letters from other scripts into names.
_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_DIGITS = frozenset("0123456789")
_NAME_CHARS = _NAME_START | _DIGITS
_WHITESPACE = frozenset(" \t\r\n")
_QUOTES = frozenset("'\"`")


class TokenKind(enum.Enum):
    NAME = "name"
    KEYWORD = "keyword"
    STRING = "string"
    INTEGER = "integer"
    OPERATOR = "operator"
    LPAREN = "'('"
    RPAREN = "')'"
    COMMA = "','"
    END = "end of filter"


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    # The source text, for error messages.
    text: str
    position: int
    # NAME: the dot-separated parts, unquoted.
    parts: tuple[str, ...] = ()
    # STRING: the unescaped content; KEYWORD: upper case; OPERATOR: "<>" spelled "!=".
    value: str = ""
    # INTEGER: the number.
    integer: int = 0

    def describe(self) -> str:
        if self.kind is TokenKind.END:
            return "the end of the filter"
        text = self.text if len(self.text) <= 40 else self.text[:37] + "..."
        return repr(text)


def filter_error(message: str) -> InvalidArgument:
    return InvalidArgument(
        f"filter: {message}", field="filter", flaw=Flaw.MALFORMED, detail=message
    )


def check_filter_text(text: str) -> None:
    """Reject input no filter can be made of before spending any work on it."""
    if len(text) > MAX_FILTER_LENGTH:
        raise filter_error(
            f"the filter is {len(text)} characters long; the maximum is {MAX_FILTER_LENGTH}"
        )
    # PostgreSQL refuses NUL in text parameters and no driver accepts lone surrogates; either
    # would otherwise surface as a database error instead of a bad-argument one.
    if "\x00" in text:
        position = text.index("\x00") + 1
        raise filter_error(f"NUL character at position {position}; NUL is not allowed")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise filter_error(f"invalid Unicode at position {error.start + 1}") from None


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, ending with an END token."""
    check_filter_text(text)
    return _Lexer(text).run()


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.index = 0
        self.tokens: list[Token] = []

    def run(self) -> list[Token]:
        text = self.text
        while self.index < len(text):
            char = text[self.index]
            if char in _WHITESPACE:
                self.index += 1
            elif char == "(":
                self._single(TokenKind.LPAREN)
            elif char == ")":
                self._single(TokenKind.RPAREN)
            elif char == ",":
                self._single(TokenKind.COMMA)
            elif char in "=!<>":
                self._operator()
            elif char in "'\"":
                self._string()
            elif char in _DIGITS or (char == "-" and self._peek(1) in _DIGITS):
                self._integer()
            elif char in _NAME_START or char == "`":
                self._name()
            else:
                raise filter_error(f"unexpected character {char!r} at position {self.index + 1}")
        self.tokens.append(Token(TokenKind.END, "", len(text) + 1))
        return self.tokens

    def _peek(self, offset: int) -> str:
        index = self.index + offset
        return self.text[index] if index < len(self.text) else ""

    def _single(self, kind: TokenKind) -> None:
        self.tokens.append(Token(kind, self.text[self.index], self.index + 1))
        self.index += 1

    def _operator(self) -> None:
        start = self.index
        for operator in OPERATORS:
            if self.text.startswith(operator, start):
                self.index += len(operator)
                value = "!=" if operator == "<>" else operator
                self.tokens.append(Token(TokenKind.OPERATOR, operator, start + 1, value=value))
                return
        raise filter_error(f"expected '=' after '!' at position {start + 1}")

    def _string(self) -> None:
        start = self.index
        value = self._quoted()
        self.tokens.append(
            Token(TokenKind.STRING, self.text[start : self.index], start + 1, value=value)
        )

    def _quoted(self) -> str:
        """The content of the quoted text at the cursor, which is left after the closing quote.

        Inside, the quote is written doubled or after a backslash, and a backslash before a
        backslash stands for one; any other backslash is kept, so LIKE escapes such as ``\\%``
        reach the pattern unchanged.
        """
        text = self.text
        start = self.index
        quote = text[start]
        index = start + 1
        out: list[str] = []
        while index < len(text):
            char = text[index]
            following = text[index + 1] if index + 1 < len(text) else ""
            if char == "\\" and following in (quote, "\\"):
                out.append(following)
                index += 2
            elif char == quote and following == quote:
                out.append(quote)
                index += 2
            elif char == quote:
                self.index = index + 1
                return "".join(out)
            else:
                out.append(char)
                index += 1
        what = "quoted name" if quote == "`" else "string"
        raise filter_error(f"unterminated {what} starting at position {start + 1}")

    def _integer(self) -> None:
        text = self.text
        start = self.index
        index = start + 1
        while index < len(text) and text[index] in _DIGITS:
            index += 1
        following = text[index] if index < len(text) else ""
        if following == "." and index + 1 < len(text) and text[index + 1] in _DIGITS:
            raise filter_error(
                f"number with a fraction at position {start + 1}; only integers are supported"
            )
        if following in _NAME_CHARS:
            raise filter_error(
                f"invalid number {text[start : index + 1]!r} at position {start + 1}"
            )
        number = int(text[start:index])
        if not MIN_INTEGER <= number <= MAX_INTEGER:
            raise filter_error(f"the integer at position {start + 1} is out of the 64-bit range")
        self.index = index
        self.tokens.append(Token(TokenKind.INTEGER, text[start:index], start + 1, integer=number))

    def _name(self) -> None:
        """A possibly dotted name; after a dot a part may also be quoted with ' or "."""
        text = self.text
        start = self.index
        parts: list[str] = []
        quoted = False
        while True:
            char = self.text[self.index] if self.index < len(text) else ""
            if char == "`" or (parts and char in _QUOTES):
                parts.append(self._quoted())
                quoted = True
            elif char in _NAME_CHARS and (parts or char in _NAME_START):
                index = self.index
                while index < len(text) and text[index] in _NAME_CHARS:
                    index += 1
                parts.append(text[self.index : index])
                self.index = index
            else:
                found = repr(char) if char else "the end of the filter"
                raise filter_error(
                    f"expected a name after '.' at position {self.index + 1}, found {found}"
                )
            if self.index < len(text) and text[self.index] == ".":
                self.index += 1
                continue
            break
        source = text[start : self.index]
        if not quoted and len(parts) == 1 and parts[0].upper() in KEYWORDS:
            self.tokens.append(Token(TokenKind.KEYWORD, source, start + 1, value=parts[0].upper()))
        else:
            self.tokens.append(Token(TokenKind.NAME, source, start + 1, parts=tuple(parts)))
