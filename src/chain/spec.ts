// Loading a chain spec: JSON Schema validation (the chain schema, composed from the spec's own
// part and each NF's config schema: schema.ts), then the checks a schema cannot express: links to endpoints and gates that exist,
// endpoints that packets can reach, and no cycle that packets can never leave.
import { readFileSync } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'
import type { ValidateFunction } from 'ajv'
import type { ChainSpec, Endpoint, ModuleEndpoint } from './spec-types.ts'
import { isPortKind, nfs, PORT_GATES } from './registry.ts'
import { NFConfigError, type NFEnv, type NFModule } from '../xio/nf-types.ts'
import type { RegionSnapshot } from '../xio/region-view.ts'
import { importNfModule, ModuleProblem, resolveNfModule, whereIn } from './nf-modules.ts'
import { moduleVersion } from './module-version.ts'
import { fileProblem } from './pcap.ts'
import { chainSchema } from './schema.ts'
import { compileSchema, configValidator, schemaProblems, type Problem } from './schema-check.ts'
import { didYouMean } from './suggest.ts'

export type { Problem } from './schema-check.ts'


/** Region slots (layout.maxSlots, 64) less the spare ones restarts and observers may need. */
export const MAX_ENDPOINT_PROCESSES = 56

export class SpecError extends Error {
  constructor(readonly file: string, readonly problems: Problem[]) {
    super(problems.map((p) => `${file}: ${p.path || '/'}: ${p.message}`).join('\n'))
    this.name = 'SpecError'
  }
}

export interface ChainEndpoint {
  name: string
  kind: Endpoint['kind']
  isPort: boolean
  gates: readonly string[]
  instances: number
  spec: Endpoint
  /** The NF an NF endpoint runs: a built-in, or the module a "nf" endpoint names. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  nf?: NFModule<any>
  /** The file of the module a "nf" endpoint names, resolved from the spec's folder. */
  moduleFile?: string
  /** Which version of that module's code it is (module-version.ts): a reload restarts an NF whose code changed. */
  moduleVersion?: string
  /** The placement group it runs in, if any (its members share one process per instance). */
  group?: string
}

/** An NF module a spec names, imported, and the file it came from. */
export interface LoadedModule {
  nf: NFModule<unknown>
  file: string
  version: string
}

export interface ChainLink {
  from: string
  gate: string
  gateIndex: number
  to: string
}

export interface Chain {
  file: string
  /** Directory relative paths in the spec are resolved against. */
  dir: string
  name: string
  prefix: string
  spec: ChainSpec
  endpoints: Map<string, ChainEndpoint>
  links: ChainLink[]
  /** Placement groups: each group's members, in the spec's order (the first names the process). */
  groups: Map<string, string[]>
  /** What the NFs said of their configs that is allowed but likely not meant. */
  warnings: Problem[]
}

let validator: ValidateFunction | undefined
function validate(): ValidateFunction {
  validator ??= compileSchema(chainSchema(nfs))
  return validator
}

/** Each NF module's config validator, compiled once. */
function moduleValidator(schema: Record<string, unknown>, file: string, name: string): ValidateFunction {
  try {
    return configValidator(schema)
  } catch (e) {
    throw new SpecError(file, [{ path: `/endpoints/${name}/module`, message: `its config schema is not a valid JSON Schema: ${(e as Error).message}` }])
  }
}

/**
 * Reads, checks and resolves a chain spec, importing the NF modules it names (so it is
 * async); throws SpecError with every problem found.
 */
export async function loadChain(file: string, options: CheckOptions = {}): Promise<Chain> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new SpecError(file, [{ path: '', message: `cannot read the spec: ${fileProblem(e)}` }])
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    throw new SpecError(file, [{ path: '', message: `not valid JSON: ${atLine(text, (e as Error).message)}` }])
  }
  return checkChain(file, json, { ...options, modules: await loadModules(file, json) })
}

/** JSON.parse's "… in JSON at position 51" as an editor finds it: "… at line 5, column 3". */
function atLine(text: string, message: string): string {
  return message.replace(/ in JSON at position (\d+).*$/s, (_, at: string) => {
    const before = text.slice(0, Number(at)).split('\n')
    return ` at line ${before.length}, column ${before.at(-1)!.length + 1}`
  })
}

