#!/usr/bin/env bash
# Builds cassachange's release artifacts into an output folder:
#
#   cassachange-<version>-<target>.tar.gz                      the binary, README, LICENSE,
#                                                              completions, man page
#   cassachange-enterprise-<version>-<target>[-<features>].tar.gz
#                                                              the plugin, per feature set
#   cassachange_<version>_<arch>.deb                           /usr/lib/cassachange/cassachange
#   cassachange-enterprise_<version>_<arch>.deb                + its plugin (depends on the first)
#   cassachange-<version>-x86_64-unknown-linux-musl.tar.gz     the static musl binary (Alpine;
#                                                              community only: it cannot load a plugin)
#   cassachange-<version>-py3-none-<manylinux>.whl             `pip install` puts the Rust binary
#                                                              on PATH as `cassachange`
#   cassachange_enterprise-<version>-py3-none-<manylinux>.whl  the plugin (all providers) into
#                                                              the same bin folder; requires the
#                                                              first; extras vault/aws/azure/all
#   SHA256SUMS
#
# The Linux builds link against glibc 2.17 (cargo-zigbuild with PyPI's zig), so they run
# on any x86_64 glibc distribution since 2014 and the wheels carry the tag
# manylinux_2_17_x86_64.manylinux2014_x86_64, checked with `auditwheel show`.
#
# With --target x86_64-pc-windows-gnu (cross-built with mingw-w64; Debian's
# gcc-mingw-w64-x86-64 and `rustup target add x86_64-pc-windows-gnu`):
#   cassachange-<version>-x86_64-pc-windows-gnu.zip             cassachange.exe, README, LICENSE
#   cassachange-enterprise-<version>-x86_64-pc-windows-gnu.zip  cassachange_enterprise.dll (all
#                                                              providers): unzip it beside the .exe
#   cassachange-<version>-py3-none-win_amd64.whl                the .exe into <venv>\Scripts
#   cassachange_enterprise-<version>-py3-none-win_amd64.whl     the .dll beside it
#   SHA256SUMS
#
# The community binary and the enterprise plugin are separate artifacts, like the
# original's two pip packages. Builds are reproducible: paths are remapped, timestamps
# come from SOURCE_DATE_EPOCH (default: the last commit), archives are sorted with fixed
# owners and modes, gzip writes no name or time.
#
# Usage: packaging/build.sh [--out DIR] [--profile release|dev] [--features "all vault aws azure"]
#                           [--no-deb] [--no-wheel] [--no-musl] [--glibc 2.17|2.28|native]
#                           [--target x86_64-pc-windows-gnu]
#   --glibc native links against this machine's glibc instead (no zig; wheels tagged
#   linux_x86_64, which a private index accepts and PyPI does not).
#   --profile dev packs the dev builds of the workspace (quick; the test suite uses it);
#   the default is release (stripped, thin LTO).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/dist"
PROFILE=release
FEATURE_SETS="all vault aws azure"
DEB=1
WHEEL=1
MUSL=1
GLIBC=2.17
CROSS=
while (($#)); do
  case $1 in
    --out) OUT=$2; shift 2 ;;
    --profile) PROFILE=$2; shift 2 ;;
    --features) FEATURE_SETS=$2; shift 2 ;;
    --no-deb) DEB=0; shift ;;
    --no-wheel) WHEEL=0; shift ;;
    --target) CROSS=$2; shift 2 ;;
    --no-musl) MUSL=0; shift ;;
    --glibc) GLIBC=$2; shift 2 ;;
    -h | --help) sed -n '2,45p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case $PROFILE in release | dev) ;; *) echo "build.sh: --profile is release or dev" >&2; exit 2 ;; esac
case $GLIBC in 2.17 | 2.28 | native) ;; *) echo "build.sh: --glibc is 2.17, 2.28 or native" >&2; exit 2 ;; esac
case $CROSS in "" | x86_64-pc-windows-gnu) ;; *)
  echo "build.sh: --target is x86_64-pc-windows-gnu (or absent: this machine's own)" >&2; exit 2 ;;
esac

cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${CASSACHANGE_CACHE:-$HOME/.cache/cassachange}/target}"
VERSION=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
TARGET=$(rustc -vV | sed -n 's/^host: //p')
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || echo 0)}
export SOURCE_DATE_EPOCH
# The same bytes from any checkout and any user: no absolute paths in release binaries.
# (Dev packs reuse the dev builds as they are: changing RUSTFLAGS would rebuild everything.)
if [[ $PROFILE == release ]]; then
  export RUSTFLAGS="${RUSTFLAGS:-} --remap-path-prefix=$ROOT=/cassachange --remap-path-prefix=$HOME/.cargo=/cargo --remap-path-prefix=$HOME/.rustup=/rustup"
