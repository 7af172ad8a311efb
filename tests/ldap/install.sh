#!/usr/bin/env bash
# Installs the real LDAP servers the LDAP / Active Directory tests run against
# (tests/src/ldap_servers.rs): OpenLDAP's slapd with ldap-utils, and a Samba AD DC.
#
# Idempotent and non-interactive; runs as root (CI and the developers' machines are root).
# Installs only what is missing, with one `apt-get update` first, and only then. A
# policy-rc.d guard keeps the packaged daemons from starting: the tests start their own
# throwaway instances on loopback (slapd on a free port, Samba on 389/636/3268, which a
# packaged samba-ad-dc would otherwise hold). The guard is removed afterwards only if this
# script created it.
set -euo pipefail

missing=()
if ! command -v slapd >/dev/null 2>&1 && [ ! -x /usr/sbin/slapd ]; then
    missing+=(slapd)
fi
# ldap-utils gives ldapsearch/ldapadd/ldapmodify/ldapdelete/ldapmodrdn/ldapwhoami.
for pkg in ldap-utils samba-ad-dc samba-ad-provision samba-dsdb-modules samba-vfs-modules; do
    if ! dpkg -s "$pkg" >/dev/null 2>&1; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "tests/ldap/install.sh: slapd, ldap-utils and samba-ad-dc are installed"
    exit 0
fi
echo "tests/ldap/install.sh: installing ${missing[*]}"

guard=/usr/sbin/policy-rc.d
created_guard=0
if [ ! -e "$guard" ]; then
    printf '#!/bin/sh\n# tests/ldap/install.sh: keep packaged daemons from starting\nexit 101\n' > "$guard"
    chmod +x "$guard"
    created_guard=1
fi
cleanup() {
    if [ "$created_guard" -eq 1 ]; then
        rm -f "$guard"
    fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
# Wait for another apt/dpkg (unattended upgrades, a parallel install) instead of failing,
# and retry slow or dropped downloads.
apt_opts=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=5 -o Acquire::http::Timeout=120)
# One update; a failing mirror is not fatal by itself (the lists may be recent enough).
if ! apt-get "${apt_opts[@]}" update; then
    echo "tests/ldap/install.sh: apt-get update failed; installing from the lists at hand" >&2
fi
attempt=1
until apt-get "${apt_opts[@]}" install -y --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}"; do
    if [ "$attempt" -ge 3 ]; then
        echo "tests/ldap/install.sh: apt-get install failed $attempt times" >&2
        exit 1
    fi
    attempt=$((attempt + 1))
    sleep 10
done

echo "tests/ldap/install.sh: done"
