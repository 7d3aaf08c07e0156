// An NF of one's own: a DNS query logger. It passes every packet on unchanged (one gate, 'out';
// it only observes) and counts the DNS queries it sees, per name, for the dashboard.
//
// What it reads: UDP to or from `port` (53) over IPv4 or IPv6, and TCP on that port when a
// segment's payload starts with whole messages behind their 2-byte length prefix (RFC 1035
// 4.2.2; segments are not reassembled, so a message split across segments is counted as
// `tcpPartial`, never guessed at). Of each message it reads the header (RFC 1035 4.1.1) and,
// for a standard query, the first question: its QNAME (ASCII lowercased, as DNS compares names,
// RFC 4343) and QTYPE. Responses are counted apart and their names ignored. A malformed message
// is counted under its reason (malformed/header, /truncated, /label, /tooLong, /pointer) and,
// like everything else, passed on: a logger reports, a firewall decides.
//
// Per-name counts live in a table of at most `maxNames` names, kept in typed arrays (the names'
// wire bytes in an arena, an open-addressing hash index, a heap by count), so process()
// allocates nothing: strings are made only in counters(), twice a second. When the table is
// full, a new name takes the place of the least-counted one (Space-Saving, Metwally et al.
// 2005), so the names queried most stay listed however many rare ones pass by. A name's count
// is what was counted since it last entered the table: exact unless it was once pushed out.
//
// counters(): queries, responses, malformed and its reasons, other oddities once they happen,
// namesTracked, namesEvicted, qtype/<TYPE>, and the `topNames` names counted most, as
// names/<name> in order of count. The region keeps 128 counters an NF (native/layout.h
// kNfCounters) and shows names of COUNTER_NAME_BYTES whole; this NF keeps its counter names to
// 23 characters so the dashboard's columns stay narrow: a name longer than 17 characters is shown as
// '~' and its last 16 (cdn.assets.example.net as names/~sets.example.net): its right end says
// most of what it is, and names that end alike add up under the one shortened name.
//
// Config (every field optional): maxNames (1024), topNames (20), port (53), qtypes (count the
// names of queries of these types only, e.g. ["A", "AAAA"]), suffix (count names at or under
// this domain only, e.g. "example.com"). Queries left out by qtypes or suffix count as filtered.
//
// Run it: xio-chain replay examples/dns-log/chain.json --json
// (xio-chain run examples/dns-log/chain.json, and the dashboard shows the names as they come.)
import { defineNF, NFConfigError, type Packet } from 'xio-chain'
import { Headers, IPPROTO_TCP, IPPROTO_UDP, PARSE_IPV4, PARSE_IPV6, parse } from 'xio-chain/packet'

interface Config {
  maxNames?: number
  topNames?: number
  port?: number
  qtypes?: Array<string | number>
  suffix?: string
}

const OUT = 0

// ---- Questions -------------------------------------------------------------------------------

/** A name's wire form (RFC 1035 3.1): labels, each behind its length, ending with the root's 0. */
export const MAX_NAME = 255
const MAX_LABEL = 63
const HEADER = 12
const FNV_PRIME = 0x01000193

/** QuestionReader.read() results: OK, or why the question is malformed. */
export const OK = 0
/** The name or the QTYPE and QCLASS after it run past the end of the message. */
export const TRUNCATED = 1
/** A label of the reserved (0b10) or extended (0b01, RFC 6891) types: lengths 64 to 191. */
export const BAD_LABEL = 2
/** More than 255 bytes of name. */
export const TOO_LONG = 3
/** A compression pointer into the header, forward, or back into what it was read from (a loop). */
export const BAD_POINTER = 4

/**
 * Reads a question (its name and QTYPE) into fields of its own, reused for every packet. Every
 * byte is read through a DataView at an offset checked against the message's end first, so
 * whatever the bytes say, it neither throws nor reads past the message.
 */
export class QuestionReader {
  /** The name in wire form, ASCII letters lowercased. */
  readonly name = new Uint8Array(MAX_NAME)
  length = 0
  /** FNV-1a of name[0, length), from the seed: a table keyed by it cannot be flooded by names made to collide. */
  hash = 0
  qtype = 0
  /** Where each label starts in `name` (at most 127 labels fit in 255 bytes), for suffix matching. */
  readonly labelStarts = new Uint8Array(128)
  labels = 0

