// Where the dashboard's numbers come from. Inside `run`, the chain's own manager (the spec
// gives names and gates, the launcher tells of NF exits and restarts); in `top`, a read-only
// observer of the prefix, which knows only what the region holds.
import type { RunningChain } from '../chain/launcher.ts'
import type { Observer, RegionSnapshot } from '../xio/index.ts'
import type { DashboardSource } from './dashboard.tsx'
import type { ExitRecord } from './model.ts'
import { topologyOfChain, topologyOfRegion, type Topology } from './topology.ts'
import { describes, loadChain, type Chain } from '../chain/spec.ts'

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
  // Drawn again after a reload, which changes the running chain.
  let drawn = running.chain
  let topology = topologyOfChain(drawn)
  return {
    topology: () => (running.chain === drawn ? topology : (topology = topologyOfChain((drawn = running.chain)))),
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
  let version = observer.view.chainFileVersion()
  let topology = await observedTopology(observer)
  // A reload records its spec in the region (a new version); the endpoints it adds or removes
  // show only once it is done. Either way the chain is read again, off the refresh, and drawn
  // once read (the refresh after); one read at a time.
  let attached = attachedNames(observer.view.snapshot())
  let reading = false
  const readAgain = (snapshot: RegionSnapshot) => {
    const nowVersion = observer.view.chainFileVersion()
    const nowAttached = attachedNames(snapshot)
    if (reading || (nowVersion === version && nowAttached === attached)) return
    reading = true
    const reloaded = nowVersion !== version
    version = nowVersion
    attached = nowAttached
    observedChain(observer)
      .then((chain) => (topology = redrawn(topology, chain, reloaded, () => observer.view.snapshot())), () => {})
      .finally(() => (reading = false))
  }
  return {
    topology: () => topology,
    read: () => {
      const snapshot = observer.view.snapshot()
      readAgain(snapshot)
      return { snapshot }
    },
    gone: () => (observer.managerAlive() ? null : `the chain on prefix '${prefix}' has stopped`),
  }
}

/**
 * The topology to draw once the spec was read again (`chain`, null if it could not be): the
 * spec's; unread after a reload, the region's. Unread with no reload since (an NF's module
 * broken by an edit while the NF is down, the file moved), the chain is as drawn: an NF that is
 * down shows as down, not as gone, and a group keeps its row.
 */
export function redrawn(drawn: Topology, chain: Chain | null, reloaded: boolean, snapshot: () => RegionSnapshot): Topology {
  if (chain) return topologyOfChain(chain)
  return reloaded || !drawn.fromSpec ? topologyOfRegion(snapshot()) : drawn
}

/** The endpoints attached in a snapshot, as one string to compare. */
function attachedNames(snapshot: RegionSnapshot): string {
  return [...new Set(snapshot.slots.filter((s) => s.state !== 'free').map((s) => s.name))].sort().join(' ')
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
 * The chain an observed region runs, read from the spec file the region records (its last
 * reload's), if it can still be read and describes the chain (spec.ts describes()); else null.
 */
export async function observedChain(observer: Observer): Promise<Chain | null> {
  const file = observer.view.chainFile()
  try {
    const chain = file ? await loadChain(file) : null
    if (chain && describes(chain, observer.view.snapshot())) return chain
  } catch {
    // Moved, edited or unreadable since: the region's own names will do.
  }
  return null
}
