"""The filter language: tokenizer, parser and the checks made while compiling to SQL."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry_service.errors import InvalidArgument
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
)
from registry_service.search.parser import MAX_COMPARISONS, MAX_DEPTH, parse_filter
from registry_service.store.search_columns import model_version_search, registered_model_search


def attr(name: str, op: Operator, *values: str | int) -> Comparison:
    return Comparison(AttributeRef(name), op, tuple(_value(v) for v in values))


def tag(key: str, op: Operator, *values: str | int) -> Comparison:
    return Comparison(TagRef(key), op, tuple(_value(v) for v in values))


def _value(value: str | int) -> StringValue | IntegerValue:
    return IntegerValue(value, str(value)) if isinstance(value, int) else StringValue(value)


def filter_error(text: str, search: str = "versions") -> str:
    """The message of the InvalidArgument that ``text`` raises; checks it names the filter."""
    compile_search = model_version_search if search == "versions" else registered_model_search
    with pytest.raises(InvalidArgument) as caught:
        compile_search(filter=text)
    assert caught.value.field == "filter"
    assert caught.value.message.startswith("filter: ")
    return caught.value.message


# -- what parses to what ---------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", " ", " \t\n  "])
def test_empty_filter_is_no_condition(text: str) -> None:
    assert parse_filter(text) is None


MLFLOW_DOCUMENTED = [
    ("name='my-model'", attr("name", Operator.EQ, "my-model")),
    ("name = 'my-model'", attr("name", Operator.EQ, "my-model")),
    ("name LIKE 'my-model%'", attr("name", Operator.LIKE, "my-model%")),
    ("name ILIKE '%MODEL%'", attr("name", Operator.ILIKE, "%MODEL%")),
    ("name != 'x'", attr("name", Operator.NE, "x")),
    ("run_id = 'abc'", attr("run_id", Operator.EQ, "abc")),
    ("run_id IN ('a','b')", attr("run_id", Operator.IN, "a", "b")),
    ("run_id IN ('a')", attr("run_id", Operator.IN, "a")),
    ("source_path = 's3://x'", attr("source_path", Operator.EQ, "s3://x")),
    ("tags.`k.with.dots` = 'v'", tag("k.with.dots", Operator.EQ, "v")),
    ("tag.key = 'value'", tag("key", Operator.EQ, "value")),
    ("tags.key = 'value'", tag("key", Operator.EQ, "value")),
    ("version_number = 2", attr("version_number", Operator.EQ, 2)),
    (
        "name = 'x' AND version_number = 2",
        And((attr("name", Operator.EQ, "x"), attr("version_number", Operator.EQ, 2))),
    ),
    (
        "name = 'm' AND tag.`mlflow.prompt.is_prompt` != 'true'",
        And(
            (
                attr("name", Operator.EQ, "m"),
                tag("mlflow.prompt.is_prompt", Operator.NE, "true"),
            )
        ),
    ),
    (
        "tags.`mlflow.prompt.is_prompt` = 'true'",
        tag("mlflow.prompt.is_prompt", Operator.EQ, "true"),
    ),
    ('name = "double"', attr("name", Operator.EQ, "double")),
    ("attributes.name = 'x'", attr("name", Operator.EQ, "x")),
    ("attribute.run_id = 'x'", attr("run_id", Operator.EQ, "x")),
    ("creation_timestamp > 1000", attr("creation_timestamp", Operator.GT, 1000)),
    ("last_updated_timestamp <= -5", attr("last_updated_timestamp", Operator.LE, -5)),
]


@pytest.mark.parametrize(("text", "tree"), MLFLOW_DOCUMENTED)
def test_mlflow_filters_parse(text: str, tree: Node) -> None:
    assert parse_filter(text) == tree


@pytest.mark.parametrize(("text", "_tree"), MLFLOW_DOCUMENTED)
def test_mlflow_filters_compile_for_versions(text: str, _tree: Node) -> None:
    model_version_search(filter=text)


@pytest.mark.parametrize(
    "text",
    [
        "name='my-model'",
        "name LIKE 'my-model%'",
        "name ILIKE '%MODEL%'",
        "tags.`mlflow.prompt.is_prompt` = 'true'",
        "name ILIKE '%a%' AND tag.`mlflow.prompt.is_prompt` != 'true'",
        "description LIKE '%text%' AND user_id = 'me' AND alias = 'champion'",
        "creation_timestamp >= 1 AND last_updated_timestamp < '99'",
    ],
)
def test_model_filters_compile(text: str) -> None:
    registered_model_search(filter=text)


def test_operators() -> None:
    ops = {
        "=": Operator.EQ,
        "!=": Operator.NE,
        "<>": Operator.NE,
        "<": Operator.LT,
        "<=": Operator.LE,
        ">": Operator.GT,
        ">=": Operator.GE,
        "LIKE": Operator.LIKE,
        "ILIKE": Operator.ILIKE,
        "NOT LIKE": Operator.NOT_LIKE,
        "NOT ILIKE": Operator.NOT_ILIKE,
    }
    for text, op in ops.items():
        assert parse_filter(f"name {text} 'x'") == attr("name", op, "x")
    assert parse_filter("name NOT IN ('x', 'y')") == attr("name", Operator.NOT_IN, "x", "y")


def test_operators_need_no_spaces() -> None:
    assert parse_filter("version_number>=-1") == attr("version_number", Operator.GE, -1)
    assert parse_filter("name<>'x'") == attr("name", Operator.NE, "x")


def test_precedence_not_and_or() -> None:
    a = attr("a", Operator.EQ, 1)
    b = attr("b", Operator.EQ, 2)
    c = attr("c", Operator.EQ, 3)
    assert parse_filter("a = 1 OR b = 2 AND c = 3") == Or((a, And((b, c))))
    assert parse_filter("a = 1 AND b = 2 OR c = 3") == Or((And((a, b)), c))
    assert parse_filter("NOT a = 1 AND b = 2") == And((Not(a), b))
    assert parse_filter("NOT (a = 1 AND b = 2)") == Not(And((a, b)))
    assert parse_filter("(a = 1 OR b = 2) AND c = 3") == And((Or((a, b)), c))
    assert parse_filter("a = 1 AND b = 2 AND c = 3") == And((a, b, c))
    assert parse_filter("NOT NOT a = 1") == Not(Not(a))
    assert parse_filter("((a = 1))") == a


def test_keywords_in_any_case() -> None:
    expected = Or(
        (
            And((attr("name", Operator.LIKE, "x%"), attr("run_id", Operator.IN, "r"))),
            Not(attr("name", Operator.ILIKE, "y")),
        )
    )
    assert parse_filter("name like 'x%' and run_id in ('r') or not name ilike 'y'") == expected
    assert parse_filter("name Like 'x%' AnD run_id iN ('r') Or NoT name ILike 'y'") == expected
    assert parse_filter("name not in ('a')") == attr("name", Operator.NOT_IN, "a")


def test_attribute_names_are_case_insensitive() -> None:
    assert parse_filter("NAME = 'x'") == attr("name", Operator.EQ, "x")
    assert parse_filter("Attributes.Run_Id = 'x'") == attr("run_id", Operator.EQ, "x")
    model_version_search(filter="Version_Number = 1 AND CURRENT_STAGE = 'staging'")


def test_tag_keys_keep_their_case() -> None:
    assert parse_filter("TAGS.MyKey = 'v'") == tag("MyKey", Operator.EQ, "v")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("tag.key = 'v'", "key"),
        ("tags.key_2 = 'v'", "key_2"),
        ("tags.1st = 'v'", "1st"),
        ("tag.`my key` = 'v'", "my key"),
        ("tags.`mlflow.prompt.is_prompt` = 'v'", "mlflow.prompt.is_prompt"),
        ("tag.\"my key\" = 'v'", "my key"),
        ("tag.'quoted' = 'v'", "quoted"),
        ("tags.mlflow.source.type = 'v'", "mlflow.source.type"),
        ("tag.`back``tick` = 'v'", "back`tick"),
        ("tag.`a-b/c:d` = 'v'", "a-b/c:d"),
    ],
)
def test_tag_key_forms(text: str, key: str) -> None:
    assert parse_filter(text) == tag(key, Operator.EQ, "v")


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("'plain'", "plain"),
        ('"double"', "double"),
        ("''", ""),
        ("'it''s'", "it's"),
        ("'it\\'s'", "it's"),
        ('"say ""hi"""', 'say "hi"'),
        ('"say \\"hi\\""', 'say "hi"'),
        ("'a \"b\" c'", 'a "b" c'),
        ("'back\\\\slash'", "back\\slash"),
        ("'100\\%'", "100\\%"),
        ("'ünïcödé ✓'", "ünïcödé ✓"),
        ("'with AND or ( ) , inside'", "with AND or ( ) , inside"),
    ],
)
def test_string_literals(literal: str, value: str) -> None:
    assert parse_filter(f"name = {literal}") == attr("name", Operator.EQ, value)