fi
PROFILE_DIR=$([[ $PROFILE == dev ]] && echo debug || echo release)
CARGO_PROFILE=$([[ $PROFILE == dev ]] && echo "" || echo "--release")
DLL="libcassachange_enterprise.so"

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT

log() { printf '==> %s\n' "$*" >&2; }

# pack DIR NAME: a reproducible NAME.tar.gz of DIR's contents under NAME/.
pack() {
  local dir=$1 name=$2
  tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
    --mode='u+rwX,go+rX,go-w' -C "$(dirname "$dir")" -cf - "$(basename "$dir")" \
    | gzip -n -9 >"$OUT/$name.tar.gz"
}

# find_tools: a venv of build tools under the cache, at the versions
# packaging/requirements-build.txt pins (reinstalled when the pins change); puts its bin
# folder first on PATH (cargo-zigbuild finds zig there as `python3 -m ziglang`).
find_tools() {
  local tools="${CASSACHANGE_CACHE:-$HOME/.cache/cassachange}/packaging-venv"
  local pins="$ROOT/packaging/requirements-build.txt"
  if ! cmp -s "$pins" "$tools/pins.txt"; then
    log "installing the build tools of packaging/requirements-build.txt into $tools"
    command -v python3 >/dev/null || {
      echo "build.sh: python3 not found: it installs zig, cargo-zigbuild and auditwheel from PyPI (or use --glibc native --no-musl)" >&2
      exit 2
    }
    rm -rf "$tools"
    python3 -m venv "$tools" && "$tools/bin/python" -m pip install -q --disable-pip-version-check \
      -r "$pins" >&2 || {
      echo "build.sh: could not install packaging/requirements-build.txt into $tools (PyPI unreachable? --glibc native --no-musl needs none of it)" >&2
      exit 2
    }
    cp "$pins" "$tools/pins.txt"
  fi
  export PATH="$tools/bin:$PATH"
  ZIGBUILD="$tools/bin/cargo-zigbuild"
  AUDITWHEEL="$tools/bin/auditwheel"
}

