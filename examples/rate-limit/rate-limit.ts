// rate-limit: a token bucket per source address, as nftables' `meter m { ip saddr limit rate over
// 50/second burst 10 packets } drop` or iptables' `-m hashlimit --hashlimit-mode srcip`. Each
// IPv4 source (and each IPv6 /64, by default) gets a bucket of `burst` tokens that refills at
// `rate` tokens per `per`, continuously, by the time elapsed since its last packet; a packet
// that finds a token (in bytes mode: as many tokens as its IP datagram has bytes) takes it and
// leaves by `out`, one that does not is dropped and counted `limited`. A dropped packet takes
// nothing from the bucket.
//
// Gates: out. What does not leave by it is dropped, counted under its reason:
//   limited    over its source's rate;
//   tableFull  from a new source while `maxSources` others are being tracked: refused, as
//              hashlimit does, so a flood from many (spoofed) addresses cannot buy its way
//              past the limiter by filling the table;
//   malformed  cut short inside the Ethernet header or a VLAN tag, or an IPv4 or IPv6 header
//              that is cut short or inconsistent (bad version, IHL, or a length past the
//              frame), as the Linux IP stack drops them on input.
// Frames that are not IP (ARP, LLDP...) pass untouched, counted `notIp`: this limits IP
// sources only. VLAN tags are skipped; the same address on two VLANs shares one bucket.
//
// Config: rate (tokens per `per`), per ('second' (default), 'minute', 'hour', 'day'), unit
// ('packets' (default) or 'bytes': then a packet costs its IP datagram's length, the IPv4
// total length or 40 + the IPv6 payload length, as nft's `limit rate ... bytes/second`),
// burst (the bucket's depth, in the unit), maxSources (the table's capacity, default 65536;
// about 70 bytes a source, all allocated at start), ipv4Prefix (default 32) and ipv6Prefix
// (default 64: one host usually holds a whole /64, and could otherwise take a fresh address,
// and a fresh bucket, per packet), like hashlimit's --hashlimit-srcmask.
//
// The table forgets a source once its bucket has filled up again (a sweep on every tick, about
// every 100 ms, looks at 65536 sources: all of them, at the default size; at rest, idle()
// sweeps them all and asks to be called when the next bucket is full): a full bucket is
// exactly what a new source gets, so forgetting it changes no decision. `sources` counts the
// sources tracked, `expired` those forgotten.
//
// Time is env.now(), in whole milliseconds. The arithmetic is in integers, so results are
// exact: a bucket holds tokens × periodMs units, a millisecond adds `rate` units and a token
// costs periodMs of them (50/second: 50 units a ms, 1000 a packet, one packet every 20 ms).
//
// Run it: xio-chain replay examples/rate-limit/chain.json --json (the capture it replays is
// made by make-capture.ts, beside this file; the tests are test/examples/rate-limit.test.ts).
import { defineNF, DROP, NFConfigError, type Packet } from 'xio-chain'
import {
  ETHERTYPE_IPV4, ETHERTYPE_IPV6, etherTypeOffset, get16, get32, hash4, ipv4Check, isIpv6, IPV4_OK, IPV4_SRC,
  IPV4_TOTAL_LENGTH, IPV6_HLEN, IPV6_PAYLOAD_LENGTH, IPV6_SRC, prefixMask, prefixMask6,
} from 'xio-chain/packet'

export interface Config {
  /** Tokens added per `per`. */
  rate: number
  per?: 'second' | 'minute' | 'hour' | 'day'
  /** What a token is: a packet, or a byte of the IP datagram. */
  unit?: 'packets' | 'bytes'
  /** The bucket's depth, in tokens: how much a source may send at once after a quiet spell. */
  burst: number
  /** Sources tracked at once. */
  maxSources?: number
  /** Prefix lengths a source is counted by. */
  ipv4Prefix?: number
  ipv6Prefix?: number
}

const OUT = 0
const PERIOD_MS = { second: 1000, minute: 60_000, hour: 3_600_000, day: 86_400_000 }
/** Sources the sweep looks at a tick: all of them in a table of the default size (about 0.2 ms). */
const SWEEP_SLICE = 65_536
/** Bucket levels stay below this, so every sum and product is an exact integer in a double. */
const EXACT_LIMIT = 2 ** 51