def test_integer_literal_keeps_its_text() -> None:
    assert parse_filter("name = 007") == Comparison(
        AttributeRef("name"), Operator.EQ, (IntegerValue(7, "007"),)
    )


def test_equal_trees_for_different_spellings() -> None:
    first = parse_filter("name='x' and tag.k in ('a',\"b\")")
    second = parse_filter("  NAME = \"x\"  AND  tags.`k` IN ( 'a' , 'b' ) ")
    assert first == second
    assert repr(first) == repr(second)


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name = 'abc", "unterminated string starting at position 8"),
        ('name = "abc', "unterminated string starting at position 8"),
        ("name = 'it''", "unterminated string starting at position 8"),
        ("name = 'abc\\'", "unterminated string starting at position 8"),
        ("tag.`abc = 'x'", "unterminated quoted name starting at position 5"),
    ],
)
def test_unterminated(text: str, expected: str) -> None:
    assert expected in filter_error(text)


def test_unknown_attribute_lists_the_valid_ones() -> None:
    message = filter_error("colour = 'red'")
    assert "unknown attribute 'colour' at position 1" in message
    for name in ("name", "version_number", "run_id", "source_path", "current_stage", "tag.<key>"):
        assert name in message
    message = filter_error("run_id = 'r'", search="models")
    assert "unknown attribute 'run_id'" in message
    assert "description" in message
    assert "version_number" not in message


