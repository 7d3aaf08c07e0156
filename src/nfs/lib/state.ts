// How the built-in NFs keep their tables in env.state (memory that outlives the process), so
// that a NAT or firewall killed with SIGKILL and restarted carries on with every session.
//
// The rule, for NAT sessions (nat/sessions.ts) and conntrack entries (firewall/conntrack.ts)
// alike: the entry table is the truth, and it is the only thing kept in the state. Each entry
// has a valid word, stored last when the entry is made (after every other field) and first
// when it goes; an entry's later updates (its state, its expiry) are single stores, each value
// right on its own. Everything else is derived and kept in the process's own memory: the hash
// indexes, the free lists, NAT mappings and their port pools, the IPv6 address ids' counts.
// A process that opens the state rebuilds them from the valid entries, checking each entry
// against the config and the others as it goes (an entry that contradicts them is dropped),
// and rewrites the derived words an entry carries (its hashes, its checksum deltas).
//
// Why that is sound: SIGKILL stops a process between two instructions, and every store it
// made before then is in the shared pages (they are the file's; nothing dies with the
// process), so the next process finds a prefix of the writer's stores, in the order the
// machine code made them. The valid word is stored with Atomics.store, which V8 never moves
// before the plain stores above it, nor the CPU (x86 keeps stores in order anyway). So a valid
// entry is always a whole one, a half-made entry is invalid (free), and an entry half-removed
// is either still whole or already free. What relates entries is ordered by those same valid
// stores: a NAT port goes back to the pool (in memory) only after the last session using it
// was stored invalid, so no prefix holds two valid sessions of one port but different
// endpoints; an IPv6 address id is reused only after every entry naming it was stored invalid.
// Recovery only ever drops entries and rewrites derived words, so a process killed while
// recovering leaves a state the next recovery reads the same way.
//
// The NAT keeps a little more than its truth there, so that a restart changes nothing it does:
// the order its free lists had (when each record was freed, when each port was given back)
// and where its sweep was. These are hints: any values make a sound table, and recovery reads
// them only to put the free records and ports back in the order they were in, so a NAT that
// resumes hands out the same ports, in the same order, as one that never stopped (tested).
//
// Time: expiries are on the NF's clock (env.now()), which in a new process may start again
// from 0. The state keeps the clock's reading at the last tick; an NF that resumes carries on
// from there if its clock is behind, so no session ever lives longer than its timeout of
// clock time. The time the process was down does not count against idle timeouts.

import type { NFEnv } from '../../xio/nf-types.ts'

/** Where each table of a state goes: offsets in bytes, each aligned for its type. */
export class StateLayout {
  bytes = 0

  private take(size: number, align: number): number {
    const at = Math.ceil(this.bytes / align) * align
    this.bytes = at + size
    return at
  }

  int32(n: number): number {
    return this.take(n * 4, 8)
  }

  float64(n: number): number {
    return this.take(n * 8, 8)
  }

  uint8(n: number): number {
    return this.take(n, 8)
  }
}

/** The NF's state from env.state, or fresh memory where there is none (validate, a bench). */
export function stateMemory(env: NFEnv, bytes: number, tag: string): ArrayBuffer {
  return env.state ? env.state(bytes, tag) : new ArrayBuffer(bytes)
}

/**
 * For crash tests only (test/nfs/state-recovery.test.ts): wraps every view made over a
 * state, to count its stores and stop at one. Null in a chain.
 */
export const stateTesting: { wrap: (<T extends Int32Array | Float64Array | Uint8Array>(view: T) => T) | null } = { wrap: null }

export function int32s(buffer: ArrayBuffer, at: number, n: number): Int32Array {
  const v = new Int32Array(buffer, at, n)
  return stateTesting.wrap ? stateTesting.wrap(v) : v
}

export function float64s(buffer: ArrayBuffer, at: number, n: number): Float64Array {
  const v = new Float64Array(buffer, at, n)
  return stateTesting.wrap ? stateTesting.wrap(v) : v
}

export function uint8s(buffer: ArrayBuffer, at: number, n: number): Uint8Array {
  const v = new Uint8Array(buffer, at, n)
  return stateTesting.wrap ? stateTesting.wrap(v) : v
}

/** Stores an entry's valid word: after every store before it, as the comment above says. */
export function storeValid(a: Int32Array | Uint8Array, i: number, v: number): void {
  if (stateTesting.wrap) a[i] = v
  else Atomics.store(a, i, v)
}
