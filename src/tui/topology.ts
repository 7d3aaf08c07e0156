// What the dashboard knows of a chain's shape: its endpoints in order and the links between
// them. `run` has the spec (gate names, which endpoints are ports, rule comments); `top` has
// only the region, where gates are numbers and ports look like any other endpoint.
import { processMembers, startsProcess, type Chain } from '../chain/spec.ts'
import type { RegionSnapshot } from '../xio/index.ts'

export interface TopologyEndpoint {
  name: string
  /** NF or port kind, when the spec is known. */
  kind?: string
  /** Whether packets enter and leave the chain here (unknown in `top`). */
  isPort?: boolean
  /** Instances the spec asks for (unknown in `top`). */
  instances?: number
  /** More than one gate: links from it are labelled with their gate. */
  gates: number
  /** Firewall rule comments, by rule index, to name rule hit counters. */
  rules?: string[]
  /** The placement group it runs in (one process per instance for all its members). */
  group?: string
  /** On a group's first member, whose process the group's is: every member, in order. */
  groupMembers?: string[]
}

export interface TopologyLink {
  from: string
  gate: string
  to: string
}

export interface Topology {
  name: string
  endpoints: TopologyEndpoint[]
  links: TopologyLink[]
  /** Whether links can be read as paths (ports known) or only as each endpoint's exits. */
  fromSpec: boolean
}

export function topologyOfChain(chain: Chain): Topology {
  const endpoints = [...chain.endpoints.values()].map((e): TopologyEndpoint => {
    const config = (e.spec as { config?: { rules?: { comment?: string }[] } }).config
    return {
      name: e.name,
      kind: e.kind,
      isPort: e.isPort,
      instances: e.instances,
      gates: e.gates.length,
      rules: e.kind === 'firewall' ? config?.rules?.map((r, i) => r.comment ?? `rule ${i}`) : undefined,
      group: e.group,
      groupMembers: e.group && startsProcess(chain, e) ? processMembers(chain, e) : undefined,
    }
  })
  return { name: chain.name, endpoints, links: chain.links.map((l) => ({ from: l.from, gate: l.gate, to: l.to })), fromSpec: true }
}

export function topologyOfRegion(snapshot: RegionSnapshot): Topology {
  const names = new Map(snapshot.services.map((s) => [s.id, s.name]))
  const links: TopologyLink[] = []
  const endpoints = snapshot.services.map((s): TopologyEndpoint => {
    let gates = 0
    s.routes.forEach((to, gate) => {
      if (to === null) return
      gates++
      links.push({ from: s.name, gate: String(gate), to: names.get(to) ?? `#${to}` })
    })
    return { name: s.name, gates }
  })
  return { name: snapshot.prefix, endpoints, links, fromSpec: false }
}

/** One hop of a drawn line: an endpoint, and the gate it leaves by (when it has several). */
export interface Hop {
  endpoint: string
  isPort?: boolean
  gate?: string
  /** The link it leaves by stays inside its placement group: a call, no ring hop. */
  call?: boolean
}

/**
 * The links as lines a user reads left to right. With the spec, each line follows packets
 * from a link not yet drawn until they leave at a port (lan → fw → nat → wan); from the region
 * alone a port cannot be told from an NF, so each line is one endpoint and where its gates lead.
 */
export function chainLines(t: Topology): Hop[][] {
  const info = new Map(t.endpoints.map((e) => [e.name, e]))
  const gateOf = (l: TopologyLink) => ((info.get(l.from)?.gates ?? 1) > 1 ? l.gate : undefined)
  const group = (name: string) => info.get(name)?.group
  const isCall = (l: TopologyLink) => group(l.from) !== undefined && group(l.from) === group(l.to)
  const lines: Hop[][] = []
  if (!t.fromSpec) {
    for (const e of t.endpoints) {
      const out = t.links.filter((l) => l.from === e.name)
      if (!out.length) continue
      for (const l of out) lines.push([{ endpoint: e.name, gate: gateOf(l) }, { endpoint: l.to }])
    }
    return lines
  }
  const drawn = new Set<TopologyLink>()
  for (const first of t.links) {
    if (drawn.has(first)) continue
    const line: Hop[] = []
    let link: TopologyLink | undefined = first
    const seen = new Set<string>()
    let last = first.to
    while (link && !seen.has(link.from)) {
      drawn.add(link)
      seen.add(link.from)
      line.push({ endpoint: link.from, isPort: info.get(link.from)?.isPort, gate: gateOf(link), call: isCall(link) || undefined })
      const at: string = (last = link.to)
      if (info.get(at)?.isPort) break
      link = t.links.find((l) => l.from === at && !drawn.has(l))
    }
    line.push({ endpoint: last, isPort: info.get(last)?.isPort })
    lines.push(line)
  }
  return lines
}

/** Each placement group as its row is named, 'edge(fw+nat)', in spec order. */
export function groupsOf(t: Topology): string[] {
  return t.endpoints.filter((e) => e.groupMembers).map((e) => groupLabel(e.group!, e.groupMembers!))
}

/** How a placement group's row is named, here and in `run --no-tui`'s lines: 'edge(fw+nat)'. */
export function groupLabel(group: string, members: readonly string[]): string {
  return `${group}(${members.join('+')})`
}