export default defineNF<Config>({
  name: 'rate-limit',
  gates: ['out'],
  config: {
    type: 'object',
    additionalProperties: false,
    required: ['rate', 'burst'],
    properties: {
      rate: { type: 'integer', minimum: 1, maximum: 2 ** 40, description: 'Tokens a source earns per `per`.' },
      per: { enum: ['second', 'minute', 'hour', 'day'], default: 'second', description: 'The period `rate` is per.' },
      unit: { enum: ['packets', 'bytes'], default: 'packets', description: 'bytes: a packet costs its IP datagram length.' },
      burst: { type: 'integer', minimum: 1, maximum: 2 ** 40, description: 'Bucket depth, in the unit.' },
      maxSources: { type: 'integer', minimum: 1, maximum: 1_048_576, default: 65_536, description: 'Sources tracked at once; a new one beyond is dropped.' },
      ipv4Prefix: { type: 'integer', minimum: 0, maximum: 32, default: 32, description: 'Sources in one IPv4 prefix this long share a bucket.' },
      ipv6Prefix: { type: 'integer', minimum: 0, maximum: 128, default: 64, description: 'Sources in one IPv6 prefix this long share a bucket.' },
    },
  },
  create(config, env) {
    const per = config.per ?? 'second'
    const periodMs = PERIOD_MS[per]
    const bytesMode = config.unit === 'bytes'
    const rate = config.rate // units a millisecond adds
    const full = config.burst * periodMs
    if (full > EXACT_LIMIT) throw new NFConfigError('/burst', `burst × the ms in a ${per} must stay under 2^51 for exact arithmetic: a shorter period allows more`)
    if (bytesMode && config.burst < 1500) env.warn?.('/burst', 'under 1500 bytes: a packet longer than burst never passes')
    // Time for an empty bucket to fill: an entry idle that long is full whatever it held.
    let fillMs = Math.ceil(full / rate)
    while (fillMs * rate < full) fillMs++
    const mask4 = prefixMask(config.ipv4Prefix ?? 32)
    const ipv6Prefix = config.ipv6Prefix ?? 64
    const mask6 = Int32Array.from([0, 1, 2, 3], (i) => prefixMask6(ipv6Prefix, i))
    const table = new SourceTable(config.maxSources ?? 65_536)
    const { level, stamp } = table
    let passed = 0
    let limited = 0
    let tableFull = 0
    let malformed = 0
    let notIp = 0
    let expired = 0
    let sweepAt = 0

    /** Forgets the sources whose bucket has filled up again among the next `count` of the table. */
    function sweep(now: number, count: number): void {
      for (let n = count; n > 0; n--) {
        if (sweepAt >= table.highWater) sweepAt = 0
        const id = sweepAt++
        if (!table.used[id]) continue
        const elapsed = now - stamp[id]
        if (elapsed >= fillMs || level[id] + elapsed * rate >= full) {
          table.remove(id)
          expired++
        }
      }
    }

    /** The packet from source (a, b, c, d) costing `cost` units: OUT with a token, else DROP. */
    function take(a: number, b: number, c: number, d: number, cost: number): number {
      const now = Math.floor(env.now())
      const hash = hash4(a, b, c, d)
      let id = table.find(a, b, c, d, hash)
      if (id < 0) {
        if (cost > full) {
          limited++
          return DROP
        }
        id = table.add(a, b, c, d, hash)
        if (id < 0) {
          tableFull++
          return DROP
        }
        level[id] = full
        stamp[id] = now
      } else {
        const elapsed = now - stamp[id]
        if (elapsed > 0) { // a clock that stood still or stepped back adds nothing
          level[id] = elapsed >= fillMs ? full : Math.min(full, level[id] + elapsed * rate)
          stamp[id] = now
        }
      }
      if (level[id] < cost) {
        limited++
        return DROP
      }
      level[id] -= cost
      passed++
      return OUT
    }

    return {
      process(p: Packet): number {
        const b = p.bytes
        const end = p.at + p.length
        const typeAt = etherTypeOffset(b, p.at, p.length)
        if (typeAt < 0) {
          malformed++
          return DROP
        }
        const type = get16(b, typeAt)
        const l3 = typeAt + 2
        if (type === ETHERTYPE_IPV4) {
          if (ipv4Check(b, l3, end) !== IPV4_OK) {
            malformed++
            return DROP
          }
          const cost = bytesMode ? get16(b, l3 + IPV4_TOTAL_LENGTH) * periodMs : periodMs
          // Keyed as the IPv4-mapped IPv6 address ::ffff:a.b.c.d (RFC 4291 2.5.5.2): one table for both.
          return take(0, 0, 0xffff, get32(b, l3 + IPV4_SRC) & mask4, cost)
        }
        if (type === ETHERTYPE_IPV6) {
          if (!isIpv6(b, l3, end)) {
            malformed++
            return DROP
          }
          const cost = bytesMode ? (IPV6_HLEN + get16(b, l3 + IPV6_PAYLOAD_LENGTH)) * periodMs : periodMs
          const src = l3 + IPV6_SRC
          return take(get32(b, src) & mask6[0], get32(b, src + 4) & mask6[1], get32(b, src + 8) & mask6[2], get32(b, src + 12) & mask6[3], cost)
        }
        notIp++
        return OUT
      },

      tick(nowMs: number): void {
        // Forget the sources whose bucket has filled up again, looking at SWEEP_SLICE of them
        // a tick at most, so that a huge table that goes quiet all at once costs no long stall.
        sweep(Math.floor(nowMs), Math.min(SWEEP_SLICE, table.highWater))
      },

      // No packets for a second: the whole table at once, then nothing until the next bucket
      // is full again (the chain sleeps meanwhile).
      idle(nowMs: number): number {
        const now = Math.floor(nowMs)
        sweep(now, table.highWater)
        let next = Infinity
        for (let id = 0; id < table.highWater; id++) {
          if (!table.used[id]) continue
          const elapsed = now - stamp[id]
          next = Math.min(next, fillMs - elapsed, Math.ceil((full - level[id]) / rate) - elapsed)
        }
        return Math.max(1, next)
      },

      counters: () => ({ passed, limited, tableFull, malformed, notIp, sources: table.size, expired }),
    }
  },
})

