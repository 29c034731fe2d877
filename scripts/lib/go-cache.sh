# Shared by the scripts that build Go programs once and cache them by version
# (scripts/control-plane/build, scripts/node/build, scripts/e2e/build). Source it, then:
#
#   go_cache_open <cache dir> <out dir> <file>...   prints <out>/bin and exits when every file
#                                                   is there; otherwise takes the cache's lock
#                                                   and makes $tmp (with $tmp/bin) to build into
#   go_cache_close                                  checks every file was built, renames $tmp to
#                                                   <out>, prints <out>/bin
#   kube_version_flags <version>                    the -X flags Kubernetes' own build
#                                                   (hack/lib/version.sh) sets; without them the
#                                                   binaries report v0.0.0
#
# A build killed half way leaves only $tmp, never a directory that looks complete.

_go_cache_complete() {
  local f
  for f in "${_go_cache_files[@]}"; do
    [ -x "$_go_cache_out/bin/$f" ] || return 1
  done
}

go_cache_open() {
  local cache="$1"
  _go_cache_out="$2"
  shift 2
  _go_cache_files=("$@")
  if _go_cache_complete; then
    echo "$(basename "$_go_cache_out"): cached" >&2
    echo "$_go_cache_out/bin"
    exit 0
  fi
  mkdir -p "$cache"
  # One build at a time; a second caller waits and then finds the cache filled.
  exec 9>"$cache/.lock"
  flock 9
  if _go_cache_complete; then
    echo "$_go_cache_out/bin"
    exit 0
  fi
  command -v go >/dev/null 2>&1 || {
    echo "$0: needs Go (1.25 or newer) on PATH" >&2
    exit 1
  }
  tmp="$(mktemp -d "$cache/.build.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  mkdir "$tmp/bin"
  chmod 755 "$tmp"
  export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
  _go_cache_start=$SECONDS
}

go_cache_close() {
  local f
  for f in "${_go_cache_files[@]}"; do
    [ -x "$tmp/bin/$f" ] || {
      echo "$0: $f was not built" >&2
      exit 1
    }
  done
  rm -rf "$_go_cache_out"
  mv "$tmp" "$_go_cache_out"
  trap - EXIT
  echo "$(basename "$_go_cache_out"): built in $((SECONDS - _go_cache_start))s" >&2
  echo "$_go_cache_out/bin"
}

kube_version_flags() {
  local version="$1" pkg major minor flags=""
  major="${version#v}"
  minor="${major#*.}"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$version -X $pkg.gitTreeState=clean"
    flags+=" -X $pkg.gitMajor=${major%%.*} -X $pkg.gitMinor=${minor%%.*}"
  done
  echo "$flags"
}
