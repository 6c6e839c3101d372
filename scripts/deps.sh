#!/bin/sh
# Installs the Debian packages Slipway needs to build, test and demo.
# Idempotent: checks each package with dpkg -s, then runs one apt-get update
# and one apt-get install for whatever is missing.
set -eu

pkgs="build-essential meson ninja-build pkg-config clang libclang-rt-14-dev
libuv1-dev libfyaml-dev libjansson-dev libsqlite3-dev libhttp-parser-dev
libcurl4-openssl-dev libssl-dev libcmocka-dev bats curl procps hey wrk time
sqlite3 prometheus postgresql libpq-dev nginx haproxy zsh fish groff man-db
python3 python3-yaml linux-perf
libgit2-dev zlib1g-dev git fcgiwrap openssh-server openssl age tzdata
bubblewrap shellcheck"

missing=""
for p in $pkgs; do
	if ! dpkg -s "$p" >/dev/null 2>&1; then
		missing="$missing $p"
	fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages:$missing (run as root to install)" >&2
	exit 1
fi
echo "deps: installing$missing"
apt-get update -qq
# shellcheck disable=SC2086 # $missing is a list of package names, split on purpose
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
