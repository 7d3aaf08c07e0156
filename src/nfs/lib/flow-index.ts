// An open-addressing hash index from a flow key (four int32 words) to an int32 entry id,
// preallocated as one Int32Array, for per-packet lookups that allocate nothing. Linear
// probing keeps a probe within a cache line or two; deletion shifts later entries back
// (Knuth's algorithm R) so there are no tombstones to pile up as flows come and go.

const STRIDE = 8 // a, b, c, d, id, hash, (pad): 32 bytes, two slots per cache line
const EMPTY = -1

export class FlowIndex {
  readonly maxEntries: number
  size = 0
  private readonly mask: number
  private readonly slots: Int32Array

  constructor(maxEntries: number) {
    this.maxEntries = maxEntries
    let cap = 16
    while (cap < maxEntries * 2) cap *= 2 // load factor at most 1/2
    this.mask = cap - 1
    this.slots = new Int32Array(cap * STRIDE)
    for (let i = 0; i < cap; i++) this.slots[i * STRIDE + 4] = EMPTY
  }

  /** The id stored for the key, or -1. `hash` is hash4(a, b, c, d) (see packet/flow.ts). */
  find(a: number, b: number, c: number, d: number, hash: number): number {
    const s = this.slots
    const mask = this.mask
    let i = hash & mask
    for (;;) {
      const o = i * STRIDE
      const id = s[o + 4]
      if (id === EMPTY) return -1
      if (s[o] === a && s[o + 1] === b && s[o + 2] === c && s[o + 3] === d) return id
      i = (i + 1) & mask
    }
  }

  /** Adds a key that is not present; false if the index already holds maxEntries. */
  insert(a: number, b: number, c: number, d: number, hash: number, id: number): boolean {
    if (this.size >= this.maxEntries) return false
    const s = this.slots
    let i = hash & this.mask
    while (s[i * STRIDE + 4] !== EMPTY) i = (i + 1) & this.mask
    const o = i * STRIDE
    s[o] = a
    s[o + 1] = b
    s[o + 2] = c
    s[o + 3] = d
    s[o + 4] = id
    s[o + 5] = hash
    this.size++
    return true
  }

  /** Removes the key; false if it was not there. */
  remove(a: number, b: number, c: number, d: number, hash: number): boolean {
    const s = this.slots
    const mask = this.mask
    let i = hash & mask
    for (;;) {
      const o = i * STRIDE
      if (s[o + 4] === EMPTY) return false
      if (s[o] === a && s[o + 1] === b && s[o + 2] === c && s[o + 3] === d) break
      i = (i + 1) & mask
    }
    // Shift back every later entry of the run whose home slot is not in (i, j].
    let j = i
    for (;;) {
      j = (j + 1) & mask
      const oj = j * STRIDE
      if (s[oj + 4] === EMPTY) break
      const home = s[oj + 5] & mask
      const stays = i <= j ? i < home && home <= j : i < home || home <= j
      if (stays) continue
      s.copyWithin(i * STRIDE, oj, oj + STRIDE)
      i = j
    }
    s[i * STRIDE + 4] = EMPTY
    this.size--
    return true
  }

  clear(): void {
    for (let i = 0; i <= this.mask; i++) this.slots[i * STRIDE + 4] = EMPTY
    this.size = 0
  }
}
