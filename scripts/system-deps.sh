#!/bin/sh
# System packages, installed with apt-get when missing (as root on Debian or Ubuntu; otherwise
# it says what to install).
#   system-deps.sh        (npm test's pretest) the tools the tests use as independent readers
#                         and real peers: tcpdump and tshark read what the chain writes; tmux
#                         drives the dashboard as a person would; ip, ethtool, curl and ping
#                         make the namespace lab and talk through it; nft builds the Linux
#                         router the NAT is compared with; promtool and prometheus check and
#                         scrape the metrics.
#   system-deps.sh bench  (npm run bench's prebench) liburing, which the round trips' io_uring
#                         peer (bench/peers/uring-pingpong.c) is built against. Without it the
#                         benchmarks still run, and say they skipped that peer.
set -e
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
missing=""
if [ "$1" = bench ]; then
  users="the benchmarks"
  [ -f /usr/include/liburing.h ] || missing=" liburing-dev"
else
  users="the tests"
  # command:package
  for pair in tcpdump:tcpdump tshark:tshark tmux:tmux ip:iproute2 ethtool:ethtool curl:curl ping:iputils-ping nft:nftables promtool:prometheus; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
  done
fi
[ -z "$missing" ] && exit 0
install() {
  echo "installing$missing ($users use them)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
}
root=""
[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && root=yes
if [ "$1" = bench ]; then
  # The benchmarks run without it, as they would without a compiler: said, not fatal.
  [ -n "$root" ] && (install) && exit 0
  echo "the benchmarks' io_uring peer needs$missing (sudo apt-get install$missing); running without it" >&2
elif [ -n "$root" ]; then
  install
else
  echo "the tests need$missing: install them (sudo apt-get install$missing), then run npm test again" >&2
  exit 1
fi
