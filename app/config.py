"""Typed settings read from ``TENANTRY_*`` environment variables."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class IncompleteConfiguration(RuntimeError):
    """Production settings are missing; the message names each variable and what to set it to."""


# What each setting production cannot do without is for, and how to get a value (the refusal says it).
REQUIRED_IN_PRODUCTION: dict[str, str] = {
    "secret_key": "signs cookies and tokens; generate one with: "
    "python -c 'import secrets; print(secrets.token_urlsafe(48))'",
    "audit_signing_key": "signs audit checkpoints (Ed25519, PEM PKCS#8 or base64 of the 32-byte seed); "
    "generate one with: python -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())'",
    "smtp_url": "delivers invitation mail, as smtp://[user:password@]host:port, smtp+starttls://... or "
    "smtps://...; without it invitation tokens would be written to the log",
}


class Settings(BaseSettings):
    """Every setting Tenantry reads; the README documents each one."""

    model_config = SettingsConfigDict(env_prefix="TENANTRY_", extra="ignore")

    env: Literal["development", "production", "test"] = "development"
    instance_path: Path = Path("instance")
    database_url: str = ""
    secret_key: str = ""
    base_url: str = "http://127.0.0.1:8000"
    bus_url: str = ""
    bus_stream: str = "TENANTRY_EVENTS"
    bus_subject_prefix: str = "tenantry.v1"
    dns_nameservers: str = ""
    dns_port: int = 53
    dns_timeout: float = 5.0
    smtp_url: str = ""
    # Shared rate limits (and, with SSO, replay caches): unset keeps them in this process's memory;
    # ``redis://127.0.0.1:6379/0`` shares them across workers and instances (app/ratelimit.py).
    rate_limit_url: str = ""
    rate_limit_prefix: str = "tenantry"
    # Invitation accept attempts (``limits`` notation): per client IP, and per token prefix.
    invitation_accept_rate_ip: str = "30/minute"
    invitation_accept_rate_token: str = "10/minute"  # noqa: S105 - a rate, not a secret
    # Requests per SCIM token (``limits`` notation); an IdP's import runs at a few hundred per second.
    scim_rate: str = "50000/minute"
    mail_from: str = "Tenantry <no-reply@tenantry.local>"
    session_ttl: int = Field(default=8 * 3600, ge=60)
    log_level: str = "INFO"
    log_json: bool = True
    invitation_ttl_days: int = Field(default=7, ge=1, le=30)
    # Ed25519 key signing audit checkpoints: PEM (PKCS#8) or base64 of the 32-byte seed. Required in
    # production; in development one is generated into the instance folder (app/audit/signing.py).
    audit_signing_key: str = ""
    audit_checkpoint_interval: int = Field(default=600, ge=10)  # seconds between worker checkpoints
    # Bounded verification (app/audit/verification.py): events one GET …/audit-logs/verify walks at most;
    # the worker's full verification of every chain, every so many seconds.
    audit_verify_max_events: int = Field(default=100_000, ge=10)
    audit_full_verify_interval: int = Field(default=24 * 3600, ge=60)
    # Retention of the platform chain (events of platform keys and accounts), like an org's.
    audit_platform_retention_days: int = Field(default=365, ge=30, le=3650)
    # Largest request body accepted (bytes): past it 413 in the format of the door (problem+json, SCIM Error).
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    authz_fast_path: bool = True  # answer warm check requests before Flask (app/rbac/fastpath.py)
    scim_fast_path: bool = True  # an IdP's warm lookups and creates before Flask (app/scim/*fastpath.py)
    # Domain verification (app/domains/): verified domains are re-checked about every interval (spread
    # with jitter); while the record is missing they are checked every retry interval, and unverified once
    # it has been missing for the grace period. Timeouts and SERVFAIL never count as missing.
    domain_recheck_interval: int = Field(default=24 * 3600, ge=60)
    domain_recheck_retry: int = Field(default=3600, ge=60)
    domain_grace_period: int = Field(default=72 * 3600, ge=0)
    domain_verify_rate: str = "12/hour"  # verification attempts per domain, in the limits notation
    # Data extracts (app/extracts/): the longest span a job covers, where files go (``local``: the
    # directory below, default ``<instance>/extracts``; ``s3``: the bucket, prefix and endpoint below),
    # rows per checkpoint, a worker's lease, and how long files are kept after a job succeeds.
    extract_max_span_days: int = Field(default=31, ge=1, le=366)
    extract_storage: Literal["local", "s3"] = "local"
    extract_dir: Path | None = None
    extract_s3_bucket: str = ""
    extract_s3_prefix: str = "extracts"
    extract_s3_endpoint_url: str = ""
    extract_part_rows: int = Field(default=5000, ge=1)
    extract_lease_seconds: int = Field(default=300, ge=5)
    extract_retention_days: int = Field(default=7, ge=1)
    # Access tokens (app/tokens/): lifetime of a token minted from a session, its audience (unset: the
    # issuer, TENANTRY_BASE_URL), how often the worker rotates the signing key, and how long other services
    # may cache /.well-known/jwks.json (a revoked key leaves it within that time).
    access_token_ttl: int = Field(default=600, ge=60, le=3600)
    access_token_audience: str = ""
    signing_key_rotation_interval: int = Field(default=30 * 86400, ge=3600)
    jwks_max_age: int = Field(default=300, ge=0, le=86400)
    # Email one-time codes (app/sso/email_codes.py): lifetime, digits, wrong tries that burn a code, and
    # requests to start a code per address and per client IP (``limits`` notation).
    email_code_ttl: int = Field(default=600, ge=60, le=3600)
    email_code_digits: int = Field(default=6, ge=6, le=8)
    email_code_max_attempts: int = Field(default=5, ge=1, le=20)
    email_code_rate_email: str = "5/15minute"
    email_code_rate_ip: str = "30/15minute"

    # SSO (app/sso/): SP private keys and OIDC client secrets are encrypted at rest with this key (base64 of
    # 32 bytes) or, unset, a key derived from the secret key. Metadata URLs are fetched over https from
    # public addresses only, unless private addresses (and http) are allowed (tests, closed networks);
    # within a size and time limit, and refreshed by the worker every interval. ``sso_allowed_return_origins``
    # (comma-separated origins) may receive the browser after login besides the base URL.
    sso_key_encryption_key: str = ""
    allow_private_metadata_urls: bool = False
    sso_metadata_max_bytes: int = Field(default=1024 * 1024, ge=1024)
    sso_metadata_timeout: float = Field(default=5.0, gt=0)
    sso_metadata_refresh_interval: int = Field(default=24 * 3600, ge=60)
    sso_allowed_return_origins: str = ""
    sso_clock_skew: int = Field(default=120, ge=0, le=300)  # seconds allowed on SAML validity windows
    sso_transaction_ttl: int = Field(default=600, ge=60, le=3600)  # a login started must end within this
    sso_cert_warning_days: int = Field(default=30, ge=1)
    # Sign-in starts and ACS posts allowed per client IP (``limits`` notation), shared like every limit.
    sso_rate_ip: str = "120/minute"

    @field_validator("domain_verify_rate", "email_code_rate_email", "email_code_rate_ip", "sso_rate_ip")
    @classmethod
    def _rate(cls, value: str) -> str:
        from limits import parse

        parse(value)  # raises ValueError for anything that is not "N/period"
        return value

    def missing_in_production(self) -> dict[str, str]:
        """Each variable production requires and this configuration lacks, with what it is for."""
        if self.env != "production":
            return {}
        return {
            f"TENANTRY_{name.upper()}": why
            for name, why in REQUIRED_IN_PRODUCTION.items()
            if not str(getattr(self, name)).strip()
        }

    def refuse_incomplete_production(self) -> None:
        """Raise ``IncompleteConfiguration`` naming every missing variable (run before serving)."""
        missing = self.missing_in_production()
        if missing:
            raise IncompleteConfiguration(
                "TENANTRY_ENV=production, but required settings are not set. Set each in the environment "
                "and start again:\n" + "\n".join(f"  {var}: {why}" for var, why in missing.items())
            )

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.instance_path.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.instance_path / 'tenantry.db').resolve()}"

    def resolved_secret_key(self) -> str:
        """The configured key; in development one generated once into the instance folder."""
        if self.secret_key:
            return self.secret_key
        if self.env == "production":
            raise RuntimeError("TENANTRY_SECRET_KEY must be set in production")
        self.instance_path.mkdir(parents=True, exist_ok=True)
        path = self.instance_path / "secret_key"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


def settings_for_service() -> Settings:
    """The settings of a process that serves (``tenantry serve``, ``worker``, ``relay``): incomplete
    production settings end it at once, exit status 1 and the message on stderr, before anything starts."""
    settings = Settings()
    try:
        settings.refuse_incomplete_production()
    except IncompleteConfiguration as exc:
        raise SystemExit(f"error: {exc}") from None
    return settings
