#!/usr/bin/env python3
"""Differential cases for astra-mcpd's JSON Schema validator.

Generates (schema, instance) pairs with hypothesis — derandomized, so every run writes the
same cases — asks the reference implementation (jsonschema's Draft202012Validator, with
its FormatChecker) whether each instance is valid, and writes one JSON object per line to
stdout: {"schema": ..., "instance": ..., "valid": true|false}.

    .venv/bin/python Tests/Fixtures/jsonschema_cases.py [COUNT]   # default 2000

What is compared, and what is kept out on purpose (documented differences, each covered
by hand-written Swift tests instead):
- formats: `date-time` (rfc3339-validator) and `uri` (rfc3987) on a pool of strings, both
  strict in the reference; `email` only on addresses that are valid or lack an `@`, since
  jsonschema's email check is merely "contains @" while ours is RFC 5321. No other format
  the reference asserts (ipv4, uuid, ...) is generated; an unknown one is.
- numbers: integers and multiples of 1/8, so `multipleOf` gives the same answer in binary
  floating point (the reference) and decimal (ours: 0.3 is a multiple of 0.1).
- patterns from a fixed pool valid and equivalent in ECMA-262, Python `re` and ICU.
- `$ref` cycles that never descend into the instance are not generated (the reference
  recurses until RecursionError; we refuse the schema). Recursion through `#` under
  `properties`/`items` is.
- strings contain no line breaks (Python's and ICU's `$` also match before a final newline).
"""
import json
import sys

from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from jsonschema import Draft202012Validator

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 2000

KEYS = ["a", "b", "c", "name", "x1", "x2"]
STRINGS = [
    "", "a", "ab", "abc", "abcd", "b1", "x_y", "A", "é", "éé", "😀", "😀😀😀", "中文字", "a b",
    # date-time
    "2024-02-29T12:00:00Z", "2023-02-29T12:00:00Z", "2024-01-01t00:00:00.5+01:00", "2024-01-01T00:00:00.123-23:59",
    "2024-13-01T00:00:00Z", "2024-01-01 00:00:00Z", "2024-01-01T24:00:00Z", "2024-04-31T00:00:00Z", "0000-01-01T00:00:00Z",
    "2024-01-01T00:00:60Z", "2024-01-01T00:00:00", "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00+0100",
    # email (valid, or without @)
    "user@example.com", "first.last+tag@sub.example.org", "x@localhost", "not-an-email", "example.com",
    # uri
    "http://example.com/a?b#c", "mailto:x@y", "urn:isbn:0451450523", "//no-scheme", "http://[::1]:80/", "http://[v1.x]/",
    "http://a b", "ftp://h/%zz", "https://u:p@h:8080/p/a%20th?q=1&r=2#frag", "http://a#b#c", "1http://x", "http://h:x/",
    "http://[::ffff:1.2.3.4]/", "http://[1::2::3]/", "a:", "http://ä.example/",
]
NUMBERS = st.one_of(
    st.integers(-5, 10),
    st.integers(-40, 80).map(lambda k: k / 8),
    st.sampled_from([0, 1, 1.0, 2.0, -1.0, 100, 2**40, -(2**40), 9223372036854775807, -9223372036854775808]),
)
PATTERNS = ["^a", "b$", "^[a-z]+$", "[0-9]", "^.{2,3}$", "é", "^(ab|cd)", "x_?y", "^[^a]*$", "😀", "^x[0-9]$"]
TYPES = ["null", "boolean", "integer", "number", "string", "array", "object"]
FORMATS = ["date-time", "uri", "email", "my-custom-format"]
# The email format is compared only where the reference's "contains @" is right.
EMAIL_OK = {"user@example.com", "first.last+tag@sub.example.org", "x@localhost"}

scalars = st.one_of(st.none(), st.booleans(), NUMBERS, st.sampled_from(STRINGS),
                    st.text(alphabet="ab1xé😀_", max_size=5))
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=4),
    ),
    max_leaves=10,
)


