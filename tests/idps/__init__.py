"""Real identity providers on loopback for the SSO tests, and a browser over plain HTTP to drive them.

Installed by ``scripts/install-idps.sh`` (``.ci/run`` runs it) into ``.idps/`` (or
``TENANTRY_TEST_IDPS_DIR``); a test whose IdP is missing skips locally and fails under ``CI=true``
(marker ``idp``).

Harnesses (context managers; the pytest fixtures of ``tests/idps/fixtures.py`` wrap them and stop every IdP
they started at the end of the test; each IdP runs on a free port and is stopped by its own process group):

- ``saml_idp.start_saml_idp(sp, user=None, *, entity_id=None, keypair=None, sign_response=True,
  encrypt_assertion=False, static_acs=False, port=None) -> SamlIdp``      fixture ``saml_idp_factory``
- ``simplesamlphp.start_simplesamlphp(sp, user=None, *, entity_id=None, keypair=None, sign_response=True,
  sign_assertion=True, encrypt_assertion=False, require_signed_authn_request=False,
  signature_algorithm=RSA_SHA256, port=None) -> SimpleSamlPhp``           fixture ``simplesamlphp_factory``
- ``oidc_provider.start_oidc_provider(clients, user=None, *, conform_id_token_claims=True, pkce_required=True,
  signing_keys=None, id_token_ttl=3600, port=None, sub=None) -> OidcProvider``
                                                                    fixture ``oidc_provider_factory``

Inputs (``peers``): ``ServiceProvider(entity_id, acs_url, slo_url=None, cert_pem=None)``,
``TestUser(email, first_name, last_name, groups, password)``, ``generate_keypair()`` /
``shared_keypair(name)`` -> ``KeyPair(cert_pem, key_pem, cert_base64)``;
``oidc_provider.OidcClient(client_id, client_secret, redirect_uris,
token_endpoint_auth_method="client_secret_basic", id_token_signed_response_alg="RS256")``.

SAML handles (``saml_base.RunningSamlIdp``): ``entity_id``, ``sso_url``, ``slo_url``, ``metadata_url``,
``metadata_xml()``, ``keypair`` / ``cert_pem``; flows ``login(start)``, ``idp_initiated_login(relay_state)``,
``logout(start, browser=)``, ``idp_initiated_logout(browser=)``. ``start`` is the SP's redirect URL to the IdP
or a ``FormPost`` (POST binding). Each returns a ``browser.FormPost(action, fields)``
(``saml_response``, ``relay_state``, ``saml_xml()``) or a ``browser.Redirect(url)`` (``query``): what the
browser would send to the SP, never sent. Pass ``browser=idp.browser()`` to several calls to keep the IdP
session (logout needs it).

OIDC handle (``oidc_provider.OidcProvider``): ``issuer``, ``discovery()``, ``jwks()``, ``signing_keys``
(private JWKs, to forge tokens the real JWKS vouches for), ``sub``; ``authorize(authorization_url,
login=None) -> str``: logs in, consents, returns the callback URL (``code``, ``state``, ``iss`` or ``error``);
``register_client(OidcClient)`` adds a client to the running OP (once its redirect URI is known).
``oidc_http.RecordingHttp`` is an ``app.sso.oidc.OidcHttp`` over requests that records what it fetched.

Errors: ``browser.DriverError`` (with ``.page``) when an IdP answers something the flow cannot continue from;
``process.IdpStartError`` when an IdP does not start (with the tail of its log).
"""
