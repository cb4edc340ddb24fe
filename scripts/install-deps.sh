#!/usr/bin/env bash
# install-deps.sh — installs every Debian and npm package duet needs, and only
# what is missing.  Safe to run again and again (make demo / make check call it).
#
# Debian packages (why each is here is in README.md, "Dependencies"):
set -euo pipefail

DEBIAN_PACKAGES=(
  build-essential cmake pkg-config clang          # compilers, build, libFuzzer
  libbson-dev libmongoc-dev                       # BSON documents; MongoDB client for the CLI
  libsqlite3-dev                                  # storage engine of duetd
  libpcre2-dev                                    # $regex with MongoDB's (PCRE) syntax
  libcmocka-dev                                   # unit tests
  python3 python3-pymongo                         # end-to-end tests with pymongo
)
# Node.js and npm: any install that provides the commands will do (Debian's
# nodejs + npm, or a nodejs package that bundles npm).
command -v node >/dev/null || DEBIAN_PACKAGES+=(nodejs)
command -v npm >/dev/null || DEBIAN_PACKAGES+=(npm)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  [[ $pkg == \#* ]] && continue
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null; then sudo="sudo"; else
      echo "install-deps: missing packages (${missing[*]}) and not root; run as root or install them" >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages are pinned by tests/e2e/package-lock.json; installed once per lock change.
if [[ -f $here/tests/e2e/package-lock.json ]]; then
  stamp="$here/tests/e2e/node_modules/.duet-lock-stamp"
  if [[ ! -f $stamp ]] || ! cmp -s "$stamp" "$here/tests/e2e/package-lock.json"; then
    echo "install-deps: npm ci in tests/e2e"
    (cd "$here/tests/e2e" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$here/tests/e2e/package-lock.json" "$stamp"
  fi
fi
