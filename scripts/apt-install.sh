#!/usr/bin/env bash
# Installs Debian packages for the quick start and the benchmark, as root, without letting
# Debian start their services: stock nginx would listen on port 80 of every address and stock
# redis-server on 6379, and both would outlive the run, which starts its own servers on free
# loopback ports. Service starts are forbidden for the duration of the install with
# policy-rc.d exit 101 (Debian's documented mechanism), unless the machine has a policy already.
#   bash scripts/apt-install.sh NAME PACKAGE...   # NAME: the caller, for its messages
set -euo pipefail
name=${1:?usage: apt-install.sh NAME PACKAGE...}
shift
[ $# -gt 0 ] || exit 0
echo "$name: installing $*"
if [ "$(id -u)" -ne 0 ]; then echo "$name: run as root to install packages (or install them yourself)" >&2; exit 2; fi
export DEBIAN_FRONTEND=noninteractive
policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && policy=1
fi
rc=0
{ apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null; } || rc=$?
if [ -n "$policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
if [ "$rc" -ne 0 ]; then echo "$name: installing packages failed (apt-get exit $rc)" >&2; exit "$rc"; fi
