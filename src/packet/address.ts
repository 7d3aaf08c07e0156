// Text forms of addresses, for configs and messages (not for the data path): dotted-quad
// IPv4, CIDR prefixes, colon-separated MACs. IPv4 addresses are int32 values, a.b.c.d being
// a << 24 | b << 16 | c << 8 | d, as the header readers return them.

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
