// Where the dashboard's numbers come from. Inside `run`, the chain's own manager (the spec
// gives names and gates, the launcher tells of NF exits and restarts); in `top`, a read-only
// observer of the prefix, which knows only what the region holds.
import type { RunningChain } from '../chain/launcher.ts'
import type { Observer } from '../xio/index.ts'
import type { DashboardSource } from './dashboard.tsx'
import type { ExitRecord } from './model.ts'
import { topologyOfChain, topologyOfRegion, type Topology } from './topology.ts'
import { loadChain, type Chain } from '../chain/spec.ts'

interface NfExit {
  endpoint: string
  /** What its process is called: NF 'fw', or placement group 'edge' (fw+nat). */
  name: string
  pid?: number
  code: number | null
  signal: string | null
  restarting: boolean
  /** Why the launcher killed it, if it found it hung. */
  hung?: string
}

export function describeExit(e: NfExit): string {
  if (e.hung) return `${e.name} (pid ${e.pid}) ${e.hung}${e.restarting ? '; restarting it' : ''}`
  return `${e.name} (pid ${e.pid}) exited ${e.signal ?? `with status ${e.code}`}${e.restarting ? '; restarting it' : ''}`
}

export function chainSource(running: RunningChain): DashboardSource & { events: string[]; detach(): void } {
  const exits = new Map<string, ExitRecord>()
  const events: string[] = []
  const onExit = (e: NfExit) => {
    const before = exits.get(e.endpoint)
    exits.set(e.endpoint, { count: (before?.count ?? 0) + 1, restarting: e.restarting })
    events.push(describeExit(e))
  }
  const onNotice = (message: string) => events.push(message)
  running.on('nf-exit', onExit)
  running.on('notice', onNotice)
  return {
    topology: topologyOfChain(running.chain),
    events,
    read: () => ({ snapshot: running.manager.snapshot(), exits, event: events.at(-1) }),
    gone: () => (running.failure ? running.failure.message : null),
    detach: () => {
      running.off('nf-exit', onExit)
      running.off('notice', onNotice)
    },
  }
}

export async function observerSource(observer: Observer): Promise<DashboardSource> {
  const prefix = observer.view.prefix
  return {
    topology: await observedTopology(observer),
    read: () => ({ snapshot: observer.view.snapshot() }),
    gone: () => (observer.managerAlive() ? null : `the chain on prefix '${prefix}' has stopped`),
  }
}

/**
 * What `top` draws: the chain as its spec says (gate names, ports, rule comments); else what
 * the region alone tells.
 */
async function observedTopology(observer: Observer): Promise<Topology> {
  const chain = await observedChain(observer)
  return chain ? topologyOfChain(chain) : topologyOfRegion(observer.view.snapshot())
}

/**
 * The chain an observed region runs, read from the spec file the region records, if it can
 * still be read and names the same endpoints; else null.
 */
export async function observedChain(observer: Observer): Promise<Chain | null> {
  const file = observer.view.chainFile()
  try {
    const chain = file ? await loadChain(file) : null
    const names = new Set(observer.view.snapshot().services.map((s) => s.name))
    if (chain && chain.endpoints.size === names.size && [...chain.endpoints.keys()].every((n) => names.has(n))) return chain
  } catch {
    // Moved, edited or unreadable since: the region's own names will do.
  }
  return null
}