/**
 * The chain checked again as loadChain checks it, its NF modules imported anew: what the code on
 * disk now makes of the spec it runs. Throws SpecError as loadChain does.
 */
export async function recheckChain(chain: Chain): Promise<Chain> {
  return checkChain(chain.file, chain.spec, { modules: await loadModules(chain.file, chain.spec) })
}

/** The modules of the spec's "nf" endpoints, by endpoint name (none if the spec is invalid: checkChain says why). */
async function loadModules(file: string, json: unknown): Promise<Map<string, LoadedModule>> {
  const modules = new Map<string, LoadedModule>()
  if (!validate()(json)) return modules
  const problems: Problem[] = []
  for (const [name, e] of Object.entries((json as ChainSpec).endpoints)) {
    if (e.kind !== 'nf') continue
    try {
      const moduleFile = resolveNfModule(dirname(resolve(file)), (e as ModuleEndpoint).module)
      const version = await moduleVersion(moduleFile)
      modules.set(name, { nf: await importNfModule(moduleFile, version), file: moduleFile, version })
    } catch (err) {
      if (!(err instanceof ModuleProblem)) throw err
      problems.push({ path: `/endpoints/${name}/module`, message: err.message })
    }
  }
  if (problems.length) throw new SpecError(file, problems)
  return modules
}

/**
 * Each NF's config as the NF itself reads it at start (what a schema cannot say: a range
 * written backwards, a port forward inside another's range...), so validate refuses what run
 * would. Endpoint ids are the launcher's: the order endpoints are declared in.
 */
function nfConfigProblems(endpoints: Map<string, ChainEndpoint>, links: ChainLink[], warnings: Problem[]): Problem[] {
  const ids = [...endpoints.keys()]
  const problems: Problem[] = []
  for (const e of endpoints.values()) {
    const nf = e.nf
    if (e.isPort || !nf) continue
    const env: NFEnv = {
      endpointId: (name) => ids.indexOf(name),
      gateTarget: (gate) => {
        const link = links.find((l) => l.from === e.name && l.gate === gate)
        return link ? ids.indexOf(link.to) : -1
      },
      now: () => 0,
      warn: (path, message) => warnings.push({ path: `/endpoints/${e.name}/config${path}`, message }),
      // As its first instance: what a config cannot be with that many instances is refused now.
      placement: { instance: 0, instances: e.instances },
    }
    try {
      const instance = nf.create((e.spec as { config?: unknown }).config ?? {}, env) as { process?: unknown } | undefined
      // Every packet would fail on it: refused now, as run would refuse it only packet by packet.
      if (typeof instance?.process !== 'function')
        problems.push({ path: `/endpoints/${e.name}`, message: `${nfLabel(e)}: create() returned ${instance === null || typeof instance !== 'object' ? String(instance) : `an object without process() (it has ${Object.keys(instance).join(', ') || 'nothing'})`}; it returns the NF instance, { process(packet) { … } }` })
    } catch (err) {
      if (err instanceof NFConfigError) problems.push({ path: `/endpoints/${e.name}/config${err.path}`, message: err.message.slice(err.path.length + 2) })
      else problems.push({ path: `/endpoints/${e.name}`, message: `${nfLabel(e)}: create() threw ${String(err instanceof Error ? `${err.name}: ${err.message}` : err)}${whereIn(err, e.moduleFile)}` })
    }
  }
  return problems
}

/** What messages call an endpoint's NF: the module it names, or the built-in's kind. */
export function nfLabel(e: ChainEndpoint): string {
  return e.kind === 'nf' ? `module ${(e.spec as ModuleEndpoint).module}` : `${e.kind}`
}

export interface CheckOptions {
  /** Also build each NF from its config, as run will (default true); false checks the schema and wiring only. */
  nfConfigs?: boolean
  /** The NF modules of "nf" endpoints, by endpoint name (loadChain imports them). */
  modules?: Map<string, LoadedModule>
}

/**
 * An endpoint without a kind is checked against no kind's schema, so a field misspelt for it
 * ("knid", "type") is not named by the schema's errors: the missing kind says what it has.
 */
