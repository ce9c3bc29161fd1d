"""The key filter: prefixes, the rule pattern it renders (checked with moto's EventBridge matcher,
the one the sandbox routes S3 events through, against every plausible encoding of the key in the
event), and the replicator dropping what the rule let by."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto.events.models import EventPattern

from objbackup.core.events import Kind, encode_key
from objbackup.core.filters import (
    KEY_PATTERN_PARAMETER,
    KeyFilter,
    check_prefix,
    invariant_part,
)
from objbackup.core.logs import LOGGER
from objbackup.core.runtime import ReplicatorApp
from tests.harness import Harness
from tests.profiles import examples
from tests.unit.test_batch import sqs_record, to_eventbridge

BUCKET = "my-data"


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), text)


# How S3 might write a key into an EventBridge event. AWS documents only the classic notifications'
# encoding (`quote_plus`, "red flower.jpg" -> "red+flower.jpg"); the rule must survive them all.
ENCODINGS: dict[str, Callable[[str], str]] = {
    "raw": lambda key: key,
    "classic": encode_key,  # quote_plus, "/" kept
    "percent": lambda key: quote(key, safe="/"),  # space -> %20
    "classic-slash": lambda key: quote_plus(key, safe=""),  # "/" -> %2F
    "percent-slash": lambda key: quote(key, safe=""),
    "lower-hex": lambda key: _lower_hex(encode_key(key)),
    # java.net.URLEncoder: "*" kept; "~" and "/" encoded.
    "java-form": lambda key: quote_plus(key, safe="*").replace("~", "%7E"),
}
# The encodings the replicator's decoding (unquote_plus) reads back exactly; a raw key with "+"
# or "%" in it is not one of them.
DECODABLE = [name for name in ENCODINGS if name != "raw"]


def rule_pattern(key_filter: KeyFilter) -> dict[str, Any]:
    """The replicator rule's pattern as the template builds it from the stack parameters."""
    pattern: dict[str, Any] = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created", "Object Deleted"],
        "detail": {"bucket": {"name": [BUCKET]}},
    }
    matchers = key_filter.stack_parameters()[KEY_PATTERN_PARAMETER]
    if matchers:
        pattern["detail"]["object"] = {"key": json.loads(matchers)}
    return pattern


def rule_passes(key_filter: KeyFilter, key: str, encoding: str = "classic") -> bool:
    """Whether moto's matcher lets an S3 event for `key`, encoded as `encoding` says, through."""
    event = {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {
            "bucket": {"name": BUCKET},
            "object": {"key": ENCODINGS[encoding](key), "size": 1},
        },
    }
    pattern = rule_pattern(key_filter)
    return EventPattern(json.dumps(pattern), pattern).matches_event(event)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("prefix", "error"),
    [("", "must not be empty"), ("a,b", "contains a comma"), ("x" * 1025, "1024 bytes")],
)
def test_bad_prefixes_are_refused(prefix: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        check_prefix(prefix)


def test_a_filter_that_matches_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="nothing would be backed up"):
        KeyFilter(("keep/tmp/",), ("keep/",)).check()
    assert KeyFilter(("keep/",), ("keep/tmp/",)).check()


@pytest.mark.parametrize(
    ("given_filter", "normal"),
    [
        (KeyFilter(("a/", "a/b/", "a/")), KeyFilter(("a/",))),
        (KeyFilter((), ("x/", "x/y/")), KeyFilter((), ("x/",))),
        # An include under an exclude goes; an exclude outside every include goes.
        (KeyFilter(("a/", "b/x/"), ("b/", "c/", "a/tmp/")), KeyFilter(("a/",), ("a/tmp/",))),
    ],
)
def test_normalized_drops_redundant_prefixes(given_filter: KeyFilter, normal: KeyFilter) -> None:
    assert given_filter.normalized() == normal


def test_rendered_parameters() -> None:
    assert KeyFilter().stack_parameters() == {
        "IncludePrefixes": "",
        "ExcludePrefixes": "",
        "ObjectKeyPattern": "",
    }
    both = KeyFilter(("keep/", "docs/"), ("keep/tmp/",)).stack_parameters()
    assert both == {
        "IncludePrefixes": "keep/,docs/",
        "ExcludePrefixes": "keep/tmp/",
        # "/" is not encoded the same way by every encoding: the rule stops before it.
        "ObjectKeyPattern": '[{"prefix":"keep"},{"prefix":"docs"}]',
    }
    exclude = KeyFilter((), ("logs", "tmp")).stack_parameters()
    assert exclude["ObjectKeyPattern"] == '[{"anything-but":{"prefix":"logs"}}]'
    # An exclude the rule could only cut short is left to the replicator.
    assert KeyFilter((), ("tmp/",)).stack_parameters()["ObjectKeyPattern"] == ""
    assert KeyFilter((), ("tmp/", "logs")).key_pattern_parameter() == (
        '[{"anything-but":{"prefix":"logs"}}]'
    )
    # Includes cut to their invariant part; one with none leaves the key unmatched.
    spaced = KeyFilter(("my docs/", "my-files.v2/", "my.x")).stack_parameters()
    assert spaced["ObjectKeyPattern"] == '[{"prefix":"my"}]'
    assert KeyFilter(("docs/", "été/")).key_pattern_parameter() == ""


