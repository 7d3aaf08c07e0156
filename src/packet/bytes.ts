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

let viewedBytes: Uint8Array | null = null
let view: DataView = new DataView(new ArrayBuffer(0))

/**
 * A DataView over exactly the bytes of b, made once per byte view and then reused, so a data
 * path that always passes the region's one Uint8Array never allocates. DataView loads are one
 * bounds-checked big-endian read each, V8's fastest way to read a multi-byte field.
 */
export function viewOf(b: Uint8Array): DataView {
  if (b !== viewedBytes) {
    viewedBytes = b
    view = new DataView(b.buffer, b.byteOffset, b.byteLength)
  }
  return view
}