function sayingWhatKindlessHave(json: unknown, problems: Problem[]): Problem[] {
  const endpoints = (json as { endpoints?: Record<string, unknown> } | null)?.endpoints ?? {}
  return problems.map((p) => {
    const name = /^\/endpoints\/([^/]+)\/kind$/.exec(p.path)?.[1]
    const fields = name !== undefined && typeof endpoints[name] === 'object' && endpoints[name] !== null ? Object.keys(endpoints[name] as object) : []
    return fields.length && p.message === 'is required' ? { ...p, message: `is required (it has ${fields.map((f) => `'${f}'`).join(', ')})` } : p
  })
}

/** Validates parsed JSON as a chain and resolves it; throws SpecError with every problem found. */
export function checkChain(file: string, json: unknown, options: CheckOptions = {}): Chain {
  const v = validate()
  if (!v(json)) throw new SpecError(file, sayingWhatKindlessHave(json, schemaProblems(v.errors ?? [])))
  const spec = json as ChainSpec
  const problems: Problem[] = []
  const endpoints = new Map<string, ChainEndpoint>()
  for (const [name, e] of Object.entries(spec.endpoints)) {
    const isPort = isPortKind(e.kind)
    const loaded = e.kind === 'nf' ? options.modules?.get(name) : undefined
    const nf = isPort ? undefined : e.kind === 'nf' ? loaded?.nf : nfs[e.kind]
    if (!isPort && !nf) problems.push({ path: `/endpoints/${name}/module`, message: 'not loaded (a spec with NF modules is read with loadChain)' })
    const instances = isPort ? 1 : ((e as { instances?: number }).instances ?? 1)
    const group = isPort ? undefined : (e as { group?: string }).group
    endpoints.set(name, { name, kind: e.kind, isPort, gates: isPort ? PORT_GATES : (nf?.gates ?? []), instances, spec: e, nf, moduleFile: loaded?.file, moduleVersion: loaded?.version, group })
    if (instances > 1 && nf?.singleInstance)
      problems.push({ path: `/endpoints/${name}/instances`, message: `${instances}, but ${nfLabel(endpoints.get(name)!)} runs as one instance: ${nf.singleInstance}` })
    // A built-in's config is checked by the chain schema itself; a module's by its own.
    if (e.kind === 'nf' && nf?.config) {
      const v = moduleValidator(nf.config, file, name)
      if (!v(e.config ?? {})) problems.push(...schemaProblems(v.errors ?? []).map((p) => ({ path: `/endpoints/${name}/config${p.path}`, message: p.message })))
    }
  }
  const links: ChainLink[] = []
  const wired = new Map<string, number>()
  const linkWarnings: Problem[] = []
  spec.links.forEach((text, i) => {
    const path = `/links/${i}`
    const [left, to] = text.split('->').map((s) => s.trim())
    const [from, gateName] = left.split('.')
    const source = endpoints.get(from)
    const missing = (name: string) => `no endpoint named '${name}'${didYouMean(name, endpoints.keys())} (have: ${[...endpoints.keys()].join(', ')})`
    if (!source) return problems.push({ path, message: missing(from) })
    if (!endpoints.has(to)) return problems.push({ path, message: missing(to) })
    const gate = gateName ?? source.gates[0]
    const gateIndex = source.gates.indexOf(gate)
    if (gateIndex < 0)
      return problems.push({ path, message: `${source.kind} '${from}' has no gate '${gate}'${didYouMean(gate, source.gates)} (its gates: ${source.gates.join(', ')})` })
    const key = `${from}.${gate}`
    if (wired.has(key)) return problems.push({ path, message: `gate ${key} is already linked by /links/${wired.get(key)}: a gate leads to one endpoint` })
    wired.set(key, i)
    // Harmless, but likely not what was meant (a pcap port's return link copied to a sink).
    const silent = sendsNothing(source)
    if (silent) linkWarnings.push({ path, message: `'${from}' sends nothing (${silent}): this link never carries a packet` })
    links.push({ from, gate, gateIndex, to })
  })
  const slots = [...endpoints.values()].reduce((n, e) => n + e.instances, 0)
  if (slots > MAX_ENDPOINT_PROCESSES)
    problems.push({ path: '/endpoints', message: `${slots} endpoints and NF instances in all; a chain holds at most ${MAX_ENDPOINT_PROCESSES}` })
  const groups = new Map<string, string[]>()
  for (const e of endpoints.values()) if (e.group) groups.set(e.group, [...(groups.get(e.group) ?? []), e.name])
  if (!problems.length) problems.push(...groupProblems(groups, endpoints, links))
  if (!problems.length) problems.push(...reachability(endpoints, links))
  const warnings: Problem[] = [...linkWarnings, ...loneMembers(groups)]
  if (!problems.length && options.nfConfigs !== false) problems.push(...nfConfigProblems(endpoints, links, warnings))
  if (problems.length) throw new SpecError(file, problems)
  const name = spec.name ?? basename(file).replace(/\.json$/, '')
  return { file, dir: dirname(resolve(file)), name, prefix: spec.prefix ?? name.replace(/[^A-Za-z0-9_.-]/g, '-'), spec, endpoints, links, groups, warnings }
}

