// What /proc says of a benchmark's processes and threads.
import { readFileSync } from 'node:fs'

/** utime + stime of a process, all its threads (or of thread tid alone), in seconds; 0 once it is gone. */
export function cpuSeconds(pid: number, tid?: number): number {
  try {
    const stat = readFileSync(tid ? `/proc/${pid}/task/${tid}/stat` : `/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / 100
  } catch {
    return 0
  }
}

/**
 * Context switches of one thread (voluntary: it slept or yielded; forced: preempted), 0 once it
 * is gone. A thread that hands its CPU over on every empty poll shows here what it pays for it.
 */
export function switches(pid: number, tid = pid): number {
  try {
    const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8')
    return Number(/^voluntary_ctxt_switches:\s*(\d+)/m.exec(status)?.[1] ?? 0) + Number(/^nonvoluntary_ctxt_switches:\s*(\d+)/m.exec(status)?.[1] ?? 0)
  } catch {
    return 0
  }
}