/**
 * Sources by key (four int32 words), each with an id into per-source arrays: level and stamp
 * (the ms of its last refill). All preallocated: no allocation per packet or per new source.
 * The index is open addressing with linear probing, at most half full; a removal shifts the
 * rest of its probe run back (Knuth's algorithm R), so no tombstones pile up as sources come
 * and go.
 */
class SourceTable {
  size = 0
  /** Ids below this have been used; the sweep looks no further. */
  highWater = 0
  readonly level: Float64Array
  readonly stamp: Float64Array
  readonly used: Uint8Array
  private readonly keys: Int32Array
  private readonly hashes: Int32Array
  /** Two int32 a slot: id + 1 (0: empty), and the key's hash (so a probe compares keys only on a match). */
  private readonly slots: Int32Array
  private readonly mask: number
  private readonly free: Int32Array
  private freeTop: number

  constructor(readonly capacity: number) {
    let slotCount = 16
    while (slotCount < capacity * 2) slotCount *= 2
    this.mask = slotCount - 1
    this.slots = new Int32Array(slotCount * 2)
    this.keys = new Int32Array(capacity * 4)
    this.hashes = new Int32Array(capacity)
    this.level = new Float64Array(capacity)
    this.stamp = new Float64Array(capacity)
    this.used = new Uint8Array(capacity)
    // Lowest ids first, so the ids in use stay packed at the bottom for the sweep.
    this.free = Int32Array.from({ length: capacity }, (_, i) => capacity - 1 - i)
    this.freeTop = capacity
  }

  /** The source's id, or -1. */
  find(a: number, b: number, c: number, d: number, hash: number): number {
    const { slots, keys, mask } = this
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const entry = slots[2 * i]
      if (entry === 0) return -1
      if (slots[2 * i + 1] !== hash) continue
      const k = (entry - 1) * 4
      if (keys[k] === a && keys[k + 1] === b && keys[k + 2] === c && keys[k + 3] === d) return entry - 1
    }
  }

  /** Adds a source that find() did not find; its id, or -1 when the table is full. */
  add(a: number, b: number, c: number, d: number, hash: number): number {
    if (this.freeTop === 0) return -1
    const id = this.free[--this.freeTop]
    const k = id * 4
    this.keys[k] = a
    this.keys[k + 1] = b
    this.keys[k + 2] = c
    this.keys[k + 3] = d
    this.hashes[id] = hash
    this.used[id] = 1
    if (id >= this.highWater) this.highWater = id + 1
    let i = hash & this.mask
    while (this.slots[2 * i] !== 0) i = (i + 1) & this.mask
    this.slots[2 * i] = id + 1
    this.slots[2 * i + 1] = hash
    this.size++
    return id
  }

  remove(id: number): void {
    const { slots, mask } = this
    let i = this.hashes[id] & mask
    while (slots[2 * i] !== id + 1) i = (i + 1) & mask
    // Fill the hole at i from later in the run: an entry may move back to i unless its home
    // slot lies in (i, j], where a lookup would then no longer pass over i to reach it.
    for (let j = (i + 1) & mask; slots[2 * j] !== 0; j = (j + 1) & mask) {
      const home = slots[2 * j + 1] & mask
      const homeAfterHole = i <= j ? i < home && home <= j : i < home || home <= j
      if (homeAfterHole) continue
      slots[2 * i] = slots[2 * j]
      slots[2 * i + 1] = slots[2 * j + 1]
      i = j
    }
    slots[2 * i] = 0
    this.used[id] = 0
    this.free[this.freeTop++] = id
    this.size--
    if (id === this.highWater - 1) while (this.highWater > 0 && !this.used[this.highWater - 1]) this.highWater--
  }
}
