"""Tenantry: identity and access control for B2B SaaS organisations."""

from __future__ import annotations

from flask import Flask

from app.config import Settings
from app.container import Container


def create_app(settings: Settings | None = None, container: Container | None = None) -> Flask:
    """The app factory: settings, database, composition root, blueprints, error handlers.

    Incomplete production settings raise ``IncompleteConfiguration`` before anything is built."""
    from app import web
    from app.api.endpoint import require_tenancy
    from app.api.ops import ops
    from app.api.routes import register_v1
    from app.mail import LogMailer, announce_log_mailer
    from app.observability import configure_logging
    from app.scim.views import scim
    from app.sso import oidc_views  # noqa: F401 - attaches the OIDC callback to the /sso blueprint
    from app.sso.email_views import sso_email
    from app.sso.session_views import sso_session
    from app.sso.views import sso
    from app.tokens.wellknown import wellknown

    settings = settings or (container.settings if container else Settings())
    configure_logging(settings.log_level, settings.log_json)
    settings.refuse_incomplete_production()
    app = Flask(__name__, instance_path=str(settings.instance_path.resolve()), instance_relative_config=True)
    app.config.update(
        SECRET_KEY=settings.resolved_secret_key(),
        TENANTRY_SETTINGS=settings,
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["tenantry"] = container = container or Container.build(settings)
    if settings.env == "development" and isinstance(container.mailer, LogMailer):
        announce_log_mailer()
    web.init_app(app)
    app.register_blueprint(ops)
    register_v1(app)
    app.register_blueprint(scim)
    app.register_blueprint(sso_email)
    app.register_blueprint(sso_session)
    app.register_blueprint(wellknown)
    app.register_blueprint(sso)
    require_tenancy(app)  # every <org_id> route passes the one tenancy rule, or the app does not start
    return app
