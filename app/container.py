"""Composition root: long-lived collaborators built once from settings, request-scoped services on demand."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.audit.bus import outbox
from app.audit.bus.wakeup import RelayWaker
from app.audit.integrity import AuditIntegrity
from app.audit.recorder import SYSTEM, Actor, AuditRecorder, OutboxConfig, RequestContext
from app.audit.search import AuditLogSearch
from app.audit.signing import Signer, load_signer
from app.audit.subject_keys import SubjectKeyring
from app.clock import Clock, SystemClock
from app.config import Settings
from app.credentials.resolver import CredentialResolver
from app.credentials.service import CredentialService
from app.crypto.sealing import Sealer
from app.db import make_engine, make_session_factory
from app.domains.dns import TxtResolver, resolver_from_settings
from app.domains.matching import VerifiedDomains
from app.domains.service import DomainService, RecheckPolicy
from app.extracts.runner import ExtractRunner, RunnerPolicy
from app.extracts.service import ExtractService
from app.extracts.storage import ExtractStorage, storage_from_settings
from app.mail import Mailer, mailer_from_url
from app.observability import MetricsCollector, ReadinessProbe
from app.orgs.accounts import AccountService
from app.orgs.invitations import InvitationService
from app.orgs.members import MemberService
from app.orgs.seat_requests import SeatRequestService
from app.orgs.seats import SeatService
from app.orgs.service import OrgService
from app.orgs.sessions import SessionService
from app.ratelimit import RateLimiter, Rule, limiter_from_url
from app.rbac.engine import AuthzEngine
from app.rbac.permissions import Authorizer
from app.rbac.service import RoleService
from app.scim.groups import ScimGroupService
from app.scim.mappings import GroupMappingService
from app.scim.service import ScimService
from app.sso.connection_base import SsoOptions
from app.sso.connections import SsoConnectionService
from app.sso.email_codes import EmailCodePolicy, EmailCodeService
from app.sso.enforcement import refuse_unless_allowed
from app.sso.keys import sso_sealer
from app.sso.metadata_fetch import FetchPolicy
from app.sso.oidc_connections import OidcConnectionService
from app.sso.oidc_fetch import PinnedOidcHttp
from app.sso.oidc_flows import CurrentClock, JwksRegistry
from app.sso.replay import DatabaseReplayCache, RedisReplayCache, replay_cache_for
from app.sso.service import SsoLoginService
from app.tokens.keyring import KeyRing, PublicKeys
from app.tokens.service import AccessTokenService


@dataclass
class Container:
    """Built once per process; holds no request state."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    clock: Clock
    mailer: Mailer
    authorizer: Authorizer
    outbox: OutboxConfig
    rate_limiter: RateLimiter
    # Filled by outbox.install() when a bus is configured; empty and None without one.
    readiness: dict[str, ReadinessProbe] = field(default_factory=dict)  # name → probe, on /readyz
    metrics: list[MetricsCollector] = field(default_factory=list)  # read on each /metrics scrape
    relay_waker: RelayWaker | None = None
    # Access tokens' public keys by kid, for the life of the process (immutable; revocation is read per
    # request: app/tokens/keyring.py).
    public_keys: PublicKeys = field(default_factory=PublicKeys)

    @property
    def issuer(self) -> str:
        """The access tokens' ``iss``: TENANTRY_BASE_URL without a trailing slash."""
        return self.settings.base_url.rstrip("/")

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        mailer: Mailer | None = None,
        engine: Engine | None = None,
    ) -> Container:
        """The process's container; ``engine`` (tests that size the pool) replaces the one the settings make:
        everything that holds the engine (the authz sync, the outbox hooks) is given it here, once."""
        engine = engine or make_engine(settings.resolved_database_url())
        container = cls(
            settings=settings,
            engine=engine,
            session_factory=make_session_factory(engine),
            clock=clock or SystemClock(),
            mailer=mailer or mailer_from_url(settings.smtp_url, settings.mail_from),
            authorizer=Authorizer(AuthzEngine(engine)),
            outbox=OutboxConfig(
                enabled=bool(settings.bus_url),
                subject_prefix=settings.bus_subject_prefix,
                keyring=SubjectKeyring(settings.resolved_secret_key),
            ),
            rate_limiter=limiter_from_url(settings.rate_limit_url, key_prefix=settings.rate_limit_prefix),
        )
        outbox.install(container)  # relay wakeup, outbox lag on /readyz and /metrics (bus only)
        return container

    @cached_property
    def txt_resolver(self) -> TxtResolver:
        """DNS TXT lookups for domain verification, from ``TENANTRY_DNS_*`` (built on first use)."""
        return resolver_from_settings(self.settings)

    @cached_property
    def sso_secret_box(self) -> Sealer:
        """Encrypts SP private keys and client secrets at rest (derived once per process)."""
        settings = self.settings
        return sso_sealer(settings.resolved_secret_key(), settings.sso_key_encryption_key)

    @property
    def sso_options(self) -> SsoOptions:
        """What the SSO connection services read of the settings."""
        settings = self.settings
        return SsoOptions(
            box=self.sso_secret_box,
            base_url=settings.base_url,
            refresh_interval=timedelta(seconds=settings.sso_metadata_refresh_interval),
            cert_warning=timedelta(days=settings.sso_cert_warning_days),
            allow_http=settings.allow_private_metadata_urls,
        )

    @property
    def sso_fetch_policy(self) -> FetchPolicy:
        """What SSO may fetch (IdP metadata, OIDC discovery and keys): addresses, size, time."""
        settings = self.settings
        return FetchPolicy(
            allow_private=settings.allow_private_metadata_urls,
            max_bytes=settings.sso_metadata_max_bytes,
            timeout=settings.sso_metadata_timeout,
        )

    @cached_property
    def oidc_http(self) -> PinnedOidcHttp:
        """The OIDC core's network under the SSRF rules of SAML metadata (app/sso/oidc_fetch.py)."""
        return PinnedOidcHttp(self.sso_fetch_policy)

    @cached_property
    def oidc_jwks(self) -> JwksRegistry:
        """One JWKS cache per OIDC connection for the process (the refetch limit holds per connection)."""
        return JwksRegistry(self.oidc_http, CurrentClock(lambda: self.clock))

    @cached_property
    def saml_replay_cache(self) -> DatabaseReplayCache | RedisReplayCache:
        """Assertion ids seen: Redis with ``TENANTRY_RATE_LIMIT_URL``, else the database."""
        settings = self.settings
        return replay_cache_for(
            settings.rate_limit_url, settings.rate_limit_prefix, self.session_factory, self.clock
        )

    @cached_property
    def audit_signer(self) -> Signer:
        """The instance's checkpoint signer, loaded on first use (in development that writes a key into the
        instance folder, which commands that sign nothing should not do)."""
        return load_signer(self.settings)

    @cached_property
    def extract_storage(self) -> ExtractStorage:
        """Where extract files go, from ``TENANTRY_EXTRACT_STORAGE`` (a directory by default)."""
        return storage_from_settings(self.settings)

    def extract_runner(self, owner: str | None = None) -> ExtractRunner:
        settings = self.settings
        return ExtractRunner(
            self.session_factory,
            self.clock,
            self.extract_storage,
            self.audit_signer,
            self.outbox,
            self.mailer,
            policy=RunnerPolicy.from_settings(settings),
            base_url=settings.base_url,
            owner=owner,
        )

    def services(
        self, session: Session, actor: Actor = SYSTEM, context: RequestContext | None = None
    ) -> Services:
        return Services(self, session, actor, context or RequestContext())