sums() {
  (cd "$OUT" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%f\n' | LC_ALL=C sort \
    | xargs sha256sum >SHA256SUMS)
  log "artifacts in $OUT:"
  (cd "$OUT" && ls -l --time-style=+ | sed 1d) >&2
}

if [[ -n $CROSS ]]; then
  TARGET=$CROSS
  command -v x86_64-w64-mingw32-gcc >/dev/null || {
    echo "build.sh: x86_64-w64-mingw32-gcc not found: install Debian's gcc-mingw-w64-x86-64 (tests/windows/setup.sh does)" >&2
    exit 2
  }
  rustup target list --installed 2>/dev/null | grep -qx "$TARGET" || rustup target add "$TARGET" >&2
  log "cassachange $VERSION for $TARGET ($PROFILE)"
  # shellcheck disable=SC2086
  cargo build $CARGO_PROFILE --locked --target "$TARGET" -p cassachange -p cassachange-enterprise
  BUILT="$CARGO_TARGET_DIR/$TARGET/$PROFILE_DIR"
  W="$STAGE/cassachange-$VERSION-$TARGET"
  mkdir -p "$W"
  if [[ $PROFILE == dev ]]; then
    x86_64-w64-mingw32-strip -o "$W/cassachange.exe" "$BUILT/cassachange.exe"
    x86_64-w64-mingw32-strip -o "$STAGE/cassachange_enterprise.dll" "$BUILT/cassachange_enterprise.dll"
  else
    cp "$BUILT/cassachange.exe" "$W/cassachange.exe"
    cp "$BUILT/cassachange_enterprise.dll" "$STAGE/cassachange_enterprise.dll"
  fi
  python3 "$ROOT/packaging/pack_zip.py" --out "$OUT/cassachange-$VERSION-$TARGET.zip" \
    "$W/cassachange.exe" README.md LICENSE >/dev/null
  python3 "$ROOT/packaging/pack_zip.py" --out "$OUT/cassachange-enterprise-$VERSION-$TARGET.zip" \
    "$STAGE/cassachange_enterprise.dll" README.md LICENSE >/dev/null
  if ((WHEEL == 1)); then
    log "wheels (win_amd64)"
    python3 "$ROOT/packaging/wheel.py" --kind bin --file "$W/cassachange.exe" \
      --version "$VERSION" --platform win_amd64 --out "$OUT" >/dev/null
    python3 "$ROOT/packaging/wheel.py" --kind plugin --file "$STAGE/cassachange_enterprise.dll" \
      --version "$VERSION" --platform win_amd64 --out "$OUT" >/dev/null
  fi
  sums
  exit 0
fi

# linux_build ARGS...: cargo build for this machine's target, against glibc $GLIBC.
if [[ $GLIBC == native ]]; then
  BUILT="$CARGO_TARGET_DIR/$PROFILE_DIR"
  PLATFORM="linux_$(uname -m)"
  linux_build() { cargo build "$@"; }
else
  find_tools
  # A target folder of its own: zig's linker is set for this machine's triple, which is
  # also the build scripts' and proc macros' (host) triple, so sharing the folder with
  # host or musl builds would relink every build script and rebuild the dependency tree
  # on each switch (aws-lc-sys and all above it, every time).
  ZIG_TARGET_DIR="$CARGO_TARGET_DIR/zig-glibc-$GLIBC"
  BUILT="$ZIG_TARGET_DIR/$TARGET/$PROFILE_DIR"
  PLATFORM="manylinux_${GLIBC/./_}_$(uname -m)"
  [[ $GLIBC == 2.17 ]] && PLATFORM="$PLATFORM.manylinux2014_$(uname -m)"
  linux_build() { CARGO_TARGET_DIR="$ZIG_TARGET_DIR" "$ZIGBUILD" build --target "$TARGET.$GLIBC" "$@"; }
fi

log "cassachange $VERSION for $TARGET ($PROFILE, glibc $GLIBC)"
# shellcheck disable=SC2086
linux_build $CARGO_PROFILE --locked -p cassachange
BIN="$BUILT/cassachange"
[[ $PROFILE == dev ]] && strip -o "$STAGE/cassachange.stripped" "$BIN" && BIN="$STAGE/cassachange.stripped"

# The community archive.
C="$STAGE/cassachange-$VERSION-$TARGET"
mkdir -p "$C/completions" "$C/man"
install -m 0755 "$BIN" "$C/cassachange"
install -m 0644 README.md "$C/README.md"
install -m 0644 LICENSE "$C/LICENSE"
"$C/cassachange" completions bash >"$C/completions/cassachange.bash"
"$C/cassachange" completions zsh >"$C/completions/_cassachange"
"$C/cassachange" completions fish >"$C/completions/cassachange.fish"
"$C/cassachange" man >"$C/man/cassachange.1"
find "$C" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
pack "$C" "cassachange-$VERSION-$TARGET"

# The plugin, once per feature set ("all" is the plain name).
for features in $FEATURE_SETS; do
  log "cassachange-enterprise $VERSION ($features)"
  # shellcheck disable=SC2086
  linux_build $CARGO_PROFILE --locked -p cassachange-enterprise --no-default-features --features "$features"
  suffix=$([[ $features == all ]] && echo "" || echo "-$features")
  E="$STAGE/cassachange-enterprise-$VERSION-$TARGET$suffix"
  mkdir -p "$E"
  install -m 0755 "$BUILT/$DLL" "$E/$DLL"
  [[ $PROFILE == dev ]] && strip "$E/$DLL"
  install -m 0644 README.md "$E/README.md"
  install -m 0644 LICENSE "$E/LICENSE"
  find "$E" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  pack "$E" "cassachange-enterprise-$VERSION-$TARGET$suffix"
done

# The static musl binary (community only: a static binary cannot load the plugin).
if ((MUSL == 1)); then
  MT=x86_64-unknown-linux-musl
  log "cassachange $VERSION for $MT (static, $PROFILE)"
  find_tools
  rustup target list --installed 2>/dev/null | grep -qx "$MT" || rustup target add "$MT" >&2
  # shellcheck disable=SC2086
  "$ZIGBUILD" build $CARGO_PROFILE --locked --target "$MT" -p cassachange
  M="$STAGE/cassachange-$VERSION-$MT"
  mkdir -p "$M"
  cp -r "$C/completions" "$C/man" "$M/"
  install -m 0755 "$CARGO_TARGET_DIR/$MT/$PROFILE_DIR/cassachange" "$M/cassachange"
  [[ $PROFILE == dev ]] && strip "$M/cassachange"
  install -m 0644 README.md "$M/README.md"
  install -m 0644 LICENSE "$M/LICENSE"
  find "$M" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  pack "$M" "cassachange-$VERSION-$MT"
fi

if ((DEB == 1)); then
  ARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)
  log "Debian packages ($ARCH)"
  # deb_tree DIR NAME DEPENDS DESCRIPTION
  control() {
    mkdir -p "$1/DEBIAN"
    {
      echo "Package: $2"
      echo "Version: $VERSION"
      echo "Architecture: $ARCH"
      echo "Maintainer: cassachange maintainers"
      echo "Section: database"
      echo "Priority: optional"
      [[ -n $3 ]] && echo "Depends: $3"
      echo "Description: $4"
    } >"$1/DEBIAN/control"
  }
  D="$STAGE/deb-community"
  mkdir -p "$D/usr/lib/cassachange" "$D/usr/bin" "$D/usr/share/doc/cassachange" \
    "$D/usr/share/man/man1" "$D/usr/share/bash-completion/completions" \
    "$D/usr/share/zsh/vendor-completions" "$D/usr/share/fish/vendor_completions.d"
  install -m 0755 "$C/cassachange" "$D/usr/lib/cassachange/cassachange"
  # The binary looks for the plugin beside its real path: the link keeps that folder.
  ln -s ../lib/cassachange/cassachange "$D/usr/bin/cassachange"
  install -m 0644 README.md LICENSE "$D/usr/share/doc/cassachange/"
  gzip -n -9 -c "$C/man/cassachange.1" >"$D/usr/share/man/man1/cassachange.1.gz"
  install -m 0644 "$C/completions/cassachange.bash" "$D/usr/share/bash-completion/completions/cassachange"
  install -m 0644 "$C/completions/_cassachange" "$D/usr/share/zsh/vendor-completions/_cassachange"
  install -m 0644 "$C/completions/cassachange.fish" "$D/usr/share/fish/vendor_completions.d/cassachange.fish"
  control "$D" cassachange "" "schema migrations for Apache Cassandra and DataStax AstraDB"
  find "$D" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  dpkg-deb --root-owner-group -Zxz --build "$D" "$OUT/cassachange_${VERSION}_$ARCH.deb" >/dev/null

  P="$STAGE/deb-enterprise"
  mkdir -p "$P/usr/lib/cassachange"
  E="$STAGE/cassachange-enterprise-$VERSION-$TARGET"
  [[ -d $E ]] || E=$(ls -d "$STAGE"/cassachange-enterprise-* | head -n 1)
  install -m 0755 "$E/$DLL" "$P/usr/lib/cassachange/$DLL"
  control "$P" cassachange-enterprise "cassachange (= $VERSION)" \
    "cassachange enterprise plugin: secret managers and the audit log"
  find "$P" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  dpkg-deb --root-owner-group -Zxz --build "$P" "$OUT/cassachange-enterprise_${VERSION}_$ARCH.deb" >/dev/null
