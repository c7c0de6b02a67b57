#!/bin/sh
# Runs a command with Debian bookworm's own Node 18 beside the system Node (which stays as it is): the `nodejs`
# and `libnode108` packages and what libnode loads at run time (libc-ares2; acorn, cjs-module-lexer and undici,
# which Debian's Node reads from /usr/share/nodejs), fetched with apt-get download and unpacked with dpkg-deb -x
# into a cache folder. A private mount namespace lays that folder's /usr/share and /usr/lib over the system's (read
# only, for this command alone), so Node 18 finds its files where Debian puts them. $FOTA_NODE18 names its binary.
# Usage: scripts/node18.sh COMMAND [ARGS...]   (needs root for the mount namespace; used by npm run test:node18)
#        scripts/node18.sh --root             prepares the folder and prints it (a file-system layer with Debian's
#                                             Node 18 in /usr: the install.sh tests lay it over their test board)
set -eu

cache=${FOTA_NODE18_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fota/node18}
root=$cache/root
if [ ! -x "$root/usr/bin/node" ]; then
  # the newest 18.x Debian offers (bookworm: 18.20.4+dfsg-1~deb12u*); never the system's own nodejs
  version=$(apt-cache madison nodejs | awk '$3 ~ /^18\./ { print $3; exit }')
  if [ -z "$version" ]; then
    echo "node18.sh: apt knows no nodejs 18.x: add Debian bookworm to the apt sources, then apt-get update" >&2
    exit 1
  fi
  rm -rf "$cache" && mkdir -p "$cache/debs"
  # apt's "Get:N …" lines go to stderr: with --root, stdout is the folder's path alone (the install.sh tests read it)
  (cd "$cache/debs" && apt-get download -q "nodejs=$version" "libnode108=$version" libc-ares2 node-acorn node-cjs-module-lexer node-undici node-busboy node-xtend) >&2
  for deb in "$cache"/debs/*.deb; do dpkg-deb -x "$deb" "$root"; done
fi

if [ "${1:-}" = --root ]; then echo "$root"; exit 0; fi

multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
export FOTA_NODE18="$root/usr/bin/node"
exec unshare --mount --propagation private sh -c '
  set -e
  mount -t overlay overlay -o "lowerdir=$1/usr/share:/usr/share" /usr/share
  mount -t overlay overlay -o "lowerdir=$1/usr/lib/$2:/usr/lib/$2" "/usr/lib/$2"
  "$FOTA_NODE18" -e "if (!process.versions.node.startsWith(\"18.\")) process.exit(1)" || { echo "node18.sh: $FOTA_NODE18 is not a working Node 18" >&2; exit 1; }
  shift 2
  exec "$@"' sh "$root" "$multiarch" "$@"
