// Small int ids for IPv6 addresses, so a table keyed by four int32 words (FlowIndex) can key
// IPv6 flows exactly: a flow's two addresses become two ids. Ids are counted by reference,
// one per table entry that names the address, and freed with the last; the map is exact (the
// address itself is the key), so two addresses never share an id. Preallocated typed arrays:
// find, acquire and release allocate nothing.
//
// The addresses (`words`) may live in an NF's state (conntrack's), since its entries name
// addresses by id; the rest is rebuilt from the ids the entries name (adopt). An id goes back
// to the free list only after its last entry was stored invalid, so its address words never
// change under a valid entry (../lib/state.ts).

import { hash4 } from '../../packet/flow.ts'
import { FlowIndex } from './flow-index.ts'

export class AddressIds {
  private readonly index: FlowIndex
  private readonly words: Int32Array
  private readonly hash: Int32Array
  private readonly refs: Int32Array
  private readonly free: Int32Array
  private freeTop: number

  /** `words`: where the addresses go, capacity * 4 int32s (default: memory of its own). */
  constructor(readonly capacity: number, words: Int32Array = new Int32Array(capacity * 4)) {
    this.index = new FlowIndex(capacity)
    this.words = words
    this.hash = new Int32Array(capacity)
    this.refs = new Int32Array(capacity)
    this.free = new Int32Array(capacity)
    for (let i = 0; i < capacity; i++) this.free[i] = capacity - 1 - i
    this.freeTop = capacity
  }

  /** Addresses holding an id. */
  get size(): number {
    return this.index.size
  }

  /** The address's id, or -1 if no entry names it. */
  find(a: Int32Array): number {
    return this.index.find(a[0], a[1], a[2], a[3], hash4(a[0], a[1], a[2], a[3]))
  }

  /** The address's id with one more reference, a new id if it had none; -1 if all ids are taken. */
  acquire(a: Int32Array): number {
    const hash = hash4(a[0], a[1], a[2], a[3])
    let id = this.index.find(a[0], a[1], a[2], a[3], hash)
    if (id < 0) {
      if (this.freeTop === 0) return -1
      id = this.free[--this.freeTop]
      this.index.insert(a[0], a[1], a[2], a[3], hash, id)
      this.words.set(a, id * 4)
      this.hash[id] = hash
      this.refs[id] = 0
    }
    this.refs[id]++
    return id
  }

  /** Drops one reference; the id is free again after its last. */
  release(id: number): void {
    if (--this.refs[id] > 0) return
    const w = this.words
    const k = id * 4
    this.index.remove(w[k], w[k + 1], w[k + 2], w[k + 3], this.hash[id])
    this.free[this.freeTop++] = id
  }

  /**
   * Takes id, whose address is in `words` already, as named by one more entry (a table resuming
   * its entries, before any acquire); false if the id is out of range or its address has another
   * id already. Then freeUnadopted().
   */
  adopt(id: number): boolean {
    if (!(id >= 0 && id < this.capacity)) return false
    if (this.refs[id] > 0) {
      this.refs[id]++
      return true
    }
    const w = this.words
    const k = id * 4
    const hash = hash4(w[k], w[k + 1], w[k + 2], w[k + 3])
    if (this.index.find(w[k], w[k + 1], w[k + 2], w[k + 3], hash) >= 0) return false
    this.index.insert(w[k], w[k + 1], w[k + 2], w[k + 3], hash, id)
    this.hash[id] = hash
    this.refs[id] = 1
    return true
  }

  /** After adopting: every id no entry named is free. */
  freeUnadopted(): void {
    this.freeTop = 0
    for (let id = this.capacity - 1; id >= 0; id--) if (this.refs[id] === 0) this.free[this.freeTop++] = id
  }
}