  constructor(private readonly seed = 0) {}

  /** Reads the question at q of the message at [msg, end) of v; OK, or a malformed reason. */
  read(v: DataView, msg: number, q: number, end: number): number {
    const name = this.name
    let n = 0
    let labels = 0
    let h = this.seed
    let at = q
    // A pointer refers to a prior occurrence of a name (RFC 1035 4.1.4), so each one must land
    // below where the bytes being read began: the targets fall, and a loop cannot happen.
    let floor = q
    let afterName = -1
    for (;;) {
      if (at >= end) return TRUNCATED
      const len = v.getUint8(at)
      if (len === 0) {
        name[n++] = 0
        h = Math.imul(h, FNV_PRIME)
        if (afterName < 0) afterName = at + 1
        break
      }
      if (len > MAX_LABEL) {
        if (len < 0xc0) return BAD_LABEL
        if (at + 1 >= end) return TRUNCATED
        const target = msg + (((len & 0x3f) << 8) | v.getUint8(at + 1))
        if (target < msg + HEADER || target >= floor) return BAD_POINTER
        if (afterName < 0) afterName = at + 2
        floor = at = target
        continue
      }
      if (at + 1 + len > end) return TRUNCATED
      // The label, and at least the root's 0 after it.
      if (n + 1 + len + 1 > MAX_NAME) return TOO_LONG
      this.labelStarts[labels++] = n
      name[n++] = len
      h = Math.imul(h ^ len, FNV_PRIME)
      for (let i = at + 1; i <= at + len; i++) {
        let c = v.getUint8(i)
        if (c >= 0x41 && c <= 0x5a) c |= 0x20
        name[n++] = c
        h = Math.imul(h ^ c, FNV_PRIME)
      }
      at += 1 + len
    }
    if (afterName + 4 > end) return TRUNCATED
    this.qtype = v.getUint16(afterName)
    this.length = n
    this.labels = labels
    this.hash = h
    return OK
  }
}

/** A wire-form name as text: labels joined by dots, '.' and '\' inside a label and unprintable bytes escaped (RFC 4343 2.1). */
export function nameText(b: Uint8Array, at: number): string {
  if (b[at] === 0) return '.'
  let s = ''
  for (let i = at; b[i] !== 0; i += 1 + b[i]) {
    if (i !== at) s += '.'
    for (let k = i + 1; k <= i + b[i]; k++) {
      const c = b[k]
      if (c === 0x2e || c === 0x5c) s += '\\' + String.fromCharCode(c)
      else if (c > 0x20 && c < 0x7f) s += String.fromCharCode(c)
      else s += '\\' + String(c).padStart(3, '0')
    }
  }
  return s
}

/** A name in wire form, from text ("www.example.com", a final dot optional), or null if it is not a name. */
export function nameWire(text: string): Uint8Array | null {
  const labels = text === '.' ? [] : text.replace(/\.$/, '').toLowerCase().split('.')
  const bytes: number[] = []
  for (const label of labels) {
    if (label.length === 0 || label.length > MAX_LABEL || !/^[\x21-\x7e]+$/.test(label)) return null
    bytes.push(label.length, ...Array.from(label, (c) => c.charCodeAt(0)))
  }
  bytes.push(0)
  return bytes.length > MAX_NAME ? null : Uint8Array.from(bytes)
}

// ---- Counting names --------------------------------------------------------------------------

/**
 * Query counts for at most `capacity` names, all in typed arrays sized at construction. A
 * full table gives a new name the place of the least-counted one, which the new name's count
 * then starts from (Space-Saving): a newcomer is not the next to go, and any name queried more
 * than total/capacity times is sure to be held. counted() is what was counted since the name
 * took its place: exact for a name never pushed out, and never more than its true count.
 */
