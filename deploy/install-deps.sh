#!/usr/bin/env bash
# Install what the orchestrator needs on a Debian 12 (bookworm) machine.
#
#   deploy/install-deps.sh                 # build + test + local stack toolchain
#   deploy/install-deps.sh --runtime-only  # only the shared libraries the binary links
#   deploy/install-deps.sh --print         # print the package list and exit
#   deploy/install-deps.sh --clean         # also empty apt's lists afterwards (images)
#
# Idempotent: when every package is already installed (checked with dpkg-query,
# including packages that are only *provided* by an installed one, e.g. npm by
# NodeSource's nodejs or postgresql-contrib-15 by postgresql-15) apt is not run
# at all, so warm runs take well under a second. Used by CI and meant to be
# reused by a Dockerfile (`RUN deploy/install-deps.sh --runtime-only --clean`).
set -euo pipefail

# Everything needed to build, test, benchmark and run the local Kafka +
# PostgreSQL stack (deploy/local/stack.sh). pgbench ships with postgresql-15.
# clang and its runtimes (libFuzzer, the sanitizers) build tests/fuzz.
# openssl and the JRE's keytool make the throw-away CA of itest_security.
BUILD_PACKAGES=(
  build-essential cmake pkg-config clang libclang-rt-dev
  librdkafka-dev libjansson-dev libpq-dev libjemalloc-dev
  check libsubunit-dev
  postgresql-15 postgresql-contrib-15
  openjdk-17-jre-headless maven
  gnuplot-nox nodejs npm
  curl ca-certificates procps openssl
)
# What a built orchestrator binary needs at run time.
RUNTIME_PACKAGES=(librdkafka1 libjansson4 libpq5 libjemalloc2)

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }

mode=full clean=0 print=0
for arg in "$@"; do
  case "$arg" in
    --runtime-only) mode=runtime ;;
    --clean) clean=1 ;;
    --print) print=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install-deps.sh: unknown option: $arg" >&2; usage >&2; exit 2 ;;
  esac
done

if [[ $mode == runtime ]]; then
  PACKAGES=("${RUNTIME_PACKAGES[@]}")
else
  PACKAGES=("${BUILD_PACKAGES[@]}")
fi
# Extra packages can be added without editing this file.
if [[ -n ${ORC_EXTRA_PACKAGES:-} ]]; then
  read -r -a extra <<<"$ORC_EXTRA_PACKAGES"
  PACKAGES+=("${extra[@]}")
fi

if (( print )); then
  printf '%s\n' "${PACKAGES[@]}"
  exit 0
fi

# Names of installed packages plus the virtual names they provide.
installed_names() {
  dpkg-query -W -f='${db:Status-Abbrev}|${Package}|${Provides}\n' 2>/dev/null |
    awk -F'|' '$1 ~ /^ii/ {
      print $2
      n = split($3, p, ",")
      for (i = 1; i <= n; i++) {
        name = p[i]
        sub(/\(.*/, "", name); sub(/:.*/, "", name); gsub(/[ \t]/, "", name)
        if (name != "") print name
      }
    }'
}

declare -A have=()
while read -r name; do have[$name]=1; done < <(installed_names)

missing=()
for pkg in "${PACKAGES[@]}"; do
  [[ -n ${have[$pkg]:-} ]] || missing+=("$pkg")
done

if (( ${#missing[@]} == 0 )); then
  echo "install-deps.sh: all ${#PACKAGES[@]} packages already installed ($mode)"
  exit 0
fi

SUDO=()
if (( EUID != 0 )); then
  command -v sudo >/dev/null || { echo "install-deps.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=(sudo)
fi

echo "install-deps.sh: installing ${#missing[@]} package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"

if (( clean )); then
  "${SUDO[@]}" apt-get clean
  "${SUDO[@]}" rm -rf /var/lib/apt/lists/*
fi
echo "install-deps.sh: done"
