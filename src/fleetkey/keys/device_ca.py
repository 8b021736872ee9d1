"""A per-tenant device CA (ECDSA P-256) that turns a device's CSR into a client certificate."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import ForeignKey, String, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from fleetkey.clock import utcnow
from fleetkey.credentials.vault import Vault
from fleetkey.db.base import Base, UTCDateTime
from fleetkey.db.session import Database
from fleetkey.errors import FieldProblem, ValidationFailed

CA_YEARS = 10
DEVICE_CERT_DAYS = 365
MAX_CSR_BYTES = 16_384


class DeviceCA(Base):
    __tablename__ = "device_cas"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    cert_pem: Mapped[str] = mapped_column(Text)
    key_sealed: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def _context(tenant_id: str) -> str:
    return f"device-ca:{tenant_id}"


def _new_ca(vault: Vault, tenant_id: str) -> DeviceCA:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fleetkey"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"fleetkey device CA {tenant_id}"),
        ]
    )
    now = utcnow()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return DeviceCA(
        tenant_id=tenant_id,
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        key_sealed=vault.seal(der, _context(tenant_id)),
    )


async def ca_for(db: Database, vault: Vault, tenant_id: str) -> DeviceCA:
    """The tenant's CA, created (in a transaction of its own) on first use."""
    async with db.unit_of_work(write=False) as session:
        row = await session.scalar(select(DeviceCA).where(DeviceCA.tenant_id == tenant_id))
    if row is not None:
        return row
    fresh = await asyncio.to_thread(_new_ca, vault, tenant_id)
    try:
        async with db.unit_of_work() as session:
            session.add(fresh)
    except IntegrityError:
        async with db.unit_of_work(write=False) as session:
            row = await session.scalar(select(DeviceCA).where(DeviceCA.tenant_id == tenant_id))
        assert row is not None
        return row
    return fresh


def load_csr(pem: str) -> x509.CertificateSigningRequest:
    problem = FieldProblem(
        "csr", "must be a PEM certificate signing request with a valid signature"
    )
    if not isinstance(pem, str) or len(pem) > MAX_CSR_BYTES:
        raise ValidationFailed([problem])
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
        valid = csr.is_signature_valid
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:  # e.g. an unknown curve
        raise ValidationFailed([problem]) from exc
    if not valid:
        raise ValidationFailed([problem])
    return csr


def issue_certificate(
    vault: Vault, ca: DeviceCA, csr: x509.CertificateSigningRequest, device_name: str
) -> str:
    """A client certificate for the CSR's key; the subject is fleetkey's name for the device."""
    der = vault.open(ca.key_sealed, _context(ca.tenant_id))
    key = serialization.load_der_private_key(der, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.encode())
    now = utcnow()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(csr.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=DEVICE_CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()
