// What a reload changes: the difference between the chain that runs and the spec it is given,
// as the steps the launcher takes (RunningChain.reload). Pure: nothing here touches processes.
import { isDeepStrictEqual } from 'node:util'
import { nfLabel, processMembers, startsProcess, type Chain, type ChainEndpoint } from './spec.ts'

export interface RouteChange {
  from: string
  gate: number
  /** null: the gate is no longer wired. */
  to: string | null
}

export interface ReloadPlan {
  /** Endpoints that are new: started, then wired. */
  added: string[]
  /** Endpoints that are gone: unwired, drained, then stopped. */
  removed: string[]
  /**
   * Endpoints whose kind, module or its code, CPUs or port settings changed: stopped as removed
   * ones are, then started again as added ones are. A placement group's members come whole: its process
   * runs them all, and which gate is a call to which member is fixed when it starts, so a
   * change to any member or to the links between them restarts the group (and a change to an
   * NF's link to itself restarts the NF).
   */
  replaced: string[]
  /** Why each replaced endpoint restarts, in a few words: 'its module's code changed'. */
  restartedFor: Map<string, string>
  /** NF endpoints that take a new config live, keeping their process. */
  reconfigured: string[]
  /**
   * NF endpoints (kept, same process) whose gates lead elsewhere now: told so once the new
   * routes are in force, so an NF that keeps where its gates lead (gateTarget) reads it again
   * (NFInstance.rewired; one without it is built again on its config).
   */
  rewired: string[]
  /** NF endpoints whose instance count changed. */
  rescaled: { name: string; from: number; to: number }[]
  /** Every gate whose destination changes, for endpoints in both chains, applied all at once. */
  routes: RouteChange[]
}

/** A change a running chain cannot take: it names the spec field and why. */
export class ReloadRefused extends Error {
  constructor(readonly path: string, message: string) {
    super(`${path}: ${message}`)
    this.name = 'ReloadRefused'
  }
}

/**
 * A placement group is one process for all its members, so who is in which is fixed at start:
 * a group stays as it is, or comes (or goes) whole with endpoints of its own. The refusal says
 * what the new spec would change, at the field that says it where the spec has one.
 */
function refuseGroupChanges(running: Chain, next: Chain): void {
  const fixed = 'placement groups are fixed while the chain runs (one process runs all of a group); stop the chain and run it again to change them'
  const groupOf = (chain: Chain, name: string) => chain.endpoints.get(name)?.group
  const membersOf = (chain: Chain, group: string) => chain.groups.get(group)!.join(', ')
  for (const name of new Set([...running.endpoints.keys(), ...next.endpoints.keys()])) {
    const before = groupOf(running, name), after = groupOf(next, name)
    if (before === after) continue
    const field = `/endpoints/${name}/group`
    if (!running.endpoints.has(name)) {
      // A new endpoint in a new group comes with it; in a running group, it would join it.
      if (running.groups.has(after!)) throw new ReloadRefused(field, `'${name}' would join placement group '${after}' (${membersOf(running, after!)}); ${fixed}`)
    } else if (!next.endpoints.has(name)) {
      if (next.groups.has(before!)) throw new ReloadRefused('/endpoints', `placement group '${before}' would lose its member '${name}', which the spec no longer has; ${fixed}`)
    } else {
      const change = before === undefined ? `would join placement group '${after}'` : after === undefined ? `would leave placement group '${before}'` : `would move from placement group '${before}' to '${after}'`
      throw new ReloadRefused(field, `'${name}' ${change}; ${fixed}`)
    }
  }
  // The same members in another order: the first one names the group's process.
  for (const [group, members] of next.groups) {
    const was = running.groups.get(group)
    if (was && !isDeepStrictEqual(was, members))
      throw new ReloadRefused(`/endpoints/${members[0]}/group`, `placement group '${group}' would run as its member '${members[0]}' first, where it runs as '${was[0]}' (its members in the spec's order); ${fixed}`)
  }
}