export class NameCounts {
  /** Names held. */
  size = 0
  /** Names pushed out to make room. */
  evictions = 0
  private readonly mask: number
  /** Open addressing, linear probing: an entry index, or -1. At most half full. */
  private readonly buckets: Int32Array
  private readonly hashes: Int32Array
  private readonly lengths: Uint8Array
  /** Entry e's name is names[e * MAX_NAME, + lengths[e]). */
  private readonly names: Uint8Array
  /** Space-Saving's counts, which order the heap: what was counted plus the count inherited. */
  private readonly counts: Float64Array
  private readonly inherited: Float64Array
  /** A min-heap of entries by count: heap[0] is the least counted; heapIndex is each entry's place. */
  private readonly heap: Int32Array
  private readonly heapIndex: Int32Array

  constructor(readonly capacity: number) {
    let buckets = 2
    while (buckets < capacity * 2) buckets *= 2
    this.mask = buckets - 1
    this.buckets = new Int32Array(buckets).fill(-1)
    this.hashes = new Int32Array(capacity)
    this.lengths = new Uint8Array(capacity)
    this.names = new Uint8Array(capacity * MAX_NAME)
    this.counts = new Float64Array(capacity)
    this.inherited = new Float64Array(capacity)
    this.heap = new Int32Array(capacity)
    this.heapIndex = new Int32Array(capacity)
  }

  /** Counts one query of name[0, length), whose hash is `hash`. */
  add(name: Uint8Array, length: number, hash: number): void {
    for (let b = hash & this.mask; ; b = (b + 1) & this.mask) {
      const e = this.buckets[b]
      if (e < 0) break
      if (this.hashes[e] === hash && this.holds(e, name, length)) {
        this.counts[e]++
        this.siftDown(this.heapIndex[e])
        return
      }
    }
    let e: number
    if (this.size < this.capacity) {
      e = this.size++
      this.counts[e] = 1
      this.inherited[e] = 0
      this.heap[e] = e
      this.siftUp(e)
    } else {
      e = this.heap[0]
      this.unlink(e)
      this.evictions++
      this.inherited[e] = this.counts[e]
      this.counts[e]++
      this.siftDown(0)
    }
    const at = e * MAX_NAME
    for (let i = 0; i < length; i++) this.names[at + i] = name[i]
    this.lengths[e] = length
    this.hashes[e] = hash
    let b = hash & this.mask
    while (this.buckets[b] >= 0) b = (b + 1) & this.mask
    this.buckets[b] = e
  }

  /** Queries of entry e's name counted since it took its place. */
  counted(e: number): number {
    return this.counts[e] - this.inherited[e]
  }

  /** Entry e's name as text. */
  text(e: number): string {
    return nameText(this.names, e * MAX_NAME)
  }

  /** The k names counted most, most first (ties by name, so the order is the same every run); allocates. */
  top(k: number): Array<[name: string, count: number]> {
    const all = Array.from({ length: this.size }, (_, e) => [this.text(e), this.counted(e)] as [string, number])
    all.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    return all.slice(0, k)
  }

  private holds(e: number, name: Uint8Array, length: number): boolean {
    if (this.lengths[e] !== length) return false
    const at = e * MAX_NAME
    for (let i = 0; i < length; i++) if (this.names[at + i] !== name[i]) return false
    return true
  }

  /**
   * Takes entry e out of the hash index. Entries after it in its probe run move back into the
   * hole when their home bucket allows, so that no lookup meets an empty bucket before its entry
   * (no tombstones to pile up).
   */
  private unlink(e: number): void {
    const mask = this.mask
    const buckets = this.buckets
    let hole = this.hashes[e] & mask
    while (buckets[hole] !== e) hole = (hole + 1) & mask
    for (let b = (hole + 1) & mask; buckets[b] >= 0; b = (b + 1) & mask) {
      const home = this.hashes[buckets[b]] & mask
      // It may move back to the hole unless its home lies after the hole (cyclically).
      if (((b - home) & mask) >= ((b - hole) & mask)) {
        buckets[hole] = buckets[b]
        hole = b
      }
    }
    buckets[hole] = -1
  }

