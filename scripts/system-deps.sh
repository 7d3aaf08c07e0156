#!/bin/sh
# The system tools the tests use as independent readers and real peers: tcpdump and tshark
# read what the chain writes; tmux drives the dashboard as a person would; ip, ethtool, curl
# and ping make the namespace lab and talk through it; nft builds the Linux router the NAT is
# compared with; promtool and prometheus check and scrape the metrics. Installed with apt-get
# when missing and run as root on Debian or Ubuntu; otherwise it says what to install.
set -e
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
missing=""
# command:package
for pair in tcpdump:tcpdump tshark:tshark tmux:tmux ip:iproute2 ethtool:ethtool curl:curl ping:iputils-ping nft:nftables promtool:prometheus; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing$missing (the tests use them)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  echo "the tests need$missing: install them (sudo apt-get install$missing), then run npm test again" >&2
  exit 1
fi
