// ARP for IPv4 over Ethernet (RFC 826): the only ARP a chain sees in practice. Offsets are
// from the start of the ARP payload (after the EtherType), except where a writer takes the
// frame's start too. The writers answer and ask as a host does: a reply goes to the
// requester's hardware address, a request is broadcast.

import { get16, get32, set16, set32 } from './bytes.ts'
import { copyMac, ETH_DST, ETH_HLEN, ETH_SRC, ETH_TYPE, ETHERTYPE_ARP, ETHERTYPE_IPV4, writeMac } from './ethernet.ts'

export const ARP_LEN = 28
export const ARP_HTYPE = 0
export const ARP_PTYPE = 2
export const ARP_HLEN = 4
export const ARP_PLEN = 5
export const ARP_OPER = 6
export const ARP_SHA = 8
export const ARP_SPA = 14
export const ARP_THA = 18
export const ARP_TPA = 24

export const ARP_REQUEST = 1
export const ARP_REPLY = 2

/** True if an Ethernet/IPv4 ARP message fits in [o, end). */
export function isArpIpv4(b: Uint8Array, o: number, end: number): boolean {
  return o + ARP_LEN <= end && get16(b, o + ARP_HTYPE) === 1 && get16(b, o + ARP_PTYPE) === 0x0800 &&
    b[o + ARP_HLEN] === 6 && b[o + ARP_PLEN] === 4
}

export function arpOperation(b: Uint8Array, o: number): number {
  return get16(b, o + ARP_OPER)
}

export function arpSenderIp(b: Uint8Array, o: number): number {
  return get32(b, o + ARP_SPA)
}

export function arpTargetIp(b: Uint8Array, o: number): number {
  return get32(b, o + ARP_TPA)
}

/** Frame length of an untagged ARP message: Ethernet header and ARP, no padding (as Linux sends it; a NIC pads). */
export const ARP_FRAME_LEN = ETH_HLEN + ARP_LEN

/**
 * Turns the request at o (the ARP payload of the frame at `at`) into its reply, in place:
 * `mac` answers for the target address the request asked about, to the requester's hardware
 * address (RFC 826: swap sender and target, fill in our hardware address, opcode reply).
 * A DAD probe (sender address 0.0.0.0, RFC 5227) is answered the same way, to 0.0.0.0.
 * VLAN tags between the Ethernet header and o are left as they are.
 */
export function arpTurnIntoReply(b: Uint8Array, at: number, o: number, mac: Uint8Array): void {
  const askedFor = get32(b, o + ARP_TPA)
  copyMac(b, o + ARP_SHA, o + ARP_THA)
  set32(b, o + ARP_TPA, get32(b, o + ARP_SPA))
  writeMac(b, o + ARP_SHA, mac)
  set32(b, o + ARP_SPA, askedFor)
  set16(b, o + ARP_OPER, ARP_REPLY)
  copyMac(b, o + ARP_THA, at + ETH_DST)
  writeMac(b, at + ETH_SRC, mac)
}

/**
 * Writes a broadcast request "who has `targetIp`? tell `senderIp` at `mac`" as an untagged
 * frame at b[at...]; returns its length (ARP_FRAME_LEN). The target hardware address is
 * zero, as RFC 826 leaves it and Linux sends it.
 */
export function writeArpRequest(b: Uint8Array, at: number, mac: Uint8Array, senderIp: number, targetIp: number): number {
  b.fill(0xff, at + ETH_DST, at + ETH_DST + 6)
  writeMac(b, at + ETH_SRC, mac)
  set16(b, at + ETH_TYPE, ETHERTYPE_ARP)
  const o = at + ETH_HLEN
  set16(b, o + ARP_HTYPE, 1)
  set16(b, o + ARP_PTYPE, ETHERTYPE_IPV4)
  b[o + ARP_HLEN] = 6
  b[o + ARP_PLEN] = 4
  set16(b, o + ARP_OPER, ARP_REQUEST)
  writeMac(b, o + ARP_SHA, mac)
  set32(b, o + ARP_SPA, senderIp)
  b.fill(0, o + ARP_THA, o + ARP_THA + 6)
  set32(b, o + ARP_TPA, targetIp)
  return ARP_FRAME_LEN
}