@pytest.mark.parametrize("text", ["foo.bar = 'x'", "tag = 'x'", "`tags.k` = 'x'"])
def test_names_that_are_neither_attribute_nor_tag(text: str) -> None:
    assert "unknown attribute" in filter_error(text)


def test_missing_operator() -> None:
    assert filter_error("name foo 'x'") == (
        "filter: expected a comparison operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN) "
        "at position 6, found 'foo'"
    )
    assert "expected a comparison operator" in filter_error("name")
    assert "expected IN, LIKE or ILIKE after NOT at position 10" in filter_error("name NOT = 'x'")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name =", "expected a quoted string or an integer at position 7, found the end"),
        ("name = AND run_id = 'x'", "expected a quoted string or an integer at position 8"),
        ("name = (", "expected a quoted string or an integer at position 8, found '('"),
        ("name LIKE", "expected a quoted string or an integer at position 10"),
        ("name = tag.x", "expected a quoted string or an integer at position 8, found 'tag.x'"),
        ("name IN ('a',)", "expected a quoted string or an integer at position 14"),
    ],
)
def test_missing_value(text: str, expected: str) -> None:
    assert expected in filter_error(text)


def test_in_lists() -> None:
    assert "empty IN list at position 9" in filter_error("name IN ()")
    assert "expected '(' to open the IN list at position 9" in filter_error("name IN 'a'")
    assert "expected ',' or ')' in the IN list at position 14" in filter_error("name IN ('a' 'b')")
    assert "expected ',' or ')'" in filter_error("name IN ('a'")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(name = 'x'", "expected ')' or a combinator AND/OR at position 12, found the end"),
        ("((name = 'x')", "expected ')' or a combinator AND/OR at position 14"),
        ("name = 'x')", "expected AND, OR or the end of the filter at position 11, found ')'"),
        ("()", "expected an attribute, a tag, '(' or NOT at position 2, found ')'"),
        (")", "expected an attribute, a tag, '(' or NOT at position 1"),
    ],
)
def test_unbalanced_parentheses(text: str, expected: str) -> None:
    assert expected in filter_error(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name = 'x' foo", "expected AND, OR or the end of the filter at position 12, found 'foo'"),
        ("name = 'x' 'y'", "at position 12, found \"'y'\""),
        (
            "name = 'x' AND",
            "expected an attribute, a tag, '(' or NOT at position 15, found the end",
        ),
        (
            "name = 'x' OR OR run_id = 'y'",
            "expected an attribute, a tag, '(' or NOT at position 15",
        ),
        ("AND name = 'x'", "expected an attribute, a tag, '(' or NOT at position 1, found 'AND'"),
        ("name = 'x' ; DROP TABLE x", "unexpected character ';' at position 12"),
        ("name = 'x' # c", "unexpected character '#' at position 12"),
        ("name ! 'x'", "expected '=' after '!' at position 6"),
        ("name == 'x'", "expected a quoted string or an integer at position 7, found '='"),
        ("version_number = 1.5", "number with a fraction at position 18"),
        ("version_number = 12ab", "invalid number '12a' at position 18"),
        ("version_number = 99999999999999999999", "out of the 64-bit range"),
        ("tag. = 'x'", "expected a name after '.' at position 5"),
        ("tag.", "expected a name after '.' at position 5, found the end of the filter"),
        ("tag.`` = 'x'", "empty tag key at position 1"),
        ("name = 'a\x00b'", "NUL character at position 10"),
        ("name = '\ud800'", "invalid Unicode at position 9"),
        (
            "name = 'x' AND tag.k = 'y' OR",
            "expected an attribute, a tag, '(' or NOT at position 30",
        ),
        ("name IN ('a', 'b'", "expected ',' or ')' in the IN list at position 18"),
        ("tag.`a`.`b = 'x'", "unterminated quoted name starting at position 9"),
        ("NOT", "expected an attribute, a tag, '(' or NOT at position 4, found the end"),
        ("name NOT", "expected IN, LIKE or ILIKE after NOT at position 9, found the end"),
    ],
)
def test_syntax_errors(text: str, expected: str) -> None:
    assert expected in filter_error(text)


