// Ethernet II frames and their 802.1Q / 802.1ad VLAN tags (IEEE 802.3, 802.1Q).
// A frame is 6 bytes destination MAC, 6 bytes source MAC, then either the EtherType or a
// 4-byte tag (TPID 0x8100, 0x88a8 or the pre-standard QinQ 0x9100, then the TCI) before it.

import { get16 } from './bytes.ts'

export const ETH_HLEN = 14
export const ETH_DST = 0
export const ETH_SRC = 6
export const ETH_TYPE = 12
export const VLAN_TAG_LEN = 4

export const ETHERTYPE_IPV4 = 0x0800
export const ETHERTYPE_ARP = 0x0806
export const ETHERTYPE_IPV6 = 0x86dd
export const ETHERTYPE_VLAN = 0x8100
export const ETHERTYPE_QINQ = 0x88a8
export const ETHERTYPE_QINQ_OLD = 0x9100

export function isVlanTpid(t: number): boolean {
  return t === ETHERTYPE_VLAN || t === ETHERTYPE_QINQ || t === ETHERTYPE_QINQ_OLD
}

/**
 * Offset of the EtherType field that names the payload, after any VLAN tags, or -1 if the
 * frame ends inside the header or a tag. The payload starts 2 bytes after it.
 */
export function etherTypeOffset(b: Uint8Array, at: number, length: number): number {
  const end = at + length
  let o = at + ETH_TYPE
  if (o + 2 > end) return -1
  while (isVlanTpid(get16(b, o))) {
    o += VLAN_TAG_LEN
    if (o + 2 > end) return -1
  }
  return o
}

/** VLAN id (12 bits) of the outermost tag, or -1 if the frame is untagged or too short. */
export function outerVlanId(b: Uint8Array, at: number, length: number): number {
  if (length < ETH_HLEN + VLAN_TAG_LEN || !isVlanTpid(get16(b, at + ETH_TYPE))) return -1
  return get16(b, at + ETH_TYPE + 2) & 0x0fff
}

/** Swaps source and destination MAC in place: the reply direction, as DPDK l2fwd's echo. */
export function swapMacs(b: Uint8Array, at: number): void {
  for (let i = 0; i < 6; i++) {
    const t = b[at + i]
    b[at + i] = b[at + 6 + i]
    b[at + 6 + i] = t
  }
}

/** Writes a 6-byte MAC (from mac[0..6)) at offset o. */
export function writeMac(b: Uint8Array, o: number, mac: Uint8Array): void {
  b[o] = mac[0]
  b[o + 1] = mac[1]
  b[o + 2] = mac[2]
  b[o + 3] = mac[3]
  b[o + 4] = mac[4]
  b[o + 5] = mac[5]
}

export function copyMac(b: Uint8Array, from: number, to: number): void {
  for (let i = 0; i < 6; i++) b[to + i] = b[from + i]
}