class Services:
    """The use-case services for one unit of work (a request, a CLI command, a worker job)."""

    def __init__(self, container: Container, session: Session, actor: Actor, context: RequestContext) -> None:
        self.container = container
        self.session = session
        self.audit = AuditRecorder(session, container.clock, actor, context, container.outbox)
        self.authorizer = container.authorizer.bind(session)

    @cached_property
    def credentials(self) -> CredentialService:
        return CredentialService(self.session, self.container.clock, self.audit, self.authorizer)

    @cached_property
    def credential_resolver(self) -> CredentialResolver:
        return CredentialResolver(self.credentials, self.sessions, self.access_tokens)

    @cached_property
    def keyring(self) -> KeyRing:
        settings = self.container.settings
        return KeyRing(
            self.session,
            self.container.clock,
            self.audit,
            secret_key=settings.resolved_secret_key(),
            token_ttl=settings.access_token_ttl,
        )

    @cached_property
    def access_tokens(self) -> AccessTokenService:
        settings = self.container.settings
        return AccessTokenService(
            self.session,
            self.container.clock,
            self.keyring,
            self.container.public_keys,
            issuer=self.container.issuer,
            audience=settings.access_token_audience or self.container.issuer,
            ttl=settings.access_token_ttl,
            authz_version=self.authorizer.current_version,
        )

    @cached_property
    def email_codes(self) -> EmailCodeService:
        settings = self.container.settings
        return EmailCodeService(
            self.session,
            self.container.clock,
            self.audit,
            mailer=self.container.mailer,
            limiter=self.container.rate_limiter,
            accounts=self.accounts,
            members=self.members,
            domains=self.verified_domains,
            sessions=self.sessions,
            secret_key=settings.resolved_secret_key(),
            policy=EmailCodePolicy.from_settings(settings),
        )

    @cached_property
    def orgs(self) -> OrgService:
        return OrgService(
            self.session,
            self.container.clock,
            self.audit,
            seats=self.seats,
            members=self.members,
            domains=self.verified_domains,
        )

    @cached_property
    def verified_domains(self) -> VerifiedDomains:
        return VerifiedDomains(self.session)

    @cached_property
    def domains(self) -> DomainService:
        settings = self.container.settings
        return DomainService(
            self.session,
            self.container.clock,
            self.audit,
            resolver=self.container.txt_resolver,
            limiter=self.container.rate_limiter,
            policy=RecheckPolicy.from_settings(settings),
            verify_rule=Rule("domain_verify", settings.domain_verify_rate),
        )

    @cached_property
    def seats(self) -> SeatService:
        return SeatService(self.session, self.container.clock, self.audit)

    @cached_property
    def seat_requests(self) -> SeatRequestService:
        return SeatRequestService(self.session, self.container.clock, self.audit, self.seats)

    @cached_property
    def sessions(self) -> SessionService:
        return SessionService(
            self.session, self.container.clock, self.container.settings.session_ttl, self.audit
        )

    @cached_property
    def accounts(self) -> AccountService:
        return AccountService(
            self.session, self.container.clock, self.audit, members=self.members, sessions=self.sessions
        )

    @cached_property
    def members(self) -> MemberService:
        return MemberService(
            self.session,
            self.container.clock,
            self.audit,
            seats=self.seats,
            sessions=self.sessions,
            authorizer=self.authorizer,
        )

    @cached_property
    def scim(self) -> ScimService:
        return ScimService(
            self.session,
            self.container.clock,
            self.audit,
            members=self.members,
            accounts=self.accounts,
            seats=self.seats,
            mappings=self.group_mappings,
            domains=self.verified_domains,
        )

    @cached_property
    def scim_groups(self) -> ScimGroupService:
        return ScimGroupService(self.session, self.container.clock, self.audit, mappings=self.group_mappings)

    @cached_property
    def sso_connections(self) -> SsoConnectionService:
        return SsoConnectionService(
            self.session, self.container.clock, self.audit, self.authorizer, self.container.sso_options
        )

    @cached_property
    def oidc_connections(self) -> OidcConnectionService:
        return OidcConnectionService(
            self.session, self.container.clock, self.audit, self.authorizer, self.container.sso_options
        )

    @cached_property
    def sso_logins(self) -> SsoLoginService:
        return SsoLoginService(
            self.session,
            self.container.clock,
            self.audit,
            self.authorizer,
            domains=self.verified_domains,
            accounts=self.accounts,
            members=self.members,
            mappings=self.group_mappings,
            sessions=self.sessions,
            invitations=self.invitations,
        )

    @cached_property
    def group_mappings(self) -> GroupMappingService:
        return GroupMappingService(
            self.session,
            self.container.clock,
            self.audit,
            self.authorizer,
            members=self.members,
            seats=self.seats,
        )

    @cached_property
    def invitations(self) -> InvitationService:
        settings = self.container.settings
        return InvitationService(
            self.session,
            self.container.clock,
            self.audit,
            authorizer=self.authorizer,
            accounts=self.accounts,
            members=self.members,
            seats=self.seats,
            sessions=self.sessions,
            mailer=self.container.mailer,
            base_url=settings.base_url,
            default_ttl_days=settings.invitation_ttl_days,
            login_policy=self.login_policy,
        )

    def login_policy(self, org_id: str, email: str, method: str, role: str | None) -> None:
        """SSO enforcement for every way in other than SSO (app/sso/enforcement.py)."""
        refuse_unless_allowed(self.session, self.verified_domains, org_id, email, method, role)

    @cached_property
    def audit_log(self) -> AuditLogSearch:
        return AuditLogSearch(self.session, self.container.outbox.keyring)

    @cached_property
    def audit_integrity(self) -> AuditIntegrity:
        return AuditIntegrity(self.session, self.container.clock, self.container.audit_signer)

    @cached_property
    def extracts(self) -> ExtractService:
        settings = self.container.settings
        return ExtractService(
            self.session,
            self.container.clock,
            self.audit,
            self.container.extract_storage,
            max_span_days=settings.extract_max_span_days,
            secret_key=settings.resolved_secret_key(),
            base_url=settings.base_url,
        )

    @cached_property
    def roles(self) -> RoleService:
        return RoleService(self.session, self.container.clock, self.audit, self.authorizer)