/** The steps from `running` to `next`; throws ReloadRefused for what only a restart can change. */
export function planReload(running: Chain, next: Chain): ReloadPlan {
  // The pool and the manager's settings shape the region itself, made once at start.
  for (const field of ['pool', 'manager'] as const)
    if (!isDeepStrictEqual(running.spec[field] ?? {}, next.spec[field] ?? {}))
      throw new ReloadRefused(`/${field}`, `the ${field} settings are fixed while the chain runs; stop it and run it again to change them`)
  refuseGroupChanges(running, next)
  // A spec that keeps none of the running endpoints is another chain, sent to this one's
  // prefix by mistake (a wrong --prefix): applied, it would stop every NF, state and all.
  if (![...next.endpoints.keys()].some((name) => running.endpoints.has(name)))
    throw new ReloadRefused('/endpoints', `none of them is one this chain runs ('${running.name}': ${[...running.endpoints.keys()].join(', ')}): is this the chain you meant? ` +
      'A reload keeps what it can; this one would replace all of it. Stop the chain and run this spec instead')
  const plan: ReloadPlan = { added: [], removed: [], replaced: [], restartedFor: new Map(), reconfigured: [], rewired: [], rescaled: [], routes: [] }
  for (const name of running.endpoints.keys()) if (!next.endpoints.has(name)) plan.removed.push(name)
  for (const [name, e] of next.endpoints) {
    const before = running.endpoints.get(name)
    if (!before) plan.added.push(name)
    else if (!sameProcess(before, e)) {
      plan.replaced.push(name)
      plan.restartedFor.set(name, whyRestarted(before, e))
    } else {
      if (!isDeepStrictEqual(config(before), config(e))) plan.reconfigured.push(name)
      if (before.instances !== e.instances && e.nf?.fixedInstances)
        throw new ReloadRefused(`/endpoints/${name}/instances`, `${e.instances}, but it runs ${before.instances} and ${nfLabel(e)} cannot change that while it runs: ${e.nf.fixedInstances}`)
      if (before.instances !== e.instances) plan.rescaled.push({ name, from: before.instances, to: e.instances })
    }
  }
  const routeOf = (chain: Chain) => new Map(chain.links.map((l) => [`${l.from}\0${l.gateIndex}`, l.to]))
  const before = routeOf(running)
  const after = routeOf(next)
  const kept = (name: string) => running.endpoints.has(name) && next.endpoints.has(name)
  for (const [key, to] of after) {
    const [from, gate] = key.split('\0')
    if (kept(from) && before.get(key) !== to) plan.routes.push({ from, gate: Number(gate), to })
  }
  for (const key of before.keys()) {
    const [from, gate] = key.split('\0')
    if (kept(from) && !after.has(key)) plan.routes.push({ from, gate: Number(gate), to: null })
  }
  // The NFs of one process: a group's members, or an NF alone (a link to itself is a call too).
  const processes = [...next.endpoints.values()].filter((e) => startsProcess(next, e)).map((e) => processMembers(next, e))
  for (const members of processes) {
    if (!members.every(kept)) continue  // a new group starts whole as added endpoints
    const member = (name: string | null | undefined) => name != null && members.includes(name)
    const inner = (r: RouteChange) => member(r.from) && (member(r.to) || member(before.get(`${r.from}\0${r.gate}`)))
    const group = next.endpoints.get(members[0])!.group
    const causes = members.filter((m) => plan.replaced.includes(m))
    if (causes.length) restartWhole(plan, members, `with ${causes.join(', ')}: placement group '${group}' restarts whole`)
    else if (plan.routes.some(inner)) restartWhole(plan, members, group === undefined ? 'its link to itself changed' : `the links between the members of placement group '${group}' changed`)
  }
  plan.rewired = [...new Set(plan.routes.map((r) => r.from))].filter((name) => !next.endpoints.get(name)!.isPort && !plan.replaced.includes(name))
  return plan
}

/**
 * The endpoints of the old path from a rewired gate that the new path skips, in path order:
 * packets still in them would be overtaken by packets sent the new, shorter way after the
 * switch (fw → mid → nat becoming fw → nat: what is still in mid). Empty when nothing can
 * overtake (the gate leads to a longer path, or nowhere).
 */
