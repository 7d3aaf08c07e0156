// Big-endian (network order) field access on a byte view. Plain index arithmetic: V8 compiles
// it to a few loads, with no DataView bounds-check call and no allocation. Callers check that
// the field lies inside the frame; these helpers do not.

export function get16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1]
}

/** A 32-bit field as a signed int32: addresses stay small integers in V8 (no heap number). */
export function get32(b: Uint8Array, o: number): number {
  return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]
}

export function set16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8
  b[o + 1] = v
}

export function set32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24
  b[o + 1] = v >>> 16
  b[o + 2] = v >>> 8
  b[o + 3] = v
}