/**
 * A group runs as one process per instance, so its members must be one piece (each linked to
 * another, either way), have as many instances as each other, and run on the same CPUs (given
 * on any of them, or the same list on several).
 */
function groupProblems(groups: Map<string, string[]>, endpoints: Map<string, ChainEndpoint>, links: ChainLink[]): Problem[] {
  const problems: Problem[] = []
  for (const [group, members] of groups) {
    const first = endpoints.get(members[0])!
    const instancesOf = (e: ChainEndpoint) => `${e.instances}${(e.spec as { instances?: number }).instances === undefined ? ' (the default)' : ''}`
    for (const name of members.slice(1)) {
      const e = endpoints.get(name)!
      if (e.instances !== first.instances)
        problems.push({ path: `/endpoints/${name}/instances`, message: `${instancesOf(e)}, but '${first.name}' of group '${group}' has ${instancesOf(first)}: a group runs as one process per instance, so its members have the same instances` })
    }
    const placed = members.filter((m) => cpuOf(endpoints.get(m)!) !== undefined)
    const cpuSet = (m: string) => [...new Set(cpuOf(endpoints.get(m)!))].sort().join()
    for (const name of placed.slice(1)) {
      const [cpu, firstCpu] = [name, placed[0]].map((m) => cpuOf(endpoints.get(m)!)!)
      if (cpuSet(name) !== cpuSet(placed[0]))
        problems.push({ path: `/endpoints/${name}/cpu`, message: `[${cpu.join(', ')}], but '${placed[0]}' of group '${group}' gives [${firstCpu.join(', ')}]: a group's members run in one process, on one set of CPUs; give the list once, or the same on each` })
    }
    // One piece: every member reached from the first over links between members, either way.
    const reached = new Set([members[0]])
    for (const name of reached)
      for (const l of links)
        if (members.includes(l.from) && members.includes(l.to) && (l.from === name || l.to === name)) reached.add(l.from === name ? l.to : l.from)
    const apart = members.filter((m) => !reached.has(m))
    if (apart.length)
      problems.push({
        path: `/endpoints/${apart[0]}/group`,
        message: `'${apart.join("', '")}' ${apart.length > 1 ? 'are' : 'is'} not linked to the rest of group '${group}' (${[...reached].join(', ')}): a group's members pass packets to one another, so they must be linked`,
      })
  }
  return problems
}

/** The CPUs an NF endpoint's own spec gives (undefined: none, the launcher's choice). */
function cpuOf(e: ChainEndpoint): number[] | undefined {
  return (e.spec as { cpu?: number[] }).cpu
}

/**
 * Whether a spec describes the chain a region runs (its recorded file may have been edited or
 * replaced since): every endpoint it names is declared there, and every endpoint with a process
 * or port attached is one it names. An endpoint a reload removed stays declared, unattached.
 */
export function describes(chain: Chain, snapshot: RegionSnapshot): boolean {
  const declared = new Set(snapshot.services.map((s) => s.name))
  if (![...chain.endpoints.keys()].every((name) => declared.has(name))) return false
  return snapshot.slots.every((slot) => slot.state === 'free' || chain.endpoints.has(slot.name))
}