  private siftUp(i: number): void {
    const { heap, heapIndex, counts } = this
    const e = heap[i]
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = heap[parent]
      if (counts[p] <= counts[e]) break
      heap[i] = p
      heapIndex[p] = i
      i = parent
    }
    heap[i] = e
    heapIndex[e] = i
  }

  private siftDown(i: number): void {
    const { heap, heapIndex, counts, size } = this
    const e = heap[i]
    for (;;) {
      let child = 2 * i + 1
      if (child >= size) break
      if (child + 1 < size && counts[heap[child + 1]] < counts[heap[child]]) child++
      const c = heap[child]
      if (counts[c] >= counts[e]) break
      heap[i] = c
      heapIndex[c] = i
      i = child
    }
    heap[i] = e
    heapIndex[e] = i
  }
}

// ---- Publishing ------------------------------------------------------------------------------

/** The region's room for an NF's counters (native/layout.h kNfCounters), and this NF's names' (at most COUNTER_NAME_BYTES). */
export const REGION_COUNTERS = 128
export const COUNTER_NAME_LENGTH = 23
export const NAME_PREFIX = 'names/'
const NAME_ROOM = COUNTER_NAME_LENGTH - NAME_PREFIX.length

/** 'names/' and the name, or '~' and its right end when it is too long for the region. */
export function counterName(name: string): string {
  return NAME_PREFIX + (name.length <= NAME_ROOM ? name : '~' + name.slice(name.length - NAME_ROOM + 1))
}

/** Query types counted by name (IANA DNS parameters); the rest count as qtype/other. */
const QTYPES: Record<string, number> = {
  A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, NAPTR: 35, DS: 43, DNSKEY: 48,
  SVCB: 64, HTTPS: 65, ANY: 255, CAA: 257,
}
const QTYPE_NAMES = [...Object.keys(QTYPES), 'other']
const MALFORMED = ['header', 'truncated', 'label', 'tooLong', 'pointer'] as const
// Reasons from QuestionReader index MALFORMED; a short header is the first.
const SHORT_HEADER = 0
const ODDITIES = ['noQuestion', 'otherOpcode', 'tcpPartial', 'filtered'] as const
const TOTALS = ['queries', 'responses', 'malformed', 'namesTracked', 'namesEvicted'] as const

/** The most names counters() may publish: what the region holds besides every other counter. */
export const MAX_TOP_NAMES = REGION_COUNTERS - TOTALS.length - MALFORMED.length - ODDITIES.length - QTYPE_NAMES.length

