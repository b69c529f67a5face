"""XML-DSig on CAP alerts (docs/architecture.md), verified with signxml.

What "verified" means here: the issuer's (first) enveloped signature matches the message, with the key
the signature carries (X.509 certificate or KeyValue). Certificate trust chains are not judged: old
alerts carry long-expired certificates, so validity is checked at the alert's `sent` time and a
mismatch is only noted. Real producers deviate in two known, harmless ways that are tolerated:
SignedInfo canonicalized on its own (as exclusive c14n) although inclusive c14n is declared, and
later countersignatures (e.g. the NAADS distributor's) added after the issuer signed.

Outcomes: unsigned; unverifiable (a <Signature> placeholder with no SignedInfo); verified; failed
(digest or signature mismatch: ingest quarantines it); malformed (the signature itself breaks the
XML-DSig schema, e.g. an altered DigestValue: the message is rejected at parse time).
"""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

DS_NS = "http://www.w3.org/2000/09/xmldsig#"


@dataclass
class SignatureCheck:
    status: str  # unsigned, unverifiable, verified, failed
    detail: str | None = None
    path: str | None = None
    malformed: bool = False
    certificate_note: str | None = None


def _verifier_class():
    from signxml import XMLVerifier

    class TolerantVerifier(XMLVerifier):
        # Legacy signers drop xmlns="" when canonicalizing; signxml keeps this switch for them.
        excise_empty_xmlns_declarations = True

        def _verify_signature_with_pubkey(self, *, signed_info_c14n, raw_signature, **kwargs):
            try:
                return super()._verify_signature_with_pubkey(signed_info_c14n=signed_info_c14n,
                                                             raw_signature=raw_signature, **kwargs)
            except Exception:
                standalone = etree.tostring(etree.fromstring(signed_info_c14n), method="c14n", exclusive=True)
                if standalone == signed_info_c14n:
                    raise
                return super()._verify_signature_with_pubkey(signed_info_c14n=standalone,
                                                             raw_signature=raw_signature, **kwargs)

    return TolerantVerifier


_VERIFIER = None


def _remove_keeping_tail(element: etree._Element) -> None:
    parent, previous = element.getparent(), element.getprevious()
    if element.tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def _embedded_certificate(signature: etree._Element):
    from cryptography import x509

    element = signature.find(f".//{{{DS_NS}}}X509Certificate")
    if element is None or not (element.text or "").strip():
        return None
    return x509.load_der_x509_certificate(base64.b64decode("".join(element.text.split())))


def _verification_time(certificate, sent: datetime) -> tuple[datetime | None, str | None]:
    if certificate is None:
        return None, None
    if certificate.not_valid_before_utc <= sent <= certificate.not_valid_after_utc:
        return sent, None
    note = (f"signing certificate valid {certificate.not_valid_before_utc:%Y-%m-%d} to "
            f"{certificate.not_valid_after_utc:%Y-%m-%d}, not at sent time {sent.isoformat()}")
    return certificate.not_valid_before_utc, note


def check_signature(alert: etree._Element, sent: datetime) -> SignatureCheck:
    global _VERIFIER
    signatures = alert.findall(f"{{{DS_NS}}}Signature")
    if not signatures:
        return SignatureCheck("unsigned")
    from alerts.reading.xmlsafe import element_path

    issuer = signatures[0]
    path = element_path(issuer)
    if issuer.find(f"{{{DS_NS}}}SignedInfo") is None:
        return SignatureCheck("unverifiable", "signature element has no SignedInfo (a placeholder)", path)
    import signxml
    from signxml import SignatureConfiguration
    from signxml.exceptions import InvalidDigest, InvalidSignature, SignXMLException

    malformed = _malformed_base64(issuer)
    if malformed:
        return SignatureCheck("failed", malformed, path, malformed=True)
    if _VERIFIER is None:
        _VERIFIER = _verifier_class()
    document = copy.deepcopy(alert)
    for later in document.findall(f"{{{DS_NS}}}Signature")[1:]:
        _remove_keeping_tail(later)
    try:
        certificate = _embedded_certificate(issuer)
    except Exception as exc:
        return SignatureCheck("failed", f"embedded X.509 certificate unreadable: {exc}", path)
    at, note = _verification_time(certificate, sent)
    config = SignatureConfiguration(require_x509=False, expect_references=1, verification_time=at,
                                    signature_methods=frozenset(signxml.SignatureMethod),
                                    digest_algorithms=frozenset(signxml.DigestAlgorithm))
    try:
        # The XML-DSig schema check is ours (_malformed_base64): signxml's would refuse real producers'
        # Id="Environment Canada" (a space in an xs:ID).
        _VERIFIER().verify(document, x509_cert=certificate, ignore_ambiguous_key_info=True, expect_config=config,
                           validate_schema=False)
    except InvalidDigest as exc:
        return SignatureCheck("failed", f"XML signature verification failed: digest mismatch ({_short(exc)})",
                              path, certificate_note=note)
    except InvalidSignature as exc:
        reason = "signature value does not match SignedInfo" if "verification failed" in str(exc) or not str(exc) \
            else _short(exc)
        return SignatureCheck("failed", f"XML signature verification failed: {reason}", path, certificate_note=note)
    except (SignXMLException, ValueError) as exc:
        return SignatureCheck("failed", f"XML signature cannot be verified: {_short(exc)}", path,
                              certificate_note=note)
    return SignatureCheck("verified", None, path, certificate_note=note)


def _malformed_base64(signature: etree._Element) -> str | None:
    """XML-DSig digest and signature values are base64Binary; an altered one is often not even that."""
    for name in ("DigestValue", "SignatureValue"):
        for element in signature.iter(f"{{{DS_NS}}}{name}"):
            text = "".join((element.text or "").split())
            try:
                canonical = base64.b64encode(base64.b64decode(text, validate=True)).decode()
            except ValueError:
                canonical = None
            if canonical != text:
                return (f"XML signature is malformed, so it cannot verify: ds:{name} {text[:60]!r} is not valid "
                        "base64 (altered after signing?)")
    return None


def _short(exc: Exception) -> str:
    return str(exc).replace("{http://www.w3.org/2000/09/xmldsig#}", "ds:").splitlines()[0][:300] if str(exc) else ""
