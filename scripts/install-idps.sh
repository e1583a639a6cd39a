#!/usr/bin/env bash
# Installs the real identity providers the SSO tests run on loopback (idempotent; CI runs it before the tests):
#   - npm `saml-idp` 1.2.1 into .idps/saml-idp/ (its `samlp` dependency names a git fork that cannot be fetched,
#     so the packed package is rewritten to use the registry's samlp 7.1.1);
#   - npm `oidc-provider` 8.8.x into .idps/oidc-provider/ (an ES module: the tests copy their server script into
#     this folder, beside node_modules, since NODE_PATH is ignored for ESM);
#   - Debian `simplesamlphp` 1.19 with php-cli (served by `php -S` from the tests).
# Needs node/npm (Debian packages nodejs and npm are installed when missing) and, for apt-get, root.
# IDPS_DIR overrides the target folder (default: .idps at the top of the checkout, ignored by git).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
IDPS_DIR="${IDPS_DIR:-$PWD/.idps}"
SAML_IDP_VERSION=1.2.1
SAMLP_VERSION=7.1.1
OIDC_PROVIDER_VERSION=8.8.1

apt_updated=0
apt_install() { # packages...
    if [ "$apt_updated" = 0 ]; then
        apt-get update -q >/dev/null
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

# simplesamlphp pulls in a web server; policy-rc.d (present in containers) keeps it from starting. php -S serves.
if [ ! -f /usr/share/simplesamlphp/www/_include.php ] || ! command -v php >/dev/null; then
    echo "installing simplesamlphp and php-cli (apt-get)"
    apt_install simplesamlphp php-cli php-xml php-mbstring php-curl
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "installing nodejs and npm (apt-get)"
    apt_install nodejs npm
fi

mkdir -p "$IDPS_DIR"
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false npm_config_loglevel=error

saml_dir="$IDPS_DIR/saml-idp"
if [ ! -f "$saml_dir/.installed-$SAML_IDP_VERSION" ]; then
    echo "installing saml-idp $SAML_IDP_VERSION (samlp $SAMLP_VERSION from the registry)"
    rm -rf "$saml_dir"
    work=$(mktemp -d)
    (cd "$work" && npm pack --silent "saml-idp@$SAML_IDP_VERSION" >/dev/null && tar xzf "saml-idp-$SAML_IDP_VERSION.tgz")
    mv "$work/package" "$saml_dir"
    rm -rf "$work"
    node -e '
        const fs = require("fs"), path = process.argv[1];
        const pkg = JSON.parse(fs.readFileSync(path, "utf8"));
        pkg.dependencies.samlp = process.argv[2];
        fs.writeFileSync(path, JSON.stringify(pkg, null, 2));
    ' "$saml_dir/package.json" "$SAMLP_VERSION"
    (cd "$saml_dir" && npm install --omit=dev --no-package-lock >/dev/null)
    touch "$saml_dir/.installed-$SAML_IDP_VERSION"
fi

oidc_dir="$IDPS_DIR/oidc-provider"
if [ ! -f "$oidc_dir/.installed-$OIDC_PROVIDER_VERSION" ]; then
    echo "installing oidc-provider $OIDC_PROVIDER_VERSION"
    rm -rf "$oidc_dir"
    mkdir -p "$oidc_dir"
    printf '{"name": "tenantry-test-op", "private": true, "type": "module", "dependencies": {"oidc-provider": "%s"}}\n' \
        "$OIDC_PROVIDER_VERSION" >"$oidc_dir/package.json"
    (cd "$oidc_dir" && npm install --omit=dev --no-package-lock >/dev/null)
    touch "$oidc_dir/.installed-$OIDC_PROVIDER_VERSION"
fi

echo "identity providers ready in $IDPS_DIR (saml-idp $SAML_IDP_VERSION, oidc-provider $OIDC_PROVIDER_VERSION," \
    "simplesamlphp $(dpkg-query -W -f '${Version}' simplesamlphp 2>/dev/null || echo '?'))"
