// NF state that outlives the process (NFEnv.state): one shared-memory segment per NF instance,
// /dev/shm/xio.<prefix>.state.<endpoint>.<instance> (native/state.h), which the instance's
// restarts (the launcher keeps the instance number) and its re-creation by a reload find as
// it was left. The chain owns the segments: they go when it stops, when a new chain takes its
// prefix over (fresh chain, fresh state) and, after a kill -9 of the chain, with `xio-chain
// clean`; removeStateSegments and cleanStaleStates below are those.
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { asXioError, XioError } from './errors.ts'
import { addon } from './native.ts'
import type { Xio } from './xio.ts'

interface StateAddon {
  openState(prefix: string, endpoint: string, instance: number, bytes: number, tag: string): { buffer: ArrayBuffer; resumed: boolean }
  stateHeld(fileName: string): boolean
}
const native = addon as unknown as StateAddon

export interface OpenedState {
  buffer: ArrayBuffer
  /** The bytes are the last writer's (same tag and size); false: fresh, zeroed. */
  resumed: boolean
}

/** The /dev/shm file name of an instance's state segment. */
export function stateFileName(prefix: string, endpoint: string, instance: number): string {
  return `xio.${prefix}.state.${endpoint}.${instance}`
}

/**
 * The state segment of one instance of an endpoint: `bytes` bytes, as the last writer left
 * them if it asked with the same tag and size, else zeroed. Throws XioError: STATE_BUSY
 * (another live process has it), NO_SPACE, BAD_PREFIX, BAD_STATE, PERMISSION, SYSTEM.
 */
export function openState(prefix: string, endpoint: string, instance: number, bytes: number, tag: string): OpenedState {
  if (!Number.isInteger(bytes) || bytes <= 0) throw new RangeError(`env.state(${bytes}, ...): bytes must be a positive integer`)
  try {
    return native.openState(prefix, endpoint, instance, bytes, tag)
  } catch (e) {
    throw asXioError(e)
  }
}

/** NFEnv.state for an NF attached as xio (as `endpoint`, a placement group's member): its instance's segment. */
export function nfState(xio: Xio, endpoint = xio.name): (bytes: number, layoutTag: string) => ArrayBuffer {
  return (bytes, layoutTag) => {
    const instance = xio.instance
    if (instance === null)
      throw new XioError('MANAGER_STALLED', `the manager of prefix '${xio.prefix}' has not taken endpoint '${xio.name}' on, so it has no instance number to keep state under; is the manager running?`)
    return openState(xio.prefix, endpoint, instance, bytes, layoutTag).buffer
  }
}

const SEGMENT = /^xio\.(.+)\.state\.([A-Za-z][A-Za-z0-9_-]*)\.(\d+)$/

/** What a /dev/shm file name says of a state segment, or null if it names none. */
export function stateSegmentOf(fileName: string): { prefix: string; endpoint: string; instance: number } | null {
  const m = SEGMENT.exec(fileName)
  return m ? { prefix: m[1], endpoint: m[2], instance: Number(m[3]) } : null
}

function segmentFiles(): string[] {
  try {
    return readdirSync('/dev/shm').filter((f) => stateSegmentOf(f) !== null)
  } catch {
    return []
  }
}

/**
 * Removes every state segment of the chain on prefix; returns the files removed. Never throws.
 * For the one who owns the prefix (its launcher): an NF of it still running keeps its mapping
 * (unused from then on), and whatever opens that state next starts afresh.
 */
export function removeStateSegments(prefix: string): string[] {
  const removed: string[] = []
  for (const f of segmentFiles()) {
    if (stateSegmentOf(f)!.prefix !== prefix) continue
    try {
      rmSync(`/dev/shm/${f}`, { force: true })
      removed.push(`/dev/shm/${f}`)
    } catch {
      // Another user's (the prefix was theirs before): `xio-chain clean` as them or root says so.
    }
  }
  return removed
}

/**
 * For `xio-chain clean`: the state segments of chains that are gone (no region left on their
 * prefix, clean having removed the stale ones first) and that no process has open. A running
 * chain's are kept, even while an instance of it is down between two lives.
 */
export function cleanStaleStates(): { removed: string[]; inUse: string[]; failed: { file: string; message: string }[] } {
  const result = { removed: [] as string[], inUse: [] as string[], failed: [] as { file: string; message: string }[] }
  for (const f of segmentFiles()) {
    const file = `/dev/shm/${f}`
    try {
      if (existsSync(`/dev/shm/xio.${stateSegmentOf(f)!.prefix}`) || native.stateHeld(f)) result.inUse.push(file)
      else {
        rmSync(file, { force: true })
        result.removed.push(file)
      }
    } catch (e) {
      result.failed.push({ file, message: (e as Error).message })
    }
  }
  return result
}
