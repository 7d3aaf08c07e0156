// Names a running chain's region does not hold but its spec does: each endpoint's gate names,
// its placement group and a firewall's rule comments, read from the spec the region records
// (the last reload's), while that spec still describes the chain (spec.ts describes()); else
// none, and gates go by number. For capture's --at and trace's output.
import { describes, loadChain, sendsNothing } from '../chain/spec.ts'
import type { RegionSnapshot } from '../xio/index.ts'

export interface SpecNames {
  /** Each endpoint's gate names. */
  gates: Map<string, readonly string[]>
  /** Each endpoint's rule comments, where its config has rules (a firewall's). */
  rules: Map<string, Array<string | undefined>>
  /** Each grouped endpoint's placement group. */
  groups: Map<string, string>
  /** Ports that send nothing (a sink, a capture only written), and why: only what reaches them can be seen. */
  silent: Map<string, string>
  /** The ports: what is sent to one has left the chain (a trace's packet ends there). */
  ports: Set<string>
}

export async function specNames(snapshot: RegionSnapshot, chainFile: string): Promise<SpecNames> {
  const names: SpecNames = { gates: new Map(), rules: new Map(), groups: new Map(), silent: new Map(), ports: new Set() }
  try {
    const chain = chainFile ? await loadChain(chainFile, { nfConfigs: false }) : null
    if (!chain || !describes(chain, snapshot)) return names
    for (const e of chain.endpoints.values()) {
      names.gates.set(e.name, e.gates)
      if (e.group) names.groups.set(e.name, e.group)
      if (e.isPort) names.ports.add(e.name)
      const silent = sendsNothing(e)
      if (silent) names.silent.set(e.name, silent)
      const rules = (e.spec as { config?: { rules?: unknown } }).config?.rules
      if (Array.isArray(rules)) names.rules.set(e.name, rules.map((r) => (r as { comment?: string })?.comment))
    }
  } catch {
    // Moved or edited since the chain started.
  }
  return names
}
