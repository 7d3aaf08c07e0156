// Text forms of addresses, for configs and messages (not for the data path): dotted-quad
// IPv4, RFC 4291 IPv6, CIDR prefixes of both, colon-separated MACs. IPv4 addresses are int32
// values, a.b.c.d being a << 24 | b << 16 | c << 8 | d, as the header readers return them;
// IPv6 addresses are four such big-endian words, as Headers.src6 and dst6 hold them.

/** a.b.c.d (decimal, no leading zeros, as inet_pton) to an int32, or null. */
export function parseIpv4(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s)
  if (!m) return null
  let a = 0
  for (let i = 1; i <= 4; i++) {
    const part = m[i]
    if (part.length > 1 && part[0] === '0') return null
    const v = Number(part)
    if (v > 255) return null
    a = (a << 8) | v
  }
  return a
}

export function formatIpv4(a: number): string {
  return `${(a >>> 24) & 255}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`
}

export interface Cidr {
  /** Network address, host bits cleared. */
  addr: number
  prefix: number
}

/** Netmask for a prefix length, as an int32 (prefix 0 gives 0). */
export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (-1 << (32 - prefix))
}

/**
 * "a.b.c.d/n" or a bare address (/32); null if not a prefix. Host bits set below the prefix
 * are refused rather than masked off: "10.0.0.5/8" is more often a typo than a wish.
 */
export function parseCidr(s: string): Cidr | null {
  const slash = s.indexOf('/')
  const addr = parseIpv4(slash < 0 ? s : s.slice(0, slash))
  if (addr === null) return null
  if (slash < 0) return { addr, prefix: 32 }
  const p = s.slice(slash + 1)
  if (!/^\d{1,2}$/.test(p) || Number(p) > 32) return null
  const prefix = Number(p)
  if ((addr & ~prefixMask(prefix)) !== 0) return null
  return { addr, prefix }
}

export function cidrContains(c: Cidr, a: number): boolean {
  const m = prefixMask(c.prefix)
  return (a & m) === (c.addr & m)
}

/**
 * RFC 4291 2.2 text to four int32 words, or null: eight groups of 1-4 hex digits, one "::"
 * standing for one or more zero groups, and optionally a dotted-quad IPv4 address as the last
 * 32 bits ("::ffff:192.0.2.1"). No zone ("%eth0"), as inet_pton.
 */
export function parseIpv6(s: string): Int32Array | null {
  const halves = s.split('::')
  if (halves.length > 2) return null
  const groups: number[] = []
  const read = (part: string, last: boolean): number[] | null => {
    if (part === '') return []
    const out: number[] = []
    const pieces = part.split(':')
    for (let i = 0; i < pieces.length; i++) {
      const x = pieces[i]
      if (last && i === pieces.length - 1 && x.includes('.')) {
        const v4 = parseIpv4(x)
        if (v4 === null) return null
        out.push(v4 >>> 16, v4 & 0xffff)
      } else if (/^[0-9a-f]{1,4}$/i.test(x)) out.push(parseInt(x, 16))
      else return null
    }
    return out
  }
  const head = read(halves[0], halves.length === 1)
  const tail = halves.length === 2 ? read(halves[1], true) : []
  if (head === null || tail === null) return null
  if (halves.length === 1 ? head.length !== 8 : head.length + tail.length > 7) return null
  groups.push(...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail)
  const w = new Int32Array(4)
  for (let i = 0; i < 4; i++) w[i] = (groups[2 * i] << 16) | groups[2 * i + 1]
  return w
}

/** RFC 5952 text: lower-case hex, no leading zeros, the longest run of two or more zero groups as "::". */
export function formatIpv6(w: ArrayLike<number>): string {
  const g: number[] = []
  for (let i = 0; i < 4; i++) g.push((w[i] >>> 16) & 0xffff, w[i] & 0xffff)
  let best = -1, bestLen = 1
  for (let i = 0; i < 8;) {
    let j = i
    while (j < 8 && g[j] === 0) j++
    if (j - i > bestLen) {
      best = i
      bestLen = j - i
    }
    i = j === i ? i + 1 : j
  }
  const hex = (a: number[]) => a.map(x => x.toString(16)).join(':')
  return best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`
}

export interface Cidr6 {
  /** Network address, four int32 words, host bits cleared. */
  words: Int32Array
  prefix: number
}

/** The mask of a prefix's bits within word i (0-3) of an IPv6 address, as an int32. */
export function prefixMask6(prefix: number, i: number): number {
  const bits = prefix - 32 * i
  return bits <= 0 ? 0 : bits >= 32 ? -1 : prefixMask(bits)
}

/** "2001:db8::/32" or a bare address (/128); null if not a prefix, or if host bits are set (as parseCidr). */
export function parseCidr6(s: string): Cidr6 | null {
  const slash = s.indexOf('/')
  const words = parseIpv6(slash < 0 ? s : s.slice(0, slash))
  if (words === null) return null
  if (slash < 0) return { words, prefix: 128 }
  const p = s.slice(slash + 1)
  if (!/^(12[0-8]|1[01]\d|[1-9]?\d)$/.test(p)) return null
  const prefix = Number(p)
  for (let i = 0; i < 4; i++) if ((words[i] & ~prefixMask6(prefix, i)) !== 0) return null
  return { words, prefix }
}

export function cidr6Contains(c: Cidr6, a: ArrayLike<number>): boolean {
  for (let i = 0; i < 4; i++) {
    const m = prefixMask6(c.prefix, i)
    if ((a[i] & m) !== (c.words[i] & m)) return false
  }
  return true
}

/** "aa:bb:cc:dd:ee:ff" (or with dashes) to 6 bytes, or null. */
export function parseMac(s: string): Uint8Array | null {
  const m = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(s)
  if (!m) return null
  const mac = new Uint8Array(6)
  for (let i = 0; i < 6; i++) mac[i] = parseInt(m[i + 1], 16)
  return mac
}

export function formatMac(b: Uint8Array, o = 0): string {
  const parts: string[] = []
  for (let i = 0; i < 6; i++) parts.push(b[o + i].toString(16).padStart(2, '0'))
  return parts.join(':')
}
