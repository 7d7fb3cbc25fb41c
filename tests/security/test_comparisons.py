"""Secrets are compared in constant time: no ``==`` or ``!=`` in exchange/ may take an
operand named like a secret, a token, a password, a digest or a signature.

Secrets themselves go through ``hmac.compare_digest`` or a lookup by their hash (client
secrets, bearer tokens, CSRF tokens; passwords through werkzeug's ``check_password_hash``).
The few comparisons below are of values anyone may know — digests and signatures of
published documents, Merkle hashes — where timing reveals nothing; each is named with the
reason, so a new comparison of that kind is a decision someone makes, not an accident.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import exchange

EXCHANGE = Path(exchange.__file__).resolve().parent
SECRET_NAME = re.compile(r"secret|token|password|passw|digest|hash|signature|csrf|credential", re.I)

PUBLIC_DIGEST = "a digest of a stored document, computed by the exchange from public bytes"
PUBLIC_SIGNATURE = "a signature, public by design (it rides on labels and in envelopes)"
MERKLE = "a hash of the transparency log, which is public"
OWN_TABLES = "both operands read by the exchange from its own tables: no caller chooses either"
PUBLIC_VALUES: dict[tuple[str, str], str] = {
    ("aggregation/services/documents.py", "current == bound.result_digest"): PUBLIC_DIGEST,
    ("aggregation/commitments.py", "digest == document['footprintDigest']"): PUBLIC_DIGEST,
    ("aggregation/commitments.py", "digest == document.get('servedFootprintDigest')"): (
        PUBLIC_DIGEST
    ),
    ("aggregation/services/provenance.py", "entry.leaf_hash != leaf"): MERKLE,
    ("aggregation/services/provenance.py", "record.signature_kid != reference.get('kid')"): (
        OWN_TABLES
    ),
    (
        "aggregation/services/provenance.py",
        "record.signature != reference.get('signature')",
    ): OWN_TABLES,
    (
        "mutual_recognition/verify.py",
        "(attested or {}).get('logLeafHash') != (proof or {}).get('leafHash')",
    ): MERKLE,
    ("factors/services.py", "same[0].content_digest != digest"): PUBLIC_DIGEST,
    ("labels/services/trust.py", "latest.content_digest == digest"): PUBLIC_DIGEST,
    ("factors/services.py", "versions[-1].content_digest == digest"): PUBLIC_DIGEST,
    ("footprints/services/submission.py", "existing.envelope_digest == candidate.digest"): (
        PUBLIC_DIGEST
    ),
    (
        "labels/services/certificates.py",
        "document.footprint_digest != footprint_digest(record.footprint_json)",
    ): PUBLIC_DIGEST,
    ("labels/services/issuing.py", "row.signature != scanned.signature"): PUBLIC_SIGNATURE,
    (
        "labels/services/certificates.py",
        "existing.signature == parsed.signature.value",
    ): PUBLIC_SIGNATURE,
    ("log/services.py", "signed.root_hash != rebuilt"): MERKLE,
    ("log/services.py", "leaf != row.leaf_hash"): MERKLE,
    ("log/services.py", "signed.root_hash != stored_root"): MERKLE,
    ("log/verify.py", "merkle.leaf_hash(entry) != leaf"): MERKLE,
    ("witness/services.py", "checkpoint.root_hash != merkle.EMPTY_ROOT"): MERKLE,
    ("log/verify.py", "_hash(proof['rootHash'], 'rootHash') != signed.root_hash"): MERKLE,
    ("mutual_recognition/services/federation.py", "before.root_hash != current.root_hash"): (
        MERKLE
    ),
    ("mutual_recognition/verify.py", "certificate.get('footprintDigest') != digest"): (
        PUBLIC_DIGEST
    ),
    ("mutual_recognition/verify.py", "recognition.get('footprintDigest') != digest"): (
        PUBLIC_DIGEST
    ),
}


def _operand_name(node: ast.expr) -> str:
    """The name an operand goes by: ``x``, ``a.x``, ``a["x"]``, ``a.get("x")``, ``x(...)``.
    Constants (``SIGNATURE_BYTES``) are sizes and names, never secrets."""
    if isinstance(node, ast.Name):
        return "" if node.id.isupper() else node.id
    if isinstance(node, ast.Attribute):
        return "" if node.attr.isupper() else node.attr
    if isinstance(node, ast.Subscript):
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return key.value
        return _operand_name(node.value)
    if isinstance(node, ast.Call):
        function = node.func
        if (
            isinstance(function, ast.Attribute)
            and function.attr == "get"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            return str(node.args[0].value)
        return _operand_name(function)
    return ""


def _is_column(node: ast.expr) -> bool:
    """``Model.column == value`` builds SQL: a lookup in the database, not a comparison."""
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id[:1].isupper()
    )


def suspicious_comparisons(source: str) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        if not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
            continue
        operands = [node.left, *node.comparators]
        if any(_is_column(operand) for operand in operands):
            continue
        if any(SECRET_NAME.search(_operand_name(operand)) for operand in operands):
            yield node.lineno, ast.unparse(node)


def test_no_secret_is_compared_with_equality() -> None:
    found: dict[tuple[str, str], int] = {}
    for path in sorted(EXCHANGE.rglob("*.py")):
        relative = path.relative_to(EXCHANGE).as_posix()
        for line, text in suspicious_comparisons(path.read_text(encoding="utf-8")):
            found[(relative, text)] = line
    unexplained = {
        f"exchange/{path}:{line}: {text}"
        for (path, text), line in found.items()
        if (path, text) not in PUBLIC_VALUES
    }
    assert not unexplained, "compare secrets with hmac.compare_digest:\n" + "\n".join(
        sorted(unexplained)
    )
    # The list of public comparisons stays true: a removed one is removed here too.
    assert set(PUBLIC_VALUES) <= set(found), set(PUBLIC_VALUES) - set(found)


def test_the_scan_catches_what_it_is_for() -> None:
    leaks = """
if client_secret == sent: pass
if request.form["csrf_token"] != expected: pass
if user.password_hash == computed: pass
if headers.get("X-Partner-Token") == configured: pass
if hash_secret(token) == stored: pass
"""
    assert len(list(suspicious_comparisons(leaks))) == 5
    fine = """
if hmac.compare_digest(client_secret, sent): pass
query = select(AccessToken).where(AccessToken.token_hash == digest)
if len(raw_signature) != SIGNATURE_BYTES: pass
if token_response.status_code != 200: pass
if token is None: pass
"""
    assert list(suspicious_comparisons(fine)) == []
