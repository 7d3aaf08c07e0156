// The fuzzer shared by the fuzz test (a million frames per NF, in CI) and the bench (ten
// million): seeded random and mutated frames, from both sides of the NFs that have sides.
import { harness, type Harness } from '../../src/testing/index.ts'
import { builtinNFs } from '../../src/nfs/index.ts'
import { arpFrame, ipv4Frame, ipv6Frame } from '../../src/testing/frames.ts'

export const SEED = 0x5eed_c0de

/** xorshift32: the same frames every run, fast enough for millions. */
export function random(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 4294967296
  }
}

// Valid frames of every kind the NFs read, to mutate: the mutations then reach deep into the
// parsers instead of failing at the first byte.
const seeds: Uint8Array[] = [
  ipv4Frame({ proto: 'tcp', src: '10.0.0.2', dst: '198.51.100.10', dstPort: 80, tcpFlags: 0x02 }),
  ipv4Frame({ proto: 'tcp', src: '198.51.100.10', dst: '203.0.113.1', srcPort: 80, dstPort: 20000, tcpFlags: 0x12 }),
  ipv4Frame({ proto: 'udp', src: '10.0.0.3', dst: '198.51.100.53', dstPort: 53, payload: 30 }),
  ipv4Frame({ proto: 'icmp', src: '10.0.0.4', dst: '198.51.100.1', icmpType: 8, icmpId: 7 }),
  ipv4Frame({ proto: 'icmp', src: '198.51.100.1', dst: '203.0.113.1', icmpType: 3, icmpCode: 4, payload: ipv4Frame({ proto: 'udp', src: '203.0.113.1', dst: '198.51.100.1' }).slice(14, 42) }),
  ipv4Frame({ proto: 'udp', src: '10.0.0.2', dst: '198.51.100.9', mf: true, options: [7, 7, 4], vlan: [5] }),
  ipv4Frame({ proto: 'tcp', src: '10.0.0.2', dst: '10.0.0.1', ttl: 1 }),
  ipv6Frame({ proto: 'tcp', src: '2001:db8::2', dst: '2001:db8:1::10', dstPort: 443, ext: [0, 60] }),
  ipv6Frame({ proto: 'icmpv6', src: '2001:db8::2', dst: 'ff02::1', icmpType: 135 }),
  arpFrame({ op: 1, senderIp: '10.0.0.2', targetIp: '10.0.0.1' }),
  arpFrame({ op: 2, senderIp: '10.0.0.254', targetIp: '10.0.0.1' }),
]

/** A frame at random: bytes at random, or a valid one mutated (flipped, cut short, lengthened). */
export function frame(next: () => number, buffer: Uint8Array): Uint8Array {
  const choice = next()
  if (choice < 0.2) {
    // Bytes at random, of any length a buffer holds.
    const length = Math.floor(next() * 200) + (next() < 0.1 ? Math.floor(next() * 1300) : 0)
    for (let i = 0; i < length; i++) buffer[i] = next() * 256
    return buffer.subarray(0, length)
  }
  const base = seeds[Math.floor(next() * seeds.length)]
  buffer.set(base)
  let length = base.length
  const flips = 1 + Math.floor(next() * 4)
  for (let i = 0; i < flips; i++) buffer[Math.floor(next() * length)] = next() * 256
  if (next() < 0.3) length = Math.floor(next() * length)          // cut short
  else if (next() < 0.1) {                                          // longer than its headers say
    const more = Math.floor(next() * 64)
    for (let i = 0; i < more; i++) buffer[length + i] = next() * 256
    length += more
  }
  return buffer.subarray(0, length)
}

export interface Subject {
  h: Harness
  /** Endpoint ids packets come from, picked at random (an NF with sides sees both). */
  from: number[]
  /** Counters of packets it consumed (CONSUMED: ended there on purpose, not lost; the router's ARP). */
  consumed: string[]
}

/** Each built-in NF, configured to exercise what it has (rules, conntrack, forwards, ARP). */
export const subjects: Record<string, () => Subject> = {
  l2fwd: () => ({ h: harness(builtinNFs.l2fwd, {}, { buffers: 8 }), from: [1], consumed: [] }),
  firewall: () => ({
    h: harness(builtinNFs.firewall, {
      default: 'drop', stateful: true, nonIp: 'drop',
      rules: [
        { action: 'allow', proto: 'tcp', dstPort: [80, 443], in: 'lan' },
        { action: 'allow', proto: 'udp', dst: '198.51.100.0/24', dstPort: 53 },
        { action: 'drop', src: '10.0.0.4' },
        { action: 'allow', proto: 'icmp' },
        { action: 'allow', proto: 'icmpv6' },
        { action: 'allow', src: '2001:db8::/32', proto: 'tcp' },
      ],
    }, { endpoints: { lan: 1, wan: 2 }, buffers: 8 }),
    from: [1, 2],
    consumed: [],
  }),
  nat: () => ({
    h: harness(builtinNFs.nat, { external: '203.0.113.1', inside: '10.0.0.0/24', ports: [20000, 20099], forwards: [{ proto: 'tcp', port: 8080, to: '10.0.0.5:80' }] },
      { gates: { inside: 1, outside: 2 }, buffers: 8 }),
    from: [1, 2],
    consumed: [],
  }),
  router: () => ({
    h: harness(builtinNFs.router, { address: '10.0.0.1/24', gateway: '10.0.0.254' }, { gates: { wire: 1, chain: 2 }, buffers: 2048 }),
    from: [1, 2],
    consumed: ['arp'],
  }),
}

export interface FuzzResult {
  /** Packets the NF dropped: by its verdict, and of its own (held ones it gave up on). */
  drops: number
  droppedByNf: number
  counters: Record<string, number>
  /** Packets consumed: by verdict (CONSUMED), and as its counters say. */
  consumedSeen: number
  consumed: number
  held: number
}

/** Sends `frames` fuzzed frames through the subject, time moving on now and then. */
export function fuzz(kind: string, frames: number): FuzzResult {
  const { h, from, consumed } = subjects[kind]()
  const next = random(SEED ^ kind.length)
  const buffer = new Uint8Array(1600)
  let drops = 0
  let consumedSeen = 0
  let droppedByNf = 0
  const forget = () => {
    // What went out is not kept: millions of frames of it would be the fuzzer's memory, not the NF's.
    droppedByNf += h.packets.dropped.length
    h.sent.length = h.dropped.length = h.packets.sent.length = h.packets.dropped.length = 0
  }
  for (let i = 0; i < frames; i++) {
    const f = frame(next, buffer)
    const outcome = h.send(f, { from: from[Math.floor(next() * from.length)], flowHash: (next() * 4294967296) >>> 0 })
    if (outcome.verdict === 'drop') drops++
    else if (outcome.verdict === 'consumed') consumedSeen++
    // Time moves on now and then, so timers (expiry, ARP retries) run between the frames.
    if ((i & 1023) === 0) h.advance(Math.floor(next() * 2000))
    forget()
  }
  h.advance(600_000)  // held packets are released or given up
  forget()
  const counters = h.counters()
  return { drops, droppedByNf, counters, consumedSeen, consumed: consumed.reduce((n, k) => n + counters[k], 0), held: h.held }
}
