// How long an NF takes over a burst, as the dashboard shows it (p50 and p99 since the last
// publication, and the cost per packet): a log-scale histogram in a typed array, so recording
// a burst is a few arithmetic operations and allocates nothing. Buckets split each power of
// two of nanoseconds into 8, so a percentile is within 1/8 (12.5 %) of the true time.
const SUB = 8
const LOG_SUB = 3
const BUCKETS = 40 * SUB  // up to 2^40 ns (18 minutes): nothing a burst takes is longer

/** The figures publishInto adds to an NF's counters: timings, which differ from run to run. */
export const BURST_TIME_KEYS = ['burstP50Ns', 'burstP99Ns', 'nsPerPacket'] as const

/** Whether an NF counter is one of those timings rather than a count. */
export function isBurstTime(key: string): boolean {
  return (BURST_TIME_KEYS as readonly string[]).includes(key)
}

export class BurstTimes {
  private readonly counts = new Uint32Array(BUCKETS)
  private bursts = 0
  private packets = 0
  private totalNs = 0

  /** One burst of `packets` that took `ns`. */
  record(ns: number, packets: number): void {
    this.counts[bucketOf(ns)]++
    this.bursts++
    this.packets += packets
    this.totalNs += ns
  }

  /** The last window's figures, kept while no burst comes so an idle NF still shows them. */
  private readonly last: Record<string, number> = {}

  /**
   * Adds this window's figures to `into` (burstP50Ns, burstP99Ns, nsPerPacket) and starts a new
   * window; without a burst since, the last window's (nothing before the first burst).
   */
  publishInto(into: Record<string, number>): void {
    if (this.bursts > 0) {
      this.last.burstP50Ns = Math.round(this.percentile(0.5))
      this.last.burstP99Ns = Math.round(this.percentile(0.99))
      this.last.nsPerPacket = Math.round(this.totalNs / this.packets)
      this.counts.fill(0)
      this.bursts = this.packets = this.totalNs = 0
    }
    Object.assign(into, this.last)
  }

  /** The upper edge of the bucket holding the q-th burst: never below the true value. */
  percentile(q: number): number {
    const rank = Math.max(1, Math.ceil(q * this.bursts))
    let seen = 0
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.counts[b]
      if (seen >= rank) return upperEdge(b)
    }
    return upperEdge(BUCKETS - 1)
  }
}

/** Bucket b covers [lower(b), upper(b)): below SUB ns one bucket per ns, then 8 per power of two. */
export function bucketOf(ns: number): number {
  const n = ns <= 0 ? 0 : Math.floor(ns)
  if (n < SUB) return n
  // Below 2^32 ns (4.3 s: every burst that matters), integer arithmetic: this runs once a burst,
  // and its log2 and powers showed in NF profiles (ieee754::pow). Same buckets either way.
  if (n < 4294967296) {
    const exponent = 31 - Math.clz32(n)
    return (exponent - LOG_SUB + 1) * SUB + ((n >>> (exponent - LOG_SUB)) - SUB)
  }
  let exponent = Math.floor(Math.log2(n))
  if (2 ** exponent > n) exponent--  // log2 rounded up just below a power of two
  const sub = Math.floor(n / 2 ** (exponent - LOG_SUB)) - SUB
  return Math.min(BUCKETS - 1, (exponent - LOG_SUB + 1) * SUB + sub)
}

export function upperEdge(b: number): number {
  if (b < SUB) return b + 1
  const exponent = Math.floor(b / SUB) - 1 + LOG_SUB
  const sub = b % SUB
  return (SUB + sub + 1) * 2 ** (exponent - LOG_SUB)
}