fi

if ((WHEEL == 1)); then
  log "wheels ($PLATFORM)"
  # The plugin's wheel installs it beside the binary (the venv's bin folder) and
  # requires the binary's wheel of this version.
  E="$STAGE/cassachange-enterprise-$VERSION-$TARGET"
  [[ -d $E ]] || E=$(ls -d "$STAGE"/cassachange-enterprise-* | head -n 1)
  python3 "$ROOT/packaging/wheel.py" --kind bin --file "$C/cassachange" --version "$VERSION" \
    --platform "$PLATFORM" --out "$OUT" >/dev/null
  python3 "$ROOT/packaging/wheel.py" --kind plugin --file "$E/$DLL" --version "$VERSION" \
    --platform "$PLATFORM" --out "$OUT" >/dev/null
  if [[ $GLIBC != native ]]; then
    for w in "$OUT/cassachange-$VERSION-py3-none-$PLATFORM.whl" \
      "$OUT/cassachange_enterprise-$VERSION-py3-none-$PLATFORM.whl"; do
      shown=$("$AUDITWHEEL" show "$w" 2>&1) || { echo "build.sh: auditwheel show $w failed: $shown" >&2; exit 1; }
      # The verdict: "<wheel> is consistent with the following platform tag: …".
      printf '%s\n' "$shown" | tr -s ' \n' ' ' | sed 's/\(tag: "[^"]*"\).*/\1/' >&2
      echo >&2
      grep -q "\"manylinux_${GLIBC/./_}_$(uname -m)\"" <<<"$shown" || {
        echo "build.sh: auditwheel does not find $(basename "$w") consistent with manylinux_${GLIBC/./_}" >&2
        exit 1
      }
    done
  fi
fi

sums
