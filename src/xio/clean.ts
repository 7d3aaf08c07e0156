// What a kill -9 of a chain leaves behind: its region in /dev/shm, whose manager is gone (its
// NF processes leave by themselves once they see that). A region a live manager holds, or
// one still being created, is never touched.
import { readdirSync } from 'node:fs'
import { addon } from './native.ts'

export interface CleanResult {
  /** Files removed. */
  removed: string[]
  /** Regions of running chains, left alone. */
  inUse: string[]
  failed: { file: string; message: string }[]
}

export function cleanStaleRegions(): CleanResult {
  const result: CleanResult = { removed: [], inUse: [], failed: [] }
  for (const name of readdirSync('/dev/shm')) {
    if (!name.startsWith('xio.')) continue
    const file = `/dev/shm/${name}`
    try {
      if (addon.Region.removeIfStale(name.slice('xio.'.length))) result.removed.push(file)
      else result.inUse.push(file)
    } catch (e) {
      result.failed.push({ file, message: (e as Error).message })
    }
  }
  return result
}