/** The NFs a process of e runs: its placement group's members (the first attaches), or e alone. */
export function processMembers(chain: Chain, e: ChainEndpoint): string[] {
  return e.group ? chain.groups.get(e.group)! : [e.name]
}

/** Whether e's instances are processes of their own: an NF alone, or a group's first member (whose processes run the rest). */
export function startsProcess(chain: Chain, e: ChainEndpoint): boolean {
  return !e.isPort && processMembers(chain, e)[0] === e.name
}

/**
 * The CPUs an NF endpoint's process is pinned to, and the endpoint whose spec gives them: its
 * own, or for a placement group's member the list any member gives (validation made them agree).
 */
export function nfCpuList(chain: Chain, e: ChainEndpoint): { cpu: number[]; givenBy: string } | undefined {
  for (const name of processMembers(chain, e)) {
    const cpu = cpuOf(chain.endpoints.get(name)!)
    if (cpu) return { cpu, givenBy: name }
  }
  return undefined
}

/** A group of one runs as its NF would alone: most likely a misspelt group name. */
function loneMembers(groups: Map<string, string[]>): Problem[] {
  const others = (group: string) => [...groups.keys()].filter((g) => g !== group && groups.get(g)!.length > 1)
  return [...groups].filter(([, members]) => members.length === 1).map(([group, [name]]) => ({
    path: `/endpoints/${name}/group`,
    message: `group '${group}' has no other member: '${name}' runs alone${others(group).length ? ` (groups with members: '${others(group).join("', '")}')` : ''}`,
  }))
}

/** Why a port sends nothing (a sink; a capture it only writes), or null for any that sends. */
export function sendsNothing(e: ChainEndpoint): string | null {
  if (!e.isPort || isSource(e)) return null
  return e.kind === 'sink' ? 'a sink' : `a ${e.kind} port with no input`
}

function isSource(e: ChainEndpoint): boolean {
  // A service's application sends by name (xio-chain/net), links or none: its own source and exit.
  return e.kind === 'service' || e.kind === 'generator' || e.kind === 'afpacket' || (e.kind === 'pcap' && (e.spec as { input?: string }).input !== undefined)
}

// Packets start at source ports and leave at ports; every NF must lie on such a path.
function reachability(endpoints: Map<string, ChainEndpoint>, links: ChainLink[]): Problem[] {
  const next = new Map<string, string[]>()
  const prev = new Map<string, string[]>()
  for (const l of links) {
    next.set(l.from, [...(next.get(l.from) ?? []), l.to])
    prev.set(l.to, [...(prev.get(l.to) ?? []), l.from])
  }
  const walk = (starts: string[], edges: Map<string, string[]>) => {
    const seen = new Set(starts)
    const todo = [...starts]
    while (todo.length) for (const n of edges.get(todo.pop()!) ?? []) if (!seen.has(n)) seen.add(n), todo.push(n)
    return seen
  }
  const all = [...endpoints.values()]
  const reached = walk(all.filter(isSource).map((e) => e.name), next)
  const leaves = walk(all.filter((e) => e.isPort).map((e) => e.name), prev)
  const problems: Problem[] = []
  for (const e of all) {
    const path = `/endpoints/${e.name}`
    if (!reached.has(e.name) && !isSource(e))
      problems.push({ path, message: `no packet can reach '${e.name}': no link leads to it from a port that brings packets in` })
    else if (!leaves.has(e.name)) {
      // A loop only if its links lead back to it (walk counts where it starts as seen).
      const onward = walk(next.get(e.name) ?? [], next)
      problems.push({
        path,
        message: onward.has(e.name) && [...onward].every((n) => !endpoints.get(n)!.isPort)
          ? `packets reaching '${e.name}' can never leave the chain: its links loop through ${[e.name, ...[...onward].filter((n) => n !== e.name)].join(' -> ')} with no exit to a port`
          : `packets reaching '${e.name}' can never leave the chain: no link from it leads on to a port`,
      })
    }
  }
  return problems
}