def test_long_filters_are_refused() -> None:
    assert "the maximum is 4096" in filter_error("name = '" + "x" * 4100 + "'")
    # Exactly at the limit is fine.
    model_version_search(filter="name = '" + "x" * (4096 - 10) + "'")


def test_deep_nesting_is_refused() -> None:
    ok = "(" * MAX_DEPTH + "name = 'x'" + ")" * MAX_DEPTH
    model_version_search(filter=ok)
    too_deep = "(" * (MAX_DEPTH + 1) + "name = 'x'" + ")" * (MAX_DEPTH + 1)
    assert "nesting too deep" in filter_error(too_deep)
    assert "nesting too deep" in filter_error("NOT " * (MAX_DEPTH + 1) + "name = 'x'")
    # Far beyond Python's recursion limit, still a clean error.
    assert "nesting too deep" in filter_error("(" * 4000)
    assert "nesting too deep" in filter_error("NOT " * 1000)


def test_too_many_comparisons_are_refused() -> None:
    model_version_search(filter=" OR ".join(["name = 'x'"] * MAX_COMPARISONS))
    message = filter_error(" OR ".join(["name = 'x'"] * (MAX_COMPARISONS + 1)))
    assert f"too many comparisons (the one at position {1 + 14 * MAX_COMPARISONS}" in message
    assert f"the maximum is {MAX_COMPARISONS}" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version_number = 'abc'", "version_number needs an integer at position 18, found 'abc'"),
        ("version_number IN (1, 'x')", "version_number needs an integer at position 23"),
        ("creation_timestamp > ''", "creation_timestamp needs an integer"),
        ("version_number LIKE '1%'", "LIKE cannot be applied to an integer attribute"),
        ("version_number NOT ILIKE '1'", "NOT ILIKE cannot be applied to an integer attribute"),
        ("current_stage = 'Prod'", "at position 17, current_stage 'Prod' is not a stage"),
        ("current_stage IN ('None', 'bogus')", "current_stage 'bogus' is not a stage"),
        ("current_stage > 'None'", "> cannot be applied to the stage current_stage"),
        ("name LIKE 'abc\\\\'", "the LIKE pattern at position 11 ends in a backslash"),
        ("tag.k ILIKE 'abc\\\\'", "ends in a backslash that escapes nothing"),
    ],
)
def test_bad_literals(text: str, expected: str) -> None:
    assert expected in filter_error(text)


def test_numeric_literals_for_numeric_attributes() -> None:
    model_version_search(filter="version_number = '3'")
    model_version_search(filter="version_number IN (1, '2', -3)")
    model_version_search(filter="creation_timestamp >= '-12'")
    # A number against a string attribute is its text.
    model_version_search(filter="name = 12 AND run_id IN (1, 2)")


def test_stage_literals_in_any_case() -> None:
    for stage in ("production", "PRODUCTION", "Production", "none", "staging", "ArChIvEd"):
        model_version_search(filter=f"current_stage = '{stage}'")
    model_version_search(filter="current_stage LIKE 'Prod%'")


# Characters that make up filters, so random strings reach deep into the parser.
_FILTER_ALPHABET = st.sampled_from(
    [
        *"()'\"`.,=!<>-_ \\%ab10\x00",
        *["name", "tag.", "tags.", "version_number", "AND", "OR", "NOT", "IN", "LIKE", " ILIKE "],
        *["current_stage", "alias", "'x'", "'None'", "'1'", "attribute."],
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_FILTER_ALPHABET, max_size=30).map("".join), st.booleans())
def test_random_input_raises_only_invalid_argument(text: str, versions: bool) -> None:
    search = model_version_search if versions else registered_model_search
    try:
        search(filter=text)
    except InvalidArgument as error:
        assert error.field == "filter"
        assert error.message.startswith("filter: ")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_raises_only_invalid_argument(text: str) -> None:
    try:
        model_version_search(filter=text)
    except InvalidArgument as error:
        assert error.field == "filter"
