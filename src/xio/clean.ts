// What a kill -9 of a chain leaves behind: its region in /dev/shm, whose manager is gone (its
// NF processes leave by themselves once they see that), and its NFs' state segments
// (state.ts). A region a live manager holds, or one still being created, is never touched;
// nor is the state of a chain whose region is still there, or state a live process has open.
import { readdirSync } from 'node:fs'
import { addon } from './native.ts'
import { cleanStaleStates, stateSegmentOf } from './state.ts'

export interface CleanResult {
  /** Files removed. */
  removed: string[]
  /** Regions of running chains, left alone (their NFs' state segments too, uncounted). */
  inUse: string[]
  failed: { file: string; message: string }[]
}

export function cleanStaleRegions(): CleanResult {
  const result: CleanResult = { removed: [], inUse: [], failed: [] }
  for (const name of readdirSync('/dev/shm')) {
    if (!name.startsWith('xio.') || stateSegmentOf(name)) continue
    const file = `/dev/shm/${name}`
    try {
      if (addon.Region.removeIfStale(name.slice('xio.'.length))) result.removed.push(file)
      else result.inUse.push(file)
    } catch (e) {
      result.failed.push({ file, message: (e as Error).message })
    }
  }
  // After the regions: a state segment goes once its chain's region has.
  const states = cleanStaleStates()
  result.removed.push(...states.removed)
  result.failed.push(...states.failed)
  return result
}