LEAF_KEYWORDS = [
    "type", "type", "type", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    "minLength", "maxLength", "pattern", "format", "format", "minItems", "maxItems", "uniqueItems", "minProperties",
    "maxProperties", "required", "required", "dependentRequired",
]
NESTED_KEYWORDS = [
    "properties", "properties", "patternProperties", "additionalProperties", "propertyNames", "items", "items",
    "prefixItems", "contains", "allOf", "anyOf", "oneOf", "not", "if", "dependentSchemas", "$ref",
]


@st.composite
def schema(draw, depth=0, refs=()):
    """A schema of a few keywords; `refs` are the local references it may use ($ref to a
    definition anywhere, '#' only below a keyword that descends into the instance)."""
    if draw(st.integers(0, 12)) == 0:
        return draw(st.booleans())
    pool = LEAF_KEYWORDS + (NESTED_KEYWORDS if depth < 2 else [])
    keywords = draw(st.sets(st.sampled_from(pool), min_size=0 if depth else 1, max_size=4))
    sub = lambda: schema(depth + 1, refs)  # noqa: E731
    descending = list(refs) + ["#"]
    sub_or_ref = lambda: st.one_of(sub(), st.sampled_from(descending).map(lambda r: {"$ref": r}))  # noqa: E731
    s = {}
    for keyword in sorted(keywords):
        if keyword == "type":
            s["type"] = draw(st.one_of(st.sampled_from(TYPES), st.lists(st.sampled_from(TYPES), min_size=1, max_size=3, unique=True)))
        elif keyword == "enum":
            s["enum"] = draw(st.lists(values, min_size=1, max_size=4))
        elif keyword == "const":
            s["const"] = draw(values)
        elif keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            s[keyword] = draw(NUMBERS)
        elif keyword == "multipleOf":
            s[keyword] = draw(st.sampled_from([1, 2, 3, 0.5, 0.25, 1.5, 0.125]))
        elif keyword in ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"):
            s[keyword] = draw(st.integers(0, 4))
        elif keyword == "pattern":
            s[keyword] = draw(st.sampled_from(PATTERNS))
        elif keyword == "format":
            s[keyword] = draw(st.sampled_from(FORMATS))
        elif keyword == "uniqueItems":
            s[keyword] = draw(st.booleans())
        elif keyword == "required":
            s[keyword] = draw(st.lists(st.sampled_from(KEYS), max_size=3, unique=True))
        elif keyword == "dependentRequired":
            s[keyword] = draw(st.dictionaries(st.sampled_from(KEYS), st.lists(st.sampled_from(KEYS), max_size=2, unique=True), max_size=2))
        elif keyword == "properties":
            s[keyword] = draw(st.dictionaries(st.sampled_from(KEYS), sub_or_ref(), min_size=1, max_size=3))
        elif keyword == "patternProperties":
            s[keyword] = draw(st.dictionaries(st.sampled_from(["^x", "1$", "^[ab]$"]), sub(), min_size=1, max_size=2))
        elif keyword == "additionalProperties":
            s[keyword] = draw(st.one_of(st.booleans(), sub()))
        elif keyword == "propertyNames":
            s[keyword] = draw(st.one_of(st.just({"maxLength": 1}), st.just({"pattern": "^[a-c]"}), sub()))
        elif keyword == "items":
            s[keyword] = draw(st.one_of(st.booleans(), sub_or_ref()))
            if draw(st.booleans()):
                s["prefixItems"] = draw(st.lists(sub(), min_size=1, max_size=2))
        elif keyword == "prefixItems":
            s[keyword] = draw(st.lists(sub(), min_size=1, max_size=2))
        elif keyword == "contains":
            s[keyword] = draw(sub())
            if draw(st.booleans()):
                s["minContains"] = draw(st.integers(0, 2))
            if draw(st.booleans()):
                s["maxContains"] = draw(st.integers(0, 2))
        elif keyword in ("allOf", "anyOf", "oneOf"):
            s[keyword] = draw(st.lists(sub(), min_size=1, max_size=3))
        elif keyword == "not":
            s[keyword] = draw(sub())
        elif keyword == "if":
            s["if"] = draw(sub())
            if draw(st.booleans()):
                s["then"] = draw(sub())
            if draw(st.booleans()):
                s["else"] = draw(sub())
        elif keyword == "dependentSchemas":
            s[keyword] = draw(st.dictionaries(st.sampled_from(KEYS), sub(), min_size=1, max_size=2))
        elif keyword == "$ref" and refs:
            s[keyword] = draw(st.sampled_from(refs))
    return s


