"""Access tokens other services verify locally: signing keys (rotated, revocable), the JWT core, JWKS."""
