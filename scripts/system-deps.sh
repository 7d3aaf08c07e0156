#!/bin/sh
# The system tools the tests use as independent readers and real peers (tcpdump and tshark
# read what the chain writes; tmux drives the dashboard as a person would). Installed with
# apt-get when missing and run as root on Debian or Ubuntu; otherwise it says what to install.
set -e
missing=""
for tool in tcpdump tshark tmux; do
  command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
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
