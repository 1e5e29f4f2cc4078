#!/usr/bin/env bash
# Builds the Windows x86_64 artifacts and prepares Wine to run them, for the suite's
# Windows tests (tests/it/windows.rs). tests/run.sh runs it before the tests; it prints
# the environment those tests read, as `export` lines to eval:
#
#   CASSACHANGE_WINDOWS_DIST   packaging/build.sh --target x86_64-pc-windows-gnu --profile dev
#                              output: the .zip archives, the win_amd64 wheels, SHA256SUMS
#   CASSACHANGE_WINE           Wine's 64-bit loader (/usr/lib/wine/wine64)
#   CASSACHANGE_WINEPREFIX     the suite's own Wine prefix, under the cache
#   CASSACHANGE_WINE_SHIM      a test-only bcryptprimitives.dll (see bcryptprimitives.c):
#                              Wine 8.0 lacks the DLL that Rust programs import; real
#                              Windows 10+ has it and no artifact ships it
#   CASSACHANGE_WINE_CTRLEVENT a test-only ctrlevent.exe (see ctrlevent.c) that presses
#                              Ctrl-C in a run's console
#
# Installs what is missing: Debian's gcc-mingw-w64-x86-64 and wine64 (as root, with
# apt-get; otherwise it says what to install), the rustup target.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${CASSACHANGE_CACHE:-$HOME/.cache/cassachange}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
TARGET=x86_64-pc-windows-gnu
WINE=/usr/lib/wine/wine64
log() { printf '==> %s\n' "$*" >&2; }

if ! command -v x86_64-w64-mingw32-gcc >/dev/null || [[ ! -x $WINE ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing gcc-mingw-w64-x86-64 and wine64 (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends gcc-mingw-w64-x86-64 wine64 >&2 \
      || { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends gcc-mingw-w64-x86-64 wine64 >&2; }
  else
    echo "tests/windows/setup.sh: needs x86_64-w64-mingw32-gcc and $WINE: apt-get install gcc-mingw-w64-x86-64 wine64 (as root)" >&2
    exit 2
  fi
fi
rustup target list --installed 2>/dev/null | grep -qx "$TARGET" || rustup target add "$TARGET" >&2

# The artifacts, as a release builds them (dev profile). A fixed SOURCE_DATE_EPOCH keeps
# the cached build valid from commit to commit (some build scripts read it).
DIST="$CACHE/windows-dist"
rm -rf "$DIST"
SOURCE_DATE_EPOCH=1700000000 "$ROOT/packaging/build.sh" --profile dev --target "$TARGET" \
  --out "$DIST" >&2 2> >(grep -v "wasn't listed in \`cargo metadata\`" >&2)

SHIM_DIR="$CARGO_TARGET_DIR/$TARGET/wine-shim"
SHIM="$SHIM_DIR/bcryptprimitives.dll"
SRC="$ROOT/tests/windows/bcryptprimitives.c"
if [[ ! -f $SHIM || $SRC -nt $SHIM ]]; then
  mkdir -p "$SHIM_DIR"
  x86_64-w64-mingw32-gcc -O2 -shared -s -o "$SHIM" "$SRC" -ladvapi32
fi
CTRLEVENT="$SHIM_DIR/ctrlevent.exe"
SRC="$ROOT/tests/windows/ctrlevent.c"
if [[ ! -f $CTRLEVENT || $SRC -nt $CTRLEVENT ]]; then
  x86_64-w64-mingw32-gcc -O2 -Wall -municode -s -o "$CTRLEVENT" "$SRC"
fi
command -v script >/dev/null || { echo "tests/windows/setup.sh: needs script(1) (util-linux) for the Ctrl-C test" >&2; exit 2; }

PREFIX="$CACHE/wine-prefix"
if [[ ! -f $PREFIX/system.reg ]]; then
  log "creating the Wine prefix $PREFIX"
  WINEPREFIX="$PREFIX" WINEDEBUG=-all "$WINE" wineboot --init >/dev/null 2>&1 || true
  # The registry files are written when the Wine server ends.
  WINEPREFIX="$PREFIX" /usr/lib/wine/wineserver -w || true
  [[ -f $PREFIX/system.reg ]] || { echo "tests/windows/setup.sh: wineboot did not create $PREFIX" >&2; exit 1; }
fi

echo "export CASSACHANGE_WINDOWS_DIST='$DIST' CASSACHANGE_WINE='$WINE' CASSACHANGE_WINEPREFIX='$PREFIX' CASSACHANGE_WINE_SHIM='$SHIM' CASSACHANGE_WINE_CTRLEVENT='$CTRLEVENT'"
