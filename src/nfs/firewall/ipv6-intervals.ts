// The IPv6 address space cut at the boundaries of the prefixes a field's rules name, so the
// classifier can treat IPv6 addresses as it treats IPv4 ones. Every address falls in one
// elementary interval, and all addresses of an interval are inside exactly the same
// prefixes; a packet's address becomes its interval's index (a binary search over 128-bit
// starts held as four words), and a rule's prefix the range of indices it covers.
// Boundaries are at most two per prefix, so indices stay far below 2^32.

import type { Cidr6 } from '../../packet/address.ts'

/** The first address after the prefix, four int32 words, or null if the prefix runs to the end of the space. */
function after(c: Cidr6): Int32Array | null {
  const w = Array.from(c.words, x => x >>> 0)
  let i = (c.prefix - 1) >> 5
  let add = 2 ** (31 - ((c.prefix - 1) & 31))
  for (; i >= 0; i--) {
    const sum = w[i] + add
    w[i] = sum % 2 ** 32
    if (sum < 2 ** 32) return Int32Array.from(w)
    add = 1
  }
  return null
}

function compare(a: Int32Array, b: Int32Array): number {
  for (let i = 0; i < 4; i++) if (a[i] !== b[i]) return (a[i] >>> 0) < (b[i] >>> 0) ? -1 : 1
  return 0
}

export class Ipv6Intervals {
  /** Number of intervals; indices run 0..count - 1. */
  readonly count: number
  /** Interval starts, ascending, four words each, flipped (x ^ 0x80000000) for signed compares. */
  private readonly starts: Int32Array

  constructor(prefixes: Iterable<Cidr6>) {
    const cuts: Int32Array[] = [new Int32Array(4)]
    for (const c of prefixes) {
      cuts.push(c.words)
      const end = after(c)
      if (end !== null) cuts.push(end)
    }
    cuts.sort(compare)
    const unique = cuts.filter((c, i) => i === 0 || compare(c, cuts[i - 1]) !== 0)
    this.count = unique.length
    this.starts = new Int32Array(unique.length * 4)
    unique.forEach((c, i) => {
      for (let w = 0; w < 4; w++) this.starts[i * 4 + w] = c[w] ^ 0x80000000
    })
  }

  /** The first and last interval a prefix (one the constructor was given) covers. */
  range(c: Cidr6): [number, number] {
    const end = after(c)
    return [this.indexOf(c.words), end === null ? this.count - 1 : this.indexOf(end) - 1]
  }

  /** Index of the interval holding the address `a` (four int32 words, as Headers.src6). */
  indexOf(a: Int32Array): number {
    const s = this.starts
    const a0 = a[0] ^ 0x80000000
    const a1 = a[1] ^ 0x80000000
    const a2 = a[2] ^ 0x80000000
    const a3 = a[3] ^ 0x80000000
    let lo = 0
    let hi = this.count - 1
    // The last start <= a: starts[0] is ::, so there is one.
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      const k = mid << 2
      const s0 = s[k]
      let le: boolean
      if (s0 !== a0) le = s0 < a0
      else if (s[k + 1] !== a1) le = s[k + 1] < a1
      else if (s[k + 2] !== a2) le = s[k + 2] < a2
      else le = s[k + 3] <= a3
      if (le) lo = mid
      else hi = mid - 1
    }
    return lo
  }
}
