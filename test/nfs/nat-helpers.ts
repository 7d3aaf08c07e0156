// NAT test helpers: a chain with the inside endpoint `lan` (1) and the outside `wan` (2).

import nat, { type NatConfig } from '../../src/nfs/nat/index.ts'
import type { NFInstance, Packet } from '../../src/xio/nf-types.ts'
import {
  get16, Headers, ipv4ChecksumOk, l4ComputeChecksum, parse, PARSE_IPV4, set16, set32, get32,
} from '../../src/packet/index.ts'
import { ipv4Frame, packetOf, type FrameSpec } from '../packet/craft.ts'
import { TestEnv } from './env.ts'

export const LAN = 1
export const WAN = 2
export const INSIDE = 0
export const OUTSIDE = 1
export const EXT = '203.0.113.1'

export function natOf(config: Partial<NatConfig> = {}): { nf: NFInstance; env: TestEnv; at: (s: number) => void } {
  const env = new TestEnv({ lan: LAN, wan: WAN }, { inside: LAN, outside: WAN })
  const nf = nat.create({ external: EXT, inside: '10.0.0.0/8', ...config }, env)
  const t0 = env.time
  return { nf, env, at: (s: number) => nf.tick!((env.time = t0 + s * 1000)) }
}

export function fromInside(spec: FrameSpec): Packet {
  return packetOf(ipv4Frame(spec), { from: LAN })
}

export function fromOutside(spec: FrameSpec): Packet {
  return packetOf(ipv4Frame(spec), { from: WAN })
}

export function headers(p: Packet): Headers {
  const h = new Headers()
  if (parse(p.bytes, p.at, p.length, h) !== PARSE_IPV4) throw new Error('not IPv4')
  return h
}

/** True if the IP header checksum and the L4 checksum (recomputed in full) are right. */
export function checksumsOk(p: Packet): boolean {
  const h = headers(p)
  if (!ipv4ChecksumOk(p.bytes, h.l3)) return false
  const f = h.proto === 6 ? 16 : h.proto === 17 ? 6 : h.proto === 1 ? 2 : -1
  if (f < 0 || h.l4 < 0) return true
  const stored = get16(p.bytes, h.l4 + f)
  if (h.proto === 17 && stored === 0) return true
  return stored === l4ComputeChecksum(p.bytes, h.l3)
}

/** The reply a remote host would send: addresses and ports swapped (checksums still right), from the outside. */
export function replyTo(p: Packet, from = WAN): Packet {
  const b = p.bytes.slice()
  const q: Packet = { ...p, bytes: b, view: new DataView(b.buffer), from }
  const h = headers(q)
  const s = get32(b, h.l3 + 12)
  set32(b, h.l3 + 12, get32(b, h.l3 + 16))
  set32(b, h.l3 + 16, s)
  if (h.hasPorts) {
    const sp = get16(b, h.l4)
    set16(b, h.l4, get16(b, h.l4 + 2))
    set16(b, h.l4 + 2, sp)
  }
  return q
}
