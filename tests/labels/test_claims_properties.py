"""Properties of label URLs: every label the exchange can issue reads back to its claims and
verifies; anything else, random or a label with one character changed, is refused with the
label's own error (or, when it still parses, fails verification), never another exception."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange import signing
from exchange.labels import claims as c
from exchange.labels import gs1
from exchange.labels.verify import TrustedKey, verify_label

KEY = signing.KeyPair.from_private_key(bytes(range(1, 33)))
TRUSTED = [TrustedKey(KEY.kid, KEY.public_key, dt.datetime(2020, 1, 1, tzinfo=dt.UTC))]
CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"


@st.composite
def gtins(draw: st.DrawFn) -> str:
    body = draw(st.text("0123456789", min_size=13, max_size=13))
    return body + str(gs1.check_digit(body))


origins = st.builds(
    lambda name, tld, port: f"{name}.{tld}" + (f":{port}" if port else ""),
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True),
    st.sampled_from(["example", "cn", "org"]),
    st.none() | st.integers(1, 65535),
)


@st.composite
def issued_claims(draw: st.DrawFn) -> c.Claims:
    issued = draw(st.dates(dt.date(2020, 1, 1), dt.date(2170, 1, 1)))
    return c.Claims(
        origin=draw(origins),
        gtin=draw(gtins()),
        lot=draw(st.none() | st.text(CSET82, min_size=1, max_size=gs1.LOT_MAX_LENGTH)),
        label=draw(st.integers(1, 2**32 - 1)),
        certificate=draw(st.integers(1, 2**32 - 1)),
        value=c.round_value(
            draw(
                st.decimals(
                    min_value=Decimal("-1e9"), max_value=Decimal("1e9"), allow_nan=False, places=8
                )
            )
        ),
        unit=draw(st.sampled_from(c.UNITS)),
        grade=draw(st.none() | st.integers(1, c.MAX_GRADE)),
        issued=issued,
        expires=issued + dt.timedelta(days=draw(st.integers(0, 2**16 - 1))),
        kid=KEY.kid,
    )


def issue(claims: c.Claims) -> str:
    signature = signing.sign_bytes(message=c.signed_message(claims), private_key=KEY.private_key)
    return c.encode(claims, signature)


def refused_or_unverified(text: str, origin: str, today: dt.date) -> None:
    """Either the label's own error (which verify_label turns into a "malformed" verdict)
    or a verdict that is not valid; any other exception escapes and fails the test."""
    verdict = verify_label(text, origin=origin, keys=TRUSTED, today=today)
    assert not verdict.valid


@settings(max_examples=150)
@given(issued_claims())
def test_every_issued_label_reads_back_and_verifies(claims: c.Claims) -> None:
    url = issue(claims)
    scanned = c.decode(url)
    assert scanned.claims(KEY.kid) == claims
    assert scanned.kid_hint == KEY.kid[:8]
    verdict = verify_label(url, origin=claims.origin, keys=TRUSTED, today=claims.issued)
    assert verdict.valid, verdict.reasons
    assert verdict.claims == claims
    # The whole label stays in QR's alphanumeric set up to the digits.
    assert url.split("?L=")[1].isdigit()


@settings(max_examples=150)
@given(issued_claims(), st.data())
def test_one_changed_character_is_refused_or_fails_verification(
    claims: c.Claims, data: st.DataObject
) -> None:
    url = issue(claims)
    position = data.draw(st.integers(0, len(url) - 1), label="position")
    how = data.draw(st.sampled_from(["replace", "insert", "delete"]), label="how")
    character = data.draw(st.characters(codec="utf-8"), label="character")
    if how == "delete":
        mutated = url[:position] + url[position + 1 :]
    else:
        keep = 1 if how == "replace" else 0
        mutated = url[:position] + character + url[position + keep :]
    # Scanners may add surrounding blanks: the same label, rightly still valid.
    if mutated.strip() == url:
        return
    refused_or_unverified(mutated, claims.origin, claims.issued)


@settings(max_examples=300)
@given(
    st.one_of(
        st.text(),
        st.from_regex(r"HTTPS://[A-Z0-9.:-]{1,30}/01/[0-9]{14}(/10/[^?]{0,25})?\?L=[0-9]{0,250}"),
        st.builds(
            lambda digits: f"HTTPS://FX.EXAMPLE/01/09506000134352?L={digits}",
            st.text("0123456789", max_size=260),
        ),
    )
)
def test_random_text_fails_with_the_label_error_only(text: str) -> None:
    with pytest.raises(c.LabelFormatError):
        scanned = c.decode(text)
        # Parsed by chance: it still cannot carry a signature of the trusted key.
        assert not verify_label(
            text, origin=scanned.origin, keys=TRUSTED, today=scanned.issued
        ).valid
        raise c.LabelFormatError("parsed, but not a valid label")