@pytest.mark.parametrize(
    ("key_filter", "text"),
    [
        (KeyFilter(), "every key"),
        (KeyFilter(("a", "b-c")), "keys starting with a, b-c"),
        (KeyFilter((), ("tmp",)), "every key not starting with tmp"),
        (KeyFilter(("keep/",)), "keys starting with keep (wider than the filter: "),
        (KeyFilter((), ("tmp/",)), "every key (wider than the filter: "),
    ],
)
def test_describe_rule_says_when_the_rule_is_wider(key_filter: KeyFilter, text: str) -> None:
    assert key_filter.describe_rule().startswith(text)
    assert key_filter.describe_rule().endswith("the rest)") is not key_filter.rule_is_exact


@pytest.mark.parametrize(
    ("prefix", "invariant"),
    [("a-b_c.d", "a-b_c.d"), ("a/b", "a"), ("a b", "a"), ("~a", ""), ("é", ""), ("A9%", "A9")],
)
def test_invariant_part(prefix: str, invariant: str) -> None:
    assert invariant_part(prefix) == invariant
    assert all(ENCODINGS[name](prefix).startswith(invariant) for name in ENCODINGS)


@pytest.mark.parametrize(
    ("key_filter", "exact"),
    [
        (KeyFilter(), True),
        (KeyFilter(("a", "b-c.d_")), True),
        (KeyFilter(("a/", "b")), False),  # the rule matches a..., a/ may be encoded
        (KeyFilter((), ("tmp",)), True),
        (KeyFilter((), ("tmp/",)), False),
        (KeyFilter((), ("tmp", "logs")), False),
        (KeyFilter(("keep",), ("keep-tmp",)), False),
        (KeyFilter(("keep",), ("other",)), True),  # the exclude changes nothing
    ],
)
def test_rule_is_exact(key_filter: KeyFilter, exact: bool) -> None:
    assert key_filter.rule_is_exact is exact


PREFIX = st.text(alphabet="ab-./ +%~é", min_size=1, max_size=4)
KEY = st.text(alphabet="ab-./ +%~é", max_size=8)


def check_rule(key_filter: KeyFilter, key: str, encoding: str) -> None:
    """The rule passes `key` (encoded so) if the filter keeps it; only then if it is exact."""
    passes = rule_passes(key_filter, key, encoding)
    if key_filter.matches(key):
        assert passes, f"the rule drops {key!r} ({encoding}), which {key_filter} backs up"
    elif key_filter.rule_is_exact:
        assert not passes, f"the rule lets {key!r} ({encoding}) through, which {key_filter} skips"


@settings(max_examples=examples(400), deadline=None)
@given(
    include=st.lists(PREFIX, max_size=3),
    exclude=st.lists(PREFIX, max_size=3),
    keys=st.lists(KEY, min_size=1, max_size=10),
    encoding=st.sampled_from(list(ENCODINGS)),
)
def test_the_rule_lets_through_every_key_the_filter_keeps(
    include: list[str], exclude: list[str], keys: list[str], encoding: str
) -> None:
    key_filter = KeyFilter(tuple(include), tuple(exclude))
    for key in keys:
        check_rule(key_filter, key, encoding)


# One of each character that some encoding changes, and the filters and keys to try it in.
SPECIAL = [" ", "+", "%", "/", "~", "!", "*", "'", "(", ")", "&", "=", ",", ";", ":", "@", "$"]
SPECIAL += ["?", "#", "é", "\x01"]


def cases(char: str) -> list[tuple[KeyFilter, list[str]]]:
    """Filters with `char` in an include, an exclude, or both; keys on both sides of them,
    including one that holds the classic encoding of `char` literally (its look-alike)."""
    alike = quote_plus(char, safe="")
    inside, under = f"in{char}x/", f"in/{char}t/"
    return [
        (KeyFilter((inside,)), [f"{inside}k", f"in{char}y/k", f"in{alike}x/k", "in", "out/k"]),
        (
            KeyFilter(exclude=(f"ex{char}x/",)),
            [f"ex{char}x/k", f"ex{char}y/k", f"ex{alike}x/k", "ex", "other/k"],
        ),
        (KeyFilter(exclude=(f"ex{char}",)), [f"ex{char}k", f"ex{alike}k", "exk", "ex"]),
        (KeyFilter(("in/",), (under,)), [f"{under}k", "in/k", f"in/{alike}t/k", "out/k"]),
    ]


