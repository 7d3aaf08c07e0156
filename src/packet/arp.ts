// ARP for IPv4 over Ethernet (RFC 826): the only ARP a chain sees in practice. Offsets are
// from the start of the ARP payload (after the EtherType).

import { get16, get32 } from './bytes.ts'

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