export function bypassed(running: Chain, next: Chain, change: RouteChange): string[] {
  const before = running.links.find((l) => l.from === change.from && l.gateIndex === change.gate)?.to
  if (!before || change.to === null) return []
  const onNewPath = reachable(next, change.to)
  return [...reachable(running, before)].filter((name) => !onNewPath.has(name))
}

/** Endpoints reachable from `start` over the chain's links, breadth first (start included). */
function reachable(chain: Chain, start: string): Set<string> {
  const seen = new Set([start])
  for (const name of seen) for (const l of chain.links) if (l.from === name) seen.add(l.to)
  return seen
}

/**
 * Makes the NFs of one process (a group's members, or an NF alone) replaced, and nothing else:
 * a restart takes each one's new config and instances. Those not replaced for a reason of their
 * own restart for `why`.
 */
function restartWhole(plan: ReloadPlan, members: string[], why: string): void {
  for (const m of members) {
    if (plan.replaced.includes(m)) continue
    plan.replaced.push(m)
    plan.restartedFor.set(m, why)
  }
  plan.reconfigured = plan.reconfigured.filter((m) => !members.includes(m))
  plan.rescaled = plan.rescaled.filter((r) => !members.includes(r.name))
}

export function planIsEmpty(plan: ReloadPlan): boolean {
  return !plan.added.length && !plan.removed.length && !plan.replaced.length && !plan.reconfigured.length && !plan.rescaled.length && !plan.routes.length
}

/** The plan in a few words a person reads: what starts, stops, changes. */
export function describePlan(plan: ReloadPlan): string[] {
  const lines: string[] = []
  if (plan.added.length) lines.push(`started: ${plan.added.join(', ')}`)
  if (plan.removed.length) lines.push(`drained and stopped: ${plan.removed.join(', ')}`)
  if (plan.replaced.length) {
    // Those restarted for one reason together: 'fw, nat (the links between … changed)'.
    const byReason = new Map<string, string[]>()
    for (const name of plan.replaced) {
      const why = plan.restartedFor.get(name) ?? ''
      byReason.set(why, [...(byReason.get(why) ?? []), name])
    }
    lines.push(`restarted: ${[...byReason].map(([why, names]) => `${names.join(', ')} (${why})`).join('; ')}`)
  }
  if (plan.reconfigured.length) lines.push(`new config, live: ${plan.reconfigured.join(', ')}`)
  for (const r of plan.rescaled) lines.push(`instances of ${r.name}: ${r.from} → ${r.to}`)
  if (plan.routes.length) lines.push(`links rewired: ${plan.routes.length}`)
  return lines.length ? lines : ['nothing to change']
}

const config = (e: ChainEndpoint) => (e.spec as { config?: unknown }).config ?? {}

/** Whether the endpoint keeps its process: the same NF code (module and version) and placement, or the same port. */
function sameProcess(a: ChainEndpoint, b: ChainEndpoint): boolean {
  if (a.kind !== b.kind || a.isPort !== b.isPort || a.moduleFile !== b.moduleFile || a.moduleVersion !== b.moduleVersion) return false
  // A port is rebuilt for any change of its settings; an NF for a change of CPUs only (config
  // and instances change live).
  return a.isPort ? isDeepStrictEqual(a.spec, b.spec) : isDeepStrictEqual(placement(a), placement(b))
}

/** Why an endpoint that keeps its name does not keep its process (sameProcess said it does not). */
function whyRestarted(a: ChainEndpoint, b: ChainEndpoint): string {
  if (a.kind !== b.kind || a.isPort !== b.isPort) return `its kind changed: ${a.kind} → ${b.kind}`
  if (a.moduleFile !== b.moduleFile) return 'its module changed'
  if (a.moduleVersion !== b.moduleVersion) return 'its module\'s code changed'
  if (a.isPort) return 'its port settings changed'
  const was = placement(a), now = placement(b)
  const fields = [...new Set([...Object.keys(was), ...Object.keys(now)])].filter((k) => !isDeepStrictEqual(was[k], now[k]))
  return `its ${fields.join(', ')} changed`
}

/** An NF endpoint's settings but its config and instance count. */
function placement(e: ChainEndpoint): Record<string, unknown> {
  const { config: _config, instances: _instances, ...rest } = e.spec as unknown as Record<string, unknown>
  return rest
}
