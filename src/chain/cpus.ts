// Whether the CPUs a chain pins its manager and NFs to are there: checked before the manager or
// any NF process starts (a run) and before anything is stopped (a reload), so a CPU this machine
// lacks is one line naming the field, not an NF's crash while it starts, a manager left unpinned
// without a word, nor a group stopped and never started again. validate warns of them: the
// spec may be meant for another machine.
import { readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { nfCpuList, type Chain } from './spec.ts'

/** The CPUs online here, from sysfs ("0-3,6"); those os.cpus() counts where it cannot be read. */
export function onlineCpus(): Set<number> {
  try {
    const online = new Set<number>()
    for (const range of readFileSync('/sys/devices/system/cpu/online', 'utf8').trim().split(',')) {
      const [low, high = low] = range.split('-').map(Number)
      for (let c = low; c <= high; c++) online.add(c)
    }
    if (online.size) return online
  } catch {
    // not Linux, or no sysfs: fall back
  }
  return new Set(cpus().map((_, i) => i))
}

export interface AbsentCpu {
  path: string
  message: string
}

/** The CPUs the spec pins to that are not online here, each as its field and why: the manager's and the NF endpoints', once each. */
export function absentCpus(chain: Chain): AbsentCpu[] {
  const online = onlineCpus()
  const absent = (cpu: number, path: string) => ({ path, message: `there is no CPU ${cpu} here (online: ${[...online].sort((a, b) => a - b).join(', ')})` })
  const found: AbsentCpu[] = []
  const managerCpu = chain.spec.manager?.cpu
  if (managerCpu !== undefined && !online.has(managerCpu)) found.push(absent(managerCpu, '/manager/cpu'))
  const paths = new Set<string>()
  for (const e of chain.endpoints.values()) {
    if (e.isPort) continue
    const pinned = nfCpuList(chain, e)
    const cpu = pinned?.cpu.find((c) => !online.has(c))
    const path = `/endpoints/${pinned?.givenBy}/cpu`
    if (cpu !== undefined && !paths.has(path)) {
      paths.add(path)
      found.push(absent(cpu, path))
    }
  }
  return found
}

/** The first of absentCpus(), or null. */
export function absentCpu(chain: Chain): AbsentCpu | null {
  return absentCpus(chain)[0] ?? null
}