DEF_NAMES = ["d1", "a/b~c", "pos"]


@st.composite
def root_schema(draw):
    # Definitions are leaves (no references), so a reference to one cannot cycle.
    container = draw(st.sampled_from(["$defs", "definitions"]))
    definitions = {name: draw(schema(2)) for name in DEF_NAMES if draw(st.booleans())}
    refs = tuple("#/%s/%s" % (container, name.replace("~", "~0").replace("/", "~1")) for name in definitions)
    s = draw(schema(0, refs))
    if definitions and isinstance(s, dict):
        s[container] = definitions
    return s


def fixup_email(instance, s):
    """Keeps email-format cases where the reference is right (see the module doc)."""
    text = json.dumps(s)
    if '"email"' in text and isinstance(instance, str) and "@" in instance and instance not in EMAIL_OK:
        return "plain"
    return instance


# Three families: arbitrary schemas on arbitrary values; one format on the string pool (so
# each format sees its valid and invalid strings); and tool-like input schemas (an object
# with typed properties, required, enum, pattern) on argument-like objects.
general_pairs = st.tuples(root_schema(), values)
format_pairs = st.tuples(
    st.sampled_from(FORMATS).map(lambda f: {"format": f}) | st.sampled_from(FORMATS).map(lambda f: {"type": "string", "format": f}),
    st.sampled_from(STRINGS),
)
property_schema = st.one_of(
    st.sampled_from(TYPES).map(lambda t: {"type": t}),
    st.just({"type": "string", "enum": ["c", "f", "k"]}),
    st.sampled_from(PATTERNS).map(lambda p: {"type": "string", "pattern": p}),
    st.just({"type": "integer", "minimum": 0, "maximum": 10}),
    st.just({"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.25}),
    st.just({"type": "string", "minLength": 1, "maxLength": 3}),
    st.just({"type": "array", "items": {"type": "string"}, "maxItems": 3, "uniqueItems": True}),
    st.sampled_from(FORMATS).map(lambda f: {"type": "string", "format": f}),
)
tool_schemas = st.builds(
    lambda properties, required, additional: {"type": "object", "properties": properties,
                                               "required": [k for k in required if k in properties],
                                               **({"additionalProperties": False} if additional else {})},
    st.dictionaries(st.sampled_from(KEYS), property_schema, min_size=1, max_size=5),
    st.lists(st.sampled_from(KEYS), max_size=3, unique=True),
    st.booleans(),
)
tool_arguments = st.dictionaries(st.sampled_from(KEYS), st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=5)
tool_pairs = st.tuples(tool_schemas, tool_arguments)

cases = []


@settings(max_examples=COUNT, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
          suppress_health_check=list(HealthCheck))
@given(st.one_of(general_pairs, format_pairs, tool_pairs))
def collect(pair):
    s, instance = pair
    instance = fixup_email(instance, s)
    validator = Draft202012Validator(s, format_checker=Draft202012Validator.FORMAT_CHECKER)
    cases.append({"schema": s, "instance": instance, "valid": validator.is_valid(instance)})


collect()
for case in cases:
    # Python writes 1.0 as 1.0 and 1 as 1, which is the distinction the validator must keep.
    sys.stdout.write(json.dumps(case, allow_nan=False) + "\n")
sys.stderr.write("jsonschema_cases: %d cases, %d valid\n" % (len(cases), sum(c["valid"] for c in cases)))
