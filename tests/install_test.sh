#!/usr/bin/env bash
# test_install.sh — `make install` (cmake --install) puts the binaries, the library,
# the public headers, the pkg-config file and the man pages under a prefix, and a
# program compiled against the installed pkg-config file links and runs.
set -u
: "${DUET_BUILD_DIR:?DUET_BUILD_DIR must name a configured build directory}"
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
passed=0
failed=0
check() { # description, command...
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what"; fi
}

check "cmake --install" cmake --install "$DUET_BUILD_DIR" --prefix "$prefix"
libdir=$(ls -d "$prefix"/lib* | head -1)
check "duet binary" test -x "$prefix/bin/duet"
check "duetd binary" test -x "$prefix/bin/duetd"
check "static library" test -f "$libdir/libduet.a"
check "shared library" test -e "$libdir/libduet.so"
check "public header" test -f "$prefix/include/duet/error.h"
check "pkg-config file" test -f "$libdir/pkgconfig/duet.pc"
check "man page duet(1)" test -f "$prefix/share/man/man1/duet.1"
check "man page duetd(1)" test -f "$prefix/share/man/man1/duetd.1"
check "installed duet runs" "$prefix/bin/duet" --version

cat >"$prefix/probe.c" <<'C'
#include <duet/doc.h>
#include <duet/error.h>
#include <stdio.h>
int main(void)
{
   char buffer[32];
   printf("%s %s\n", duet_type_name(BSON_TYPE_OID), duet_error_code_name(11000, buffer));
   return 0;
}
C
flags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs duet 2>/dev/null)
check "pkg-config resolves duet" test -n "$flags"
check "program builds against the installed library" cc -o "$prefix/probe" "$prefix/probe.c" $flags
out=$(LD_LIBRARY_PATH="$libdir" "$prefix/probe" 2>/dev/null)
check "program runs" test "$out" = "objectId DuplicateKey"

echo "$passed passed, $failed failed"
((failed == 0))