@pytest.mark.parametrize("char", SPECIAL, ids=repr)
@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_the_rule_keeps_every_key_however_s3_encodes_a_special_character(
    char: str, encoding: str
) -> None:
    for key_filter, keys in cases(char):
        for key in keys:
            check_rule(key_filter, key, encoding)


def test_the_e2e_filter_in_moto() -> None:
    key_filter = KeyFilter(("keep/",), ("keep/tmp/",))
    assert rule_passes(key_filter, "keep/a.txt")
    assert not rule_passes(key_filter, "other/a.txt")
    # EventBridge cannot AND two matchers on one key: the replicator drops this one.
    assert rule_passes(key_filter, "keep/tmp/a.txt") and not key_filter.matches("keep/tmp/a.txt")


def test_the_replicator_drops_and_acknowledges_a_filtered_event(
    system: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(LOGGER, "propagate", True)
    filtered = system.with_settings(key_filter=KeyFilter(("keep/",), ("keep/tmp/",)))
    app = ReplicatorApp(filtered.settings, filtered.replicator)
    events = [filtered.put(key) for key in ("keep/a.txt", "keep/tmp/b.txt", "other/c.txt")]
    batch = {
        "Records": [
            sqs_record(json.dumps(to_eventbridge(e)), f"m{n}") for n, e in enumerate(events)
        ]
    }
    with caplog.at_level("INFO", logger="objbackup"):
        assert app(batch) == {"batchItemFailures": []}
    assert [len(filtered.copies(k)) for k in ("keep/a.txt", "keep/tmp/b.txt", "other/c.txt")] == [
        1,
        0,
        0,
    ]
    logged = [json.loads(r.getMessage()) for r in caplog.records]
    assert {
        (line["key"], line["outcome"]) for line in logged if line.get("outcome") == "filtered"
    } == {
        ("keep/tmp/b.txt", "filtered"),
        ("other/c.txt", "filtered"),
    }
    # A delete outside the filter is dropped too: the rule never delivers it either.
    gone = filtered.delete("other/c.txt")
    assert app(to_eventbridge(gone)) == {"outcomes": ["filtered"]}
    assert gone.kind is Kind.DELETED


# The characters the encodings treat apart (space, "+", "%", "/", "~", non-ASCII) run in the fast
# loop; the rest (slow: 5 s of CPU in all) are each a plain %XX escape to the replicator, and the
# rule alone is checked for every character by the test above.
FAST_SPECIAL = (" ", "+", "%", "/", "~", "é")


@pytest.mark.parametrize(
    "char",
    [c if c in FAST_SPECIAL else pytest.param(c, marks=pytest.mark.slow) for c in SPECIAL],
    ids=repr,
)
def test_rule_and_replicator_back_up_exactly_the_filtered_keys_however_s3_encodes_them(
    system: Harness, char: str
) -> None:
    """Each event the rule lets by reaches the replicator, which decides on the decoded key."""
    for key_filter, keys in cases(char):
        filtered = system.with_settings(key_filter=key_filter)
        app = ReplicatorApp(filtered.settings, filtered.replicator)
        for key in keys:
            message = to_eventbridge(filtered.put(key))
            for encoding in DECODABLE:
                message["detail"]["object"]["key"] = ENCODINGS[encoding](key)
                delivered = rule_passes(key_filter, key, encoding)
                outcome = app(message)["outcomes"][0] if delivered else "not delivered"
                backed_up = outcome not in ("filtered", "not delivered")
                assert backed_up is key_filter.matches(key), (key_filter, key, encoding, outcome)


def test_sandbox_gap_a_rule_pattern_given_as_json_text(moto_aws: None) -> None:
    """CloudFormation accepts an EventPattern as JSON text; moto encoded it twice
    (objbackup/sandbox/patches/cloudformation.py)."""
    import boto3

    from tests.harness import REGION

    text = json.dumps({"source": ["aws.s3"], "detail": {"object": {"key": [{"prefix": "a/"}]}}})
    template = {
        "Resources": {
            "Rule": {
                "Type": "AWS::Events::Rule",
                "Properties": {"EventPattern": text, "State": "ENABLED"},
            }
        }
    }
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(StackName="text-pattern", TemplateBody=json.dumps(template))
    rule = cfn.describe_stack_resource(StackName="text-pattern", LogicalResourceId="Rule")
    name = rule["StackResourceDetail"]["PhysicalResourceId"]
    described = boto3.client("events", region_name=REGION).describe_rule(Name=name)
    assert json.loads(described["EventPattern"]) == json.loads(text)
