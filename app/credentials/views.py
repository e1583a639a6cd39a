"""API keys (per org and platform) and SCIM tokens: create (secret shown once), list, revoke."""

from __future__ import annotations

from app.api.endpoint import operation
from app.api.v1 import v1
from app.credentials.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyOut,
    CredentialListQuery,
    PlatformKeyCreate,
    ScimTokenCreate,
    ScimTokenCreated,
    ScimTokenList,
    ScimTokenOut,
)
from app.credentials.service import IssuedSecret
from app.web import authenticate, services


@operation(
    v1,
    "/orgs/<org_id>/api-keys",
    "POST",
    summary="Create an org API key",
    tag="api-keys",
    permission="api_keys:manage",
    body=ApiKeyCreate,
    response=ApiKeyCreated,
    status=201,
    description="The key acts with the given role in this org. The caller must hold every permission of "
    "that role (only owners create owner keys).",
)
def create_org_api_key(org_id: str, body: ApiKeyCreate) -> ApiKeyCreated:
    svc = services()
    issued = svc.credentials.create_api_key(
        org_id=org_id, role=body.role, name=body.name, granted_by=authenticate()
    )
    return _created_key(issued)


@operation(
    v1,
    "/orgs/<org_id>/api-keys",
    "GET",
    summary="List an org's API keys",
    tag="api-keys",
    permission="api_keys:manage",
    query=CredentialListQuery,
    response=ApiKeyList,
)
def list_org_api_keys(org_id: str, query: CredentialListQuery) -> ApiKeyList:
    keys = services().credentials.list_api_keys(org_id, include_revoked=query.include_revoked)
    return ApiKeyList(data=[ApiKeyOut.model_validate(k) for k in keys])


@operation(
    v1,
    "/orgs/<org_id>/api-keys/<key_id>",
    "DELETE",
    summary="Revoke an org API key",
    tag="api-keys",
    permission="api_keys:manage",
    status=204,
)
def revoke_org_api_key(org_id: str, key_id: str) -> None:
    services().credentials.revoke_api_key(key_id, org_id=org_id, revoked_by=authenticate())


@operation(
    v1,
    "/api-keys",
    "POST",
    summary="Create a platform API key",
    tag="api-keys",
    auth="platform",
    body=PlatformKeyCreate,
    response=ApiKeyCreated,
    status=201,
)
def create_platform_api_key(body: PlatformKeyCreate) -> ApiKeyCreated:
    svc = services()
    return _created_key(svc.credentials.create_api_key(org_id=None, name=body.name))


@operation(
    v1,
    "/api-keys",
    "GET",
    summary="List platform API keys",
    tag="api-keys",
    auth="platform",
    query=CredentialListQuery,
    response=ApiKeyList,
)
def list_platform_api_keys(query: CredentialListQuery) -> ApiKeyList:
    keys = services().credentials.list_api_keys(None, include_revoked=query.include_revoked)
    return ApiKeyList(data=[ApiKeyOut.model_validate(k) for k in keys])


@operation(
    v1,
    "/api-keys/<key_id>",
    "DELETE",
    summary="Revoke a platform API key",
    tag="api-keys",
    auth="platform",
    status=204,
)
def revoke_platform_api_key(key_id: str) -> None:
    services().credentials.revoke_api_key(key_id, org_id=None)


@operation(
    v1,
    "/orgs/<org_id>/scim-tokens",
    "POST",
    summary="Create a SCIM token",
    tag="scim-tokens",
    permission="scim:manage",
    body=ScimTokenCreate,
    response=ScimTokenCreated,
    status=201,
)
def create_scim_token(org_id: str, body: ScimTokenCreate) -> ScimTokenCreated:
    svc = services()
    issued = svc.credentials.create_scim_token(org_id=org_id, name=body.name, granted_by=authenticate())
    token = svc.credentials.get_scim_token(issued.id)
    return ScimTokenCreated.model_validate(
        {**ScimTokenOut.model_validate(token).model_dump(), "token": issued.secret}
    )


@operation(
    v1,
    "/orgs/<org_id>/scim-tokens",
    "GET",
    summary="List SCIM tokens",
    tag="scim-tokens",
    permission="scim:manage",
    query=CredentialListQuery,
    response=ScimTokenList,
)
def list_scim_tokens(org_id: str, query: CredentialListQuery) -> ScimTokenList:
    tokens = services().credentials.list_scim_tokens(org_id, include_revoked=query.include_revoked)
    return ScimTokenList(data=[ScimTokenOut.model_validate(t) for t in tokens])


@operation(
    v1,
    "/orgs/<org_id>/scim-tokens/<token_id>",
    "DELETE",
    summary="Revoke a SCIM token",
    tag="scim-tokens",
    permission="scim:manage",
    status=204,
)
def revoke_scim_token(org_id: str, token_id: str) -> None:
    services().credentials.revoke_scim_token(token_id, org_id=org_id, revoked_by=authenticate())


def _created_key(issued: IssuedSecret) -> ApiKeyCreated:
    """The stored key's fields plus its secret, this once."""
    key = services().credentials.get_api_key(issued.id)
    return ApiKeyCreated.model_validate({**ApiKeyOut.model_validate(key).model_dump(), "key": issued.secret})
