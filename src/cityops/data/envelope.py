"""Signed, time-stamped messages between cityops instances (the X-Road promise: neither side
can deny an exchange).

An envelope carries the sender's certificate (issued by its city's own authority), the time,
a nonce, the body, and the sender's signature (ECDSA or RSA, SHA-256) over the canonical JSON
of all that. The receiver checks the certificate against the authorities it trusts, its
validity, the signature, and that the time is within the allowed skew; each side keeps the
other's signed message in its access log.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from cityops.errors import Unauthorized

VERSION = 1
MAX_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Identity:
    """This instance's certificate and key, and the authorities whose certificates it trusts."""

    cert_pem: bytes
    key_pem: bytes
    trusted_pem: bytes

    @property
    def name(self) -> str:
        return common_name(x509.load_pem_x509_certificate(self.cert_pem))


def common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _canonical(message: dict[str, Any]) -> bytes:
    return orjson.dumps({k: v for k, v in message.items() if k != "sig"}, option=orjson.OPT_SORT_KEYS)


def digest(message: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(message, option=orjson.OPT_SORT_KEYS)).hexdigest()


def seal(identity: Identity, body: dict[str, Any], now: datetime, kind: str) -> dict[str, Any]:
    message = {"v": VERSION, "kind": kind, "sender": identity.name, "cert": identity.cert_pem.decode(),
               "at": now.isoformat(), "nonce": secrets.token_hex(16), "body": body}
    key = serialization.load_pem_private_key(identity.key_pem, password=None)
    data = _canonical(message)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        sig = key.sign(data, ec.ECDSA(hashes.SHA256()))
    elif isinstance(key, rsa.RSAPrivateKey):
        sig = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    else:
        raise ValueError("exchange keys must be EC or RSA")
    return {**message, "sig": base64.b64encode(sig).decode()}


def _refuse(en: str, zh: str) -> Unauthorized:
    return Unauthorized(f"exchange message refused: {en}", f"交换报文被拒绝：{zh}")


def open_sealed(trusted_pem: bytes, message: Any, now: datetime, kind: str) -> tuple[str, dict[str, Any]]:
    """(sender, body) of a message that passes every check; else Unauthorized saying why."""
    if not isinstance(message, dict) or message.get("v") != VERSION or message.get("kind") != kind:
        raise _refuse(f"not a version {VERSION} {kind} message", "报文格式或类型不符")
    try:
        cert = x509.load_pem_x509_certificate(str(message["cert"]).encode())
        at = datetime.fromisoformat(str(message["at"]))
        sig = base64.b64decode(str(message["sig"]))
    except (KeyError, ValueError) as exc:
        raise _refuse(f"malformed ({exc})", "报文不完整") from None
    if not any(_issued_by(cert, ca) for ca in x509.load_pem_x509_certificates(trusted_pem)):
        raise _refuse("the sender's certificate is not from a trusted authority", "发送方证书非受信任机构签发")
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise _refuse("the sender's certificate is not valid now", "发送方证书不在有效期内")
    if at.tzinfo is None or abs(now - at) > MAX_SKEW:
        raise _refuse(f"time stamp {message['at']} is more than {MAX_SKEW} from now", "时间戳超出允许偏差")
    public = cert.public_key()
    data = _canonical(message)
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(sig, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public, rsa.RSAPublicKey):
            public.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise InvalidSignature
    except InvalidSignature:
        raise _refuse("the signature does not match", "签名不符") from None
    if common_name(cert) != message.get("sender"):
        raise _refuse("the sender is not the certificate's subject", "发送方与证书主体不符")
    return common_name(cert), message["body"]


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
