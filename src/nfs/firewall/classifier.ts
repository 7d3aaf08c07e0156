// Finds the first rule a packet matches without testing rules one by one. Each field (proto,
// source, destination, source port, destination port, ingress endpoint) cuts its value space
// into intervals with the same set of candidate rules; a lookup per field gives one bitset of
// rules per field, and the lowest bit set in all six is the first match (the bit-vector
// scheme of Lakshman and Stiliadis, SIGCOMM '98). Identical bitsets are stored once. A
// summary bit per 32-rule word lets the AND skip words where any field has no candidate, so
// a miss over 10,000 rules costs tens of words, not hundreds.
//
// Memory is one bitset (rules / 8 bytes) per distinct interval class: about N² / 8 bytes per
// address field in the worst case (10,000 distinct prefixes: ~12 MB).

/** A rule's constraints as value intervals per field; null means any value. */
export interface RuleFields {
  proto: Array<[number, number]> | null
  src: Array<[number, number]> | null
  dst: Array<[number, number]> | null
  srcPort: Array<[number, number]> | null
  dstPort: Array<[number, number]> | null
  in: Array<[number, number]> | null
}

/** Port value that stands for "this packet has no ports" (not TCP/UDP, or a non-first fragment). */
export const NO_PORT = 65536

interface Field {
  /** Sorted interval starts (flipped to signed order for addresses). */
  starts: Int32Array
  /** Class of each interval. */
  classOf: Int32Array
  bits: Int32Array
  summary: Int32Array
}

export class Classifier {
  readonly rules: number
  private readonly W: number
  private readonly S: number
  private readonly proto: Field
  private readonly src: Field
  private readonly dst: Field
  private readonly srcPort: Field
  private readonly dstPort: Field
  private readonly inPort: Field
  /** Direct tables for the small fields: value -> class. */
  private readonly protoClass: Int32Array
  private readonly srcPortClass: Int32Array
  private readonly dstPortClass: Int32Array
  private readonly inClass: Int32Array

  constructor(rules: readonly RuleFields[], maxEndpointId: number) {
    const n = rules.length
    this.rules = n
    this.W = Math.max(1, Math.ceil(n / 32))
    this.S = Math.ceil(this.W / 32)
    const b = (sel: (r: RuleFields) => Array<[number, number]> | null, top: number, flip: boolean) =>
      buildField(rules.map(sel), top, this.W, this.S, flip)
    this.proto = b(r => r.proto, 255, false)
    this.src = b(r => r.src, 0xffffffff, true)
    this.dst = b(r => r.dst, 0xffffffff, true)
    this.srcPort = b(r => r.srcPort, NO_PORT, false)
    this.dstPort = b(r => r.dstPort, NO_PORT, false)
    this.inPort = b(r => r.in, maxEndpointId + 1, false)
    this.protoClass = direct(this.proto, 255)
    this.srcPortClass = direct(this.srcPort, NO_PORT)
    this.dstPortClass = direct(this.dstPort, NO_PORT)
    this.inClass = direct(this.inPort, maxEndpointId + 1)
  }

  /** Bytes held by the bitsets. */
  get memoryBytes(): number {
    let t = 0
    for (const f of [this.proto, this.src, this.dst, this.srcPort, this.dstPort, this.inPort]) t += f.bits.byteLength + f.summary.byteLength
    return t
  }

