"""The quick JSON reading of request bodies: it reads what `json` reads, or hands the body back.

Ingest's answers to bodies were set by `json` (the slow path); the quick
reader may only be quicker. Every body here is read by both, and the quick
one must either give `json`'s document or decline (None), never a different
reading.
"""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from khabar_ingest.body import read_fast

DEPTH = 20

# Bodies whose reading differs between JSON libraries: big integers, exact floats, escapes.
TRICKY = [
    b'{"n": 123456789012345678901234567890}',
    b'{"n": -9223372036854775809, "m": 18446744073709551616}',
    b'{"f": 0.1, "g": 1e300, "h": -0.0, "i": 2e-400, "j": 1.7976931348623157e308}',
    b'{"s": "\\ud83d\\ude00 \\u0000 \\"q\\" \\/"}',
    '{"عنوان": "خبر عاجل"}'.encode(),
    b'[{"a": 1, "a": 2}]',
]
# Bodies the quick reader must decline: `json` gives ingest's answer (a refusal, or its reading).
DECLINED = [
    b'{"n": NaN}',
    b'{"n": 1e400}',
    b'{"s": "\\ud800"}',  # a lone surrogate: json reads it, the readers then name the field
    b'{"s": "\xff"}',
    b'{"s": "\xed\xa0\x80"}',
    b'{"n": ' + b"9" * 5000 + b"}",
    b'{"a": 1',
]


@pytest.mark.parametrize("body", TRICKY)
def test_quick_reading_equals_json(body: bytes) -> None:
    document = read_fast(body, DEPTH, "/v1/articles")
    assert document == json.loads(body)
    assert json.dumps(document) == json.dumps(json.loads(body))  # same types: 1 is not 1.0


@pytest.mark.parametrize("body", DECLINED)
def test_quick_reading_declines_what_json_must_answer(body: bytes) -> None:
    assert read_fast(body, DEPTH, "/v1/articles") is None


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_any_json_document_reads_as_json_reads_it(value: object) -> None:
    body = json.dumps(value, ensure_ascii=False).encode("utf-8", errors="surrogatepass")
    document = read_fast(body, 1000, "/v1/articles")  # generated nesting is not what is tested
    if document is not None:
        assert json.dumps(document) == json.dumps(json.loads(body))
