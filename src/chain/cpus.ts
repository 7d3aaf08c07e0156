// Whether the CPUs a chain pins its NFs to are there: checked before any NF process starts (a
// run) and before anything is stopped (a reload), so a CPU this machine lacks is one line naming
// the field, not an NF's crash while it starts, nor a group stopped and never started again.
import { readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { nfCpuList, type Chain, type ChainEndpoint } from './spec.ts'

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

/** The first NF endpoint (of those given) pinned to a CPU that is not online here, as its field and why. */
export function absentCpu(chain: Chain, endpoints: Iterable<ChainEndpoint> = chain.endpoints.values()): { path: string; message: string } | null {
  const online = onlineCpus()
  for (const e of endpoints) {
    if (e.isPort) continue
    const pinned = nfCpuList(chain, e)
    const absent = pinned?.cpu.find((c) => !online.has(c))
    if (absent !== undefined)
      return { path: `/endpoints/${pinned!.givenBy}/cpu`, message: `there is no CPU ${absent} here (online: ${[...online].sort((a, b) => a - b).join(', ')})` }
  }
  return null
}