  /**
   * Index of the first matching rule, or -1. Addresses are int32; srcPort/dstPort NO_PORT
   * when the packet has none; an inPort outside 0..maxEndpointId matches only rules without `in`.
   */
  classify(proto: number, src: number, dst: number, srcPort: number, dstPort: number, inPort: number): number {
    const W = this.W
    const S = this.S
    const cp = this.protoClass[proto]
    const cs = addressClass(this.src, src)
    const cd = addressClass(this.dst, dst)
    const csp = this.srcPortClass[srcPort]
    const cdp = this.dstPortClass[dstPort]
    const inMax = this.inClass.length - 1
    const ci = this.inClass[inPort >= 0 && inPort < inMax ? inPort : inMax]
    const pb = this.proto.bits, sb = this.src.bits, db = this.dst.bits
    const spb = this.srcPort.bits, dpb = this.dstPort.bits, ib = this.inPort.bits
    const ps = this.proto.summary, ss = this.src.summary, ds = this.dst.summary
    const sps = this.srcPort.summary, dps = this.dstPort.summary, is = this.inPort.summary
    const pw = cp * W, sw = cs * W, dw = cd * W, spw = csp * W, dpw = cdp * W, iw = ci * W
    const pS = cp * S, sS = cs * S, dS = cd * S, spS = csp * S, dpS = cdp * S, iS = ci * S
    for (let s = 0; s < S; s++) {
      let m = ps[pS + s] & ss[sS + s] & ds[dS + s] & sps[spS + s] & dps[dpS + s] & is[iS + s]
      while (m !== 0) {
        const w = (s << 5) + (31 - Math.clz32(m & -m))
        const x = pb[pw + w] & sb[sw + w] & db[dw + w] & spb[spw + w] & dpb[dpw + w] & ib[iw + w]
        if (x !== 0) return (w << 5) + (31 - Math.clz32(x & -x))
        m &= m - 1
      }
    }
    return -1
  }
}

function addressClass(f: Field, a: number): number {
  const starts = f.starts
  const x = a ^ 0x80000000
  let lo = 0
  let hi = starts.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (starts[mid] <= x) lo = mid
    else hi = mid - 1
  }
  return f.classOf[lo]
}

/** value -> class for a field over 0..top. */
function direct(f: Field, top: number): Int32Array {
  const t = new Int32Array(top + 1)
  for (let i = 0; i < f.starts.length; i++) {
    const end = i + 1 < f.starts.length ? f.starts[i + 1] : top + 1
    t.fill(f.classOf[i], f.starts[i], end)
  }
  return t
}

/**
 * Sweeps the value line 0..top once, keeping the set of rules covering the current point,
 * and interns the set of each elementary interval.
 */
function buildField(sets: ReadonlyArray<Array<[number, number]> | null>, top: number, W: number, S: number, flip: boolean): Field {
  const cur = new Int32Array(W)
  const cover = new Int32Array(sets.length)
  const events: Array<[number, number, number]> = [] // position, rule, +1/-1
  sets.forEach((iv, r) => {
    if (iv === null) cur[r >>> 5] |= 1 << (r & 31)
    else for (const [lo, hi] of iv) {
      events.push([lo, r, 1])
      if (hi < top) events.push([hi + 1, r, -1])
    }
  })
  events.sort((a, b) => a[0] - b[0])
  const classes: Int32Array[] = []
  const byHash = new Map<number, number[]>()
  const intern = (): number => {
    let h = 0
    for (let i = 0; i < W; i++) h = (Math.imul(h, 31) + cur[i]) | 0
    const same = byHash.get(h)
    if (same) for (const c of same) if (equal(classes[c], cur)) return c
    classes.push(cur.slice())
    if (same) same.push(classes.length - 1)
    else byHash.set(h, [classes.length - 1])
    return classes.length - 1
  }
  const starts: number[] = []
  const classOf: number[] = []
  let e = 0
  let pos = 0
  for (;;) {
    while (e < events.length && events[e][0] === pos) {
      const [, r, d] = events[e++]
      const before = cover[r]
      cover[r] += d
      if (before === 0 && cover[r] > 0) cur[r >>> 5] |= 1 << (r & 31)
      else if (before > 0 && cover[r] === 0) cur[r >>> 5] &= ~(1 << (r & 31))
    }
    const c = intern()
    if (classOf.length === 0 || classOf[classOf.length - 1] !== c) {
      starts.push(pos)
      classOf.push(c)
    }
    if (e >= events.length) break
    pos = events[e][0]
  }
  const bits = new Int32Array(classes.length * W)
  const summary = new Int32Array(classes.length * S)
  classes.forEach((c, k) => {
    bits.set(c, k * W)
    for (let w = 0; w < W; w++) if (c[w] !== 0) summary[k * S + (w >>> 5)] |= 1 << (w & 31)
  })
  return {
    starts: Int32Array.from(starts, s => (flip ? (s ^ 0x80000000) : s)),
    classOf: Int32Array.from(classOf),
    bits,
    summary,
  }
}

function equal(a: Int32Array, b: Int32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