export default defineNF<Config>({
  name: 'dns-log',
  gates: ['out'],
  config: {
    type: 'object',
    additionalProperties: false,
    properties: {
      maxNames: { type: 'integer', minimum: 1, maximum: 65536, default: 1024, description: 'Names counted at once; when full, a new name replaces the least-counted one.' },
      topNames: { type: 'integer', minimum: 0, maximum: MAX_TOP_NAMES, default: 20, description: 'Names published to the dashboard, the most counted first.' },
      port: { type: 'integer', minimum: 1, maximum: 65535, default: 53, description: 'The DNS port, UDP and TCP.' },
      qtypes: {
        type: 'array',
        minItems: 1,
        uniqueItems: true,
        items: { anyOf: [{ enum: Object.keys(QTYPES) }, { type: 'integer', minimum: 0, maximum: 65535 }] },
        description: 'Count the names of queries of these types only (names such as "AAAA", or numbers).',
      },
      suffix: { type: 'string', minLength: 1, maxLength: 254, description: 'Count names at or under this domain only, e.g. "example.com".' },
    },
  },

  create(config) {
    const port = config.port ?? 53
    const topNames = config.topNames ?? 20
    const names = new NameCounts(config.maxNames ?? 1024)
    const suffix = config.suffix === undefined || config.suffix === '.' ? null : nameWire(config.suffix)
    if (config.suffix !== undefined && config.suffix !== '.' && suffix === null)
      throw new NFConfigError('/suffix', `'${config.suffix}' is not a domain name (labels of 1 to 63 printable characters, 255 bytes in all)`)
    // Which query types are counted by name: a byte per type, so the check is one load.
    const wantedType = new Uint8Array(65536).fill(config.qtypes ? 0 : 1)
    config.qtypes?.forEach((t, i) => {
      const type = typeof t === 'number' ? t : QTYPES[t]
      if (!Number.isInteger(type) || type < 0 || type > 65535) throw new NFConfigError(`/qtypes/${i}`, `unknown query type '${t}'`)
      wantedType[type] = 1
    })
    // qtype → its counter in byType (the last one is 'other').
    const typeSlot = new Uint8Array(65536).fill(QTYPE_NAMES.length - 1)
    Object.values(QTYPES).forEach((t, i) => (typeSlot[t] = i))

    const headers = new Headers()
    const question = new QuestionReader((Math.random() * 0x100000000) | 0)
    const malformed = new Float64Array(MALFORMED.length)
    const byType = new Float64Array(QTYPE_NAMES.length)
    let queries = 0
    let responses = 0
    let noQuestion = 0
    let otherOpcode = 0
    let tcpPartial = 0
    let filtered = 0

    /** The name just read ends with `suffix` from a label's start ("badexample.com" is not under "example.com"). */
    function underSuffix(s: Uint8Array): boolean {
      const start = question.length - s.length
      if (start < 0) return false
      for (let i = 0; i < s.length; i++) if (question.name[start + i] !== s[i]) return false
      for (let l = 0; l < question.labels; l++) if (question.labelStarts[l] === start) return true
      return false
    }

    function readMessage(v: DataView, msg: number, end: number): void {
      if (msg + HEADER > end) {
        malformed[SHORT_HEADER]++
        return
      }
      const flags = v.getUint16(msg + 2)
      if (flags & 0x8000) {
        responses++
        return
      }
      if ((flags & 0x7800) !== 0) {
        otherOpcode++
        return
      }
      if (v.getUint16(msg + 4) === 0) {
        noQuestion++
        return
      }
      // Only the first question: in practice a query has just the one (RFC 9619).
      const r = question.read(v, msg, msg + HEADER, end)
      if (r !== OK) {
        malformed[r]++
        return
      }
      queries++
      byType[typeSlot[question.qtype]]++
      if (wantedType[question.qtype] === 0 || (suffix !== null && !underSuffix(suffix))) filtered++
      else names.add(question.name, question.length, question.hash)
    }

    return {
      process(p: Packet): number {
        const s = parse(p.bytes, p.at, p.length, headers)
        const h = headers
        // hasPorts: TCP or UDP with its header in this packet (not a later fragment).
        if ((s !== PARSE_IPV4 && s !== PARSE_IPV6) || !h.hasPorts || (h.dstPort !== port && h.srcPort !== port)) return OUT
        const v = p.view
        if (h.proto === IPPROTO_UDP) {
          // The datagram's own length, unless it is a first fragment and the rest is elsewhere.
          readMessage(v, h.l4 + 8, Math.min(h.l4 + v.getUint16(h.l4 + 4), h.l3End))
        } else if (h.proto === IPPROTO_TCP) {
          const end = h.l3End
          let at = h.l4 + ((v.getUint8(h.l4 + 12) >>> 4) << 2)
          // Messages behind their length, one after another (RFC 7766 allows pipelining).
          while (at + 2 <= end) {
            const msgEnd = at + 2 + v.getUint16(at)
            if (msgEnd > end) {
              tcpPartial++
              break
            }
            readMessage(v, at + 2, msgEnd)
            at = msgEnd
          }
          // One byte left after whole messages: half of the next one's length.
          if (at < end && at + 2 > end) tcpPartial++
        }
        return OUT
      },

      counters() {
        const c: Record<string, number> = { queries, responses, malformed: malformed.reduce((a, b) => a + b, 0) }
        MALFORMED.forEach((reason, i) => malformed[i] && (c[`malformed/${reason}`] = malformed[i]))
        const oddities = { noQuestion, otherOpcode, tcpPartial, filtered }
        for (const name of ODDITIES) if (oddities[name]) c[name] = oddities[name]
        c.namesTracked = names.size
        c.namesEvicted = names.evictions
        QTYPE_NAMES.forEach((type, i) => byType[i] && (c[`qtype/${type}`] = byType[i]))
        // Names shortened alike add up; the sums are then put back in order.
        const shown = new Map<string, number>()
        for (const [name, count] of names.top(topNames)) shown.set(counterName(name), (shown.get(counterName(name)) ?? 0) + count)
        for (const [key, count] of [...shown].sort((a, b) => b[1] - a[1])) c[key] = count
        return c
      },
    }
  },
})
