// An OpenID Provider for tests: npm oidc-provider 8.x configured from a JSON file (argv[2]) written by
// tests/idps/oidc_provider.py. The harness copies this script beside the installed node_modules (Node resolves
// ES module imports from the script's own folder, and ignores NODE_PATH for them).
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import Provider from 'oidc-provider';

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const user = cfg.user;

const account = {
  accountId: user.sub,
  async claims() {
    return {
      sub: user.sub,
      email: user.email,
      email_verified: true,
      name: user.name,
      given_name: user.given_name,
      family_name: user.family_name,
      groups: user.groups,
    };
  },
};

const provider = new Provider(cfg.issuer, {
  clients: cfg.clients,
  jwks: cfg.jwks,
  cookies: { keys: cfg.cookie_keys },
  conformIdTokenClaims: cfg.conform_id_token_claims,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
  pkce: { methods: ['S256'], required: () => cfg.pkce_required },
  features: {
    devInteractions: { enabled: true },
    // Dynamic registration (RFC 7591) behind the harness's own token, so a test can add a client once it
    // knows its redirect URI; the client keeps the id and secret the test chose.
    registration: {
      enabled: true,
      initialAccessToken: cfg.registration_token,
      idFactory: (ctx) => ctx.oidc.body.client_id || crypto.randomUUID(),
      secretFactory: async (ctx) => ctx.oidc.body.client_secret || crypto.randomUUID(),
    },
  },
  ttl: { IdToken: cfg.id_token_ttl, AccessToken: 3600, AuthorizationCode: 60 },
  // The dev login form accepts any name and password and makes the name the account id (the ID token's sub):
  // the harness types the configured person's sub; any other name is no account here.
  async findAccount(ctx, id) {
    return id === user.sub ? account : undefined;
  },
});
provider.proxy = false;

const server = http.createServer(provider.callback());
server.listen(cfg.port, '127.0.0.1', () => {
  console.log(`oidc-provider ${cfg.issuer} listening on 127.0.0.1:${cfg.port}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
