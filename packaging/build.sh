#!/usr/bin/env bash
# Builds cassachange's release artifacts into an output folder:
#
#   cassachange-<version>-<target>.tar.gz                      the binary, README, LICENSE,
#                                                              completions, man page
#   cassachange-enterprise-<version>-<target>[-<features>].tar.gz
#                                                              the plugin, per feature set
#   cassachange_<version>_<arch>.deb                           /usr/lib/cassachange/cassachange
#   cassachange-enterprise_<version>_<arch>.deb                + its plugin (depends on the first)
#   cassachange-<version>-py3-none-<platform>.whl              maturin "bin" wheel: `pip install`
#                                                              puts the Rust binary on PATH as
#                                                              `cassachange`
#   cassachange_enterprise-<version>-py3-none-<platform>.whl   the plugin (all providers) into
#                                                              the same bin folder; requires the
#                                                              first; extras vault/aws/azure/all
#   SHA256SUMS
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
#                           [--no-deb] [--no-wheel] [--target x86_64-pc-windows-gnu]
#   --profile dev packs the dev builds of the workspace (quick; the test suite uses it);
#   the default is release (stripped, thin LTO).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/dist"
PROFILE=release
FEATURE_SETS="all vault aws azure"
DEB=1
WHEEL=1
CROSS=
while (($#)); do
  case $1 in
    --out) OUT=$2; shift 2 ;;
    --profile) PROFILE=$2; shift 2 ;;
    --features) FEATURE_SETS=$2; shift 2 ;;
    --no-deb) DEB=0; shift ;;
    --no-wheel) WHEEL=0; shift ;;
    --target) CROSS=$2; shift 2 ;;
    -h | --help) sed -n '2,34p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case $PROFILE in release | dev) ;; *) echo "build.sh: --profile is release or dev" >&2; exit 2 ;; esac
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

find_maturin() {
  # Sets MATURIN:
  # maturin from PATH or $MATURIN; else a venv of its own under the cache, with the
  # version tests/requirements.txt pins (one pin for the suite and the release), so a
  # fresh machine builds the wheel without a prepared environment.
  if [[ -z ${MATURIN:-} ]] && ! command -v maturin >/dev/null; then
    TOOLS="${CASSACHANGE_CACHE:-$HOME/.cache/cassachange}/packaging-venv"
    PIN=$(grep -E '^maturin==' "$ROOT/tests/requirements.txt" || true)
    [[ -n $PIN ]] || { echo "build.sh: tests/requirements.txt pins no maturin" >&2; exit 2; }
    if ! "$TOOLS/bin/maturin" --version 2>/dev/null | grep -qF "${PIN#maturin==}"; then
      log "installing $PIN into $TOOLS"
      command -v python3 >/dev/null || {
        echo "build.sh: python3 not found: it installs maturin (or set MATURIN; --no-wheel skips the wheel)" >&2
        exit 2
      }
      rm -rf "$TOOLS"
      python3 -m venv "$TOOLS" && "$TOOLS/bin/python" -m pip install -q \
        --disable-pip-version-check "$PIN" >&2 || {
        echo "build.sh: could not install $PIN into $TOOLS (pip install maturin, or set MATURIN; --no-wheel skips it)" >&2
        exit 2
      }
    fi
    MATURIN="$TOOLS/bin/maturin"
  fi
  MATURIN=${MATURIN:-maturin}
  command -v "$MATURIN" >/dev/null || {
    echo "build.sh: maturin not found (pip install maturin, or set MATURIN; --no-wheel skips it)" >&2
    exit 2
  }
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
    find_maturin
    "$MATURIN" build --quiet -m "$ROOT/community/Cargo.toml" -b bin --profile "$PROFILE" \
      --locked --target "$TARGET" --out "$OUT" >/dev/null
    python3 "$ROOT/packaging/plugin_wheel.py" --plugin "$STAGE/cassachange_enterprise.dll" \
      --version "$VERSION" --platform win_amd64 --out "$OUT" >/dev/null
  fi
  sums
  exit 0
fi

log "cassachange $VERSION for $TARGET ($PROFILE)"
# shellcheck disable=SC2086
cargo build $CARGO_PROFILE --locked -p cassachange
BIN="$CARGO_TARGET_DIR/$PROFILE_DIR/cassachange"
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
  cargo build $CARGO_PROFILE --locked -p cassachange-enterprise --no-default-features --features "$features"
  suffix=$([[ $features == all ]] && echo "" || echo "-$features")
  E="$STAGE/cassachange-enterprise-$VERSION-$TARGET$suffix"
  mkdir -p "$E"
  install -m 0755 "$CARGO_TARGET_DIR/$PROFILE_DIR/$DLL" "$E/$DLL"
  [[ $PROFILE == dev ]] && strip "$E/$DLL"
  install -m 0644 README.md "$E/README.md"
  install -m 0644 LICENSE "$E/LICENSE"
  find "$E" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  pack "$E" "cassachange-enterprise-$VERSION-$TARGET$suffix"
done

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
  log "wheel (maturin, bin bindings)"
  find_maturin
  # maturin builds the same cargo profile into the same target dir (nothing is rebuilt).
  "$MATURIN" build --quiet -m "$ROOT/community/Cargo.toml" -b bin --profile "$PROFILE" \
    --locked --out "$OUT" --compatibility linux --skip-auditwheel >/dev/null

  # The plugin's wheel, for the same platform: it installs the plugin beside the
  # binary (the venv's bin folder) and requires the binary's wheel of this version.
  log "wheel of the enterprise plugin"
  W=$(cd "$OUT" && ls "cassachange-$VERSION-py3-none-"*.whl | head -n 1)
  PLATFORM=${W#"cassachange-$VERSION-py3-none-"}
  PLATFORM=${PLATFORM%.whl}
  E="$STAGE/cassachange-enterprise-$VERSION-$TARGET"
  [[ -d $E ]] || E=$(ls -d "$STAGE"/cassachange-enterprise-* | head -n 1)
  python3 "$ROOT/packaging/plugin_wheel.py" --plugin "$E/$DLL" --version "$VERSION" \
    --platform "$PLATFORM" --out "$OUT" >/dev/null
fi

sums
