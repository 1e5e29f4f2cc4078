#!/usr/bin/env bash
# Installs cassachange (and the enterprise plugin, when its archive is given) from the
# release archives, after checking them against the SHA256SUMS beside them.
#
# Usage: install.sh [--prefix DIR] ARCHIVE.tar.gz|FOLDER ...
#   ARCHIVE  cassachange-<version>-<target>.tar.gz and, optionally,
#            cassachange-enterprise-<version>-<target>[-<features>].tar.gz
#   FOLDER   a folder of archives (with its SHA256SUMS): the community archive and the
#            plugin archive with every provider ("-all" is the plain name) are installed
#   --prefix where to install [default: /usr/local, or ~/.local when not root]
#
# Layout: PREFIX/lib/cassachange/cassachange (the binary), the plugin beside it (the
# binary loads a plugin only from its own folder), PREFIX/bin/cassachange (a link),
# completions and the man page under PREFIX/share. Nothing is fetched from anywhere.
set -euo pipefail

die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }

PREFIX=""
ARGS=()
while (($#)); do
  case $1 in
    --prefix) PREFIX=$2; shift 2 ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
((${#ARGS[@]} > 0)) || die "no archive or folder given (see --help)"
if [[ -z $PREFIX ]]; then
  if [[ $(id -u) == 0 ]]; then PREFIX=/usr/local; else PREFIX="$HOME/.local"; fi
fi

# The archives to install, from the arguments.
ARCHIVES=()
for a in "${ARGS[@]}"; do
  if [[ -d $a ]]; then
    # The glibc build (it loads the plugin); on a musl system (Alpine) the static one.
    libc=gnu
    [[ -e /lib/ld-musl-$(uname -m).so.1 ]] && libc=musl
    mapfile -t found < <(find "$a" -maxdepth 1 -name "cassachange-*-linux-$libc.tar.gz" \
      ! -name 'cassachange-enterprise-*' | sort)
    ((${#found[@]} == 1)) || die "$a: expected one cassachange-<version>-<arch>-unknown-linux-$libc.tar.gz, found ${#found[@]}"
    ARCHIVES+=("${found[0]}")
    if [[ $libc == musl ]]; then
      echo "install.sh: a musl system: the static build, without the plugin (it cannot load one)" >&2
      continue
    fi
    mapfile -t plugin < <(find "$a" -maxdepth 1 -name 'cassachange-enterprise-*.tar.gz' \
      | grep -Ev -- '-(vault|aws|azure)\.tar\.gz$' || true)
    ((${#plugin[@]} <= 1)) || die "$a: more than one enterprise archive with every provider"
    ((${#plugin[@]} == 0)) || ARCHIVES+=("${plugin[0]}")
  elif [[ -f $a ]]; then
    ARCHIVES+=("$a")
  else
    die "$a: no such file or folder"
  fi
done

# Every archive must match the SHA256SUMS of its folder.
for a in "${ARCHIVES[@]}"; do
  dir=$(cd "$(dirname "$a")" && pwd)
  name=$(basename "$a")
  [[ -f $dir/SHA256SUMS ]] || die "$dir/SHA256SUMS not found: cannot check $name"
  want=$(awk -v n="$name" '$2 == n || $2 == "*" n { print $1 }' "$dir/SHA256SUMS")
  [[ -n $want ]] || die "$name is not listed in $dir/SHA256SUMS"
  got=$(sha256sum "$a" | cut -d' ' -f1)
  [[ $got == "$want" ]] || die "$name does not match its SHA256SUMS entry (got $got): not installed"
done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
LIB="$PREFIX/lib/cassachange"
mkdir -p "$LIB" "$PREFIX/bin"
for a in "${ARCHIVES[@]}"; do
  tar -xzf "$a" -C "$WORK"
done
community=$(find "$WORK" -maxdepth 1 -type d -name 'cassachange-*' ! -name 'cassachange-enterprise-*' | head -n 1)
plugin=$(find "$WORK" -maxdepth 2 -name 'libcassachange_enterprise.*' | head -n 1)
if [[ -n $community ]]; then
  install -m 0755 "$community/cassachange" "$LIB/cassachange"
  ln -sfn "$LIB/cassachange" "$PREFIX/bin/cassachange"
  mkdir -p "$PREFIX/share/man/man1" "$PREFIX/share/bash-completion/completions" \
    "$PREFIX/share/zsh/site-functions" "$PREFIX/share/fish/vendor_completions.d"
  install -m 0644 "$community/man/cassachange.1" "$PREFIX/share/man/man1/cassachange.1"
  install -m 0644 "$community/completions/cassachange.bash" "$PREFIX/share/bash-completion/completions/cassachange"
  install -m 0644 "$community/completions/_cassachange" "$PREFIX/share/zsh/site-functions/_cassachange"
  install -m 0644 "$community/completions/cassachange.fish" "$PREFIX/share/fish/vendor_completions.d/cassachange.fish"
elif [[ ! -x $LIB/cassachange ]]; then
  die "no cassachange binary in the archives and none installed in $LIB: give the community archive too"
fi
if [[ -n $plugin ]]; then
  # Not writable by group or others: the binary refuses such a plugin.
  install -m 0755 "$plugin" "$LIB/$(basename "$plugin")"
fi
"$LIB/cassachange" --version
echo "installed in $PREFIX (binary: $PREFIX/bin/cassachange)"
