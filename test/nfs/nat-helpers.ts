// NAT test helpers: the NF on the harness in a chain with the inside endpoint `lan` (1) and
// the outside `wan` (2), frames from either side, and what a remote host would answer.

import nat, { type NatConfig } from '../../src/nfs/nat/index.ts'
import { harness, type HarnessOptions, type Outcome } from '../../src/testing/index.ts'
import {
  get16, Headers, ipv4ChecksumOk, l4ComputeChecksum, parse, PARSE_IPV4, set16, set32, get32,
} from '../../src/packet/index.ts'
import { ipv4Frame, type FrameSpec } from '../../src/testing/frames.ts'

export const LAN = 1
export const WAN = 2
export const EXT = '203.0.113.1'
/** The clock's start: not 0, so an NF that takes 0 for "never" shows it. */
export const T0 = 1_000_000

export function natOf(config: Partial<NatConfig> = {}, options: HarnessOptions = {}) {
  const h = harness(nat, { external: EXT, inside: '10.0.0.0/8', ...config }, {
    gates: { inside: LAN, outside: WAN }, endpoints: { lan: LAN, wan: WAN }, now: T0, ...options,
  })
  return {
    h,
    /** IPv4 from the inside (lan), as crafted. */
    fromInside: (spec: FrameSpec): Outcome => h.send(ipv4Frame(spec), { from: LAN }),
    /** IPv4 from the outside (wan), as crafted. */
    fromOutside: (spec: FrameSpec): Outcome => h.send(ipv4Frame(spec), { from: WAN }),
    /** The answer to a packet as it left the NAT, coming back from the side it went to (the outside unless said). */
    answer: (o: Outcome, from = WAN): Outcome => h.send(replyTo(o.frame), { from }),
    /** Moves the clock to `s` seconds after the start, ticking on the way as the runner does. */
    at: (s: number) => h.advance(T0 + s * 1000 - h.now),
    c: () => h.counters(),
  }
}

export function headers(frame: Uint8Array): Headers {
  const h = new Headers()
  if (parse(frame, 0, frame.length, h) !== PARSE_IPV4) throw new Error('not IPv4')
  return h
}

/** True if the IP header checksum and the L4 checksum (recomputed in full) are right. */
export function checksumsOk(frame: Uint8Array): boolean {
  const h = headers(frame)
  if (!ipv4ChecksumOk(frame, h.l3)) return false
  const f = h.proto === 6 ? 16 : h.proto === 17 ? 6 : h.proto === 1 ? 2 : -1
  if (f < 0 || h.l4 < 0) return true
  const stored = get16(frame, h.l4 + f)
  if (h.proto === 17 && stored === 0) return true
  return stored === l4ComputeChecksum(frame, h.l3)
}

/** The reply a remote host would send: a copy with addresses and ports swapped (checksums still right). */
export function replyTo(frame: Uint8Array): Uint8Array {
  const b = frame.slice()
  const h = headers(b)
  const s = get32(b, h.l3 + 12)
  set32(b, h.l3 + 12, get32(b, h.l3 + 16))
  set32(b, h.l3 + 16, s)
  if (h.hasPorts) {
    const sp = get16(b, h.l4)
    set16(b, h.l4, get16(b, h.l4 + 2))
    set16(b, h.l4 + 2, sp)
  }
  return b
}
