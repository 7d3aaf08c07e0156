// The internet checksum (RFC 1071) and its incremental update (RFC 1624): a 16-bit ones'
// complement sum. Rewriting an address or a port changes the checksum by a delta computed
// from the old and new field alone (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')), so a NAT never
// re-reads the payload.

/** Ones' complement sum of big-endian 16-bit words in [o, o + len), unfolded, plus `sum`. */
export function onesSum(b: Uint8Array, o: number, len: number, sum: number): number {
  const end = o + len
  let i = o
  for (; i + 1 < end; i += 2) sum += (b[i] << 8) | b[i + 1]
  if (i < end) sum += b[i] << 8
  return sum
}

/** Folds carries back in until the sum fits 16 bits. */
export function fold16(sum: number): number {
  sum = (sum & 0xffff) + (sum >>> 16)
  sum = (sum & 0xffff) + (sum >>> 16)
  return sum
}

/** The checksum over [o, o + len) with a starting partial sum (e.g. a pseudo-header). */
export function checksumOf(b: Uint8Array, o: number, len: number, sum: number): number {
  return ~fold16(onesSum(b, o, len, sum)) & 0xffff
}

/** Partial sum of the IPv4 pseudo-header TCP and UDP checksums cover (RFC 9293, RFC 768). */
export function pseudoHeaderSum(src: number, dst: number, proto: number, l4Length: number): number {
  return ((src >>> 16) & 0xffff) + (src & 0xffff) + ((dst >>> 16) & 0xffff) + (dst & 0xffff) + proto + l4Length
}

/** RFC 1624 eqn. 3: the checksum after one 16-bit word changes from `from` to `to`. */
export function checksumUpdate16(check: number, from: number, to: number): number {
  let s = (~check & 0xffff) + (~from & 0xffff) + (to & 0xffff)
  s = (s & 0xffff) + (s >>> 16)
  s = (s & 0xffff) + (s >>> 16)
  return ~s & 0xffff
}

/** RFC 1624 for a 32-bit field (an IPv4 address): both halves at once. */
export function checksumUpdate32(check: number, from: number, to: number): number {
  let s = (~check & 0xffff) + ((~from >>> 16) & 0xffff) + (~from & 0xffff) + ((to >>> 16) & 0xffff) + (to & 0xffff)
  s = (s & 0xffff) + (s >>> 16)
  s = (s & 0xffff) + (s >>> 16)
  return ~s & 0xffff
}

/**
 * RFC 1624's ~m + m' for a 16-bit word changing from `from` to `to`, folded to 16 bits: the
 * part of eqn. 3 that depends on the rewrite alone, so a rewrite done for many packets (a NAT
 * session's) sums it once. Deltas add (fold16(d1 + d2)); checksumApply applies one.
 */
export function checksumDelta16(from: number, to: number): number {
  return fold16((~from & 0xffff) + (to & 0xffff))
}

/** checksumDelta16 for a 32-bit field (an IPv4 address): both halves at once. */
export function checksumDelta32(from: number, to: number): number {
  return fold16(((~from >>> 16) & 0xffff) + (~from & 0xffff) + ((to >>> 16) & 0xffff) + (to & 0xffff))
}

/**
 * RFC 1624 eqn. 3 with a precomputed delta: ~(~HC + delta). The same result as applying
 * checksumUpdate16/32 for each changed field in turn: both are ~ of a non-zero ones'
 * complement sum of the same words, and such a sum has one 16-bit form.
 */
export function checksumApply(check: number, delta: number): number {
  let s = (~check & 0xffff) + delta
  s = (s & 0xffff) + (s >>> 16)
  return ~s & 0xffff
}
