// A reload applied to a running chain (`xio-chain reload`, SIGHUP to `run`): the plan
// (reload-plan.ts) carried out in an order that loses nothing. New endpoints start and are
// wired on their way out before anything is wired to them; changed NF configs are taken live;
// every rewired gate changes in one batch, a gate that will skip endpoints paused until they
// have passed on what they had; removed endpoints are unwired, drained and stopped. It works on
// the running chain through ReloadHost, the few things of the launcher's it needs.
import { once } from 'node:events'
import { layout, type Manager } from '../xio/index.ts'
import { ChainError } from './chain-error.ts'
import type { NfInstanceProcess } from './launcher.ts'
import type { NfReconfigure, NfReconfigured } from './nf-control.ts'
import type { Port } from './ports/port.ts'
import { absentCpu } from './cpus.ts'
import { bypassed, planReload, ReloadRefused, type ReloadPlan, type RouteChange } from './reload-plan.ts'
import { processMembers, type Chain } from './spec.ts'

/** What a reload works on: the running chain's manager, NF processes and ports. */
export interface ReloadHost {
  readonly manager: Manager
  readonly instances: NfInstanceProcess[]
  readonly ports: Map<string, Port>
  /** The spec the chain runs now. */
  chain(): Chain
  /** Makes `next` the spec that NFs started or restarted from now on run. */
  runSpec(next: Chain): void
  /** stop() has begun. */
  closing(): boolean
  /** Starts again the NF instances given up on after repeated exits (of endpoints `only` picks); their endpoints. */
  startLeftDown(managerCpu: number, only: (name: string) => boolean): string[]
  /** Starts NF processes of the current spec (those `only` picks, from instance `first(name)`), ready. */
  startNfs(managerCpu: number, only?: (name: string) => boolean, first?: (name: string) => number): Promise<void>
  /**
   * Attaches the current spec's ports that `only` picks; one writing a file in `continued` keeps
   * the records there (the port it replaces wrote them) and writes after them.
   */
  attachPorts(only?: (name: string) => boolean, continued?: Map<string, number>): Promise<void>
  warn(message: string): void
}

export class ChainReloader {
  /** Reloads, one after another. */
  private reloading: Promise<unknown> = Promise.resolve()
  private reconfigureSeq = 0
  /**
   * NF endpoints that may not run the config the running spec gives them: an instance refused
   * it (what validate could not see: a file not there yet, say), or the reload failed before
   * giving it. The next reload gives them their config again even if it did not change, so
   * sending the same spec once the cause is mended is how one retries.
   */
  private owed = new Set<string>()

  constructor(private readonly host: ReloadHost) {}

  /**
   * Applies `next` once the reloads before it are done. Throws ReloadRefused (before changing
   * anything) for what only a restart can change.
   */
  reload(next: Chain): Promise<ReloadPlan> {
    const applied = this.reloading.then(() => this.apply(next))
    this.reloading = applied.catch(() => {})
    return applied
  }

  /**
   * Resolves once the reloads under way are over, however they end: a chain that stops waits
   * for them, so none goes on rewiring a region that is gone. (One asked for after the chain
   * started stopping is refused at once.)
   */
  settled(): Promise<unknown> {
    return this.reloading
  }

  private async apply(next: Chain): Promise<ReloadPlan> {
    if (this.host.closing()) throw new ChainError('the chain is stopping')
    const plan = planReload(this.host.chain(), next)
    // What is owed a config is given it again, unless this reload stops it or restarts it (on
    // its new config). The set itself changes only once the reload is under way (runSpec below).
    const kept = (name: string) => next.endpoints.get(name)?.isPort === false && !plan.removed.includes(name) && !plan.replaced.includes(name)
    for (const name of this.owed) if (kept(name) && !plan.reconfigured.includes(name)) plan.reconfigured.push(name)
    // Before anything stops: a CPU this machine lacks would leave a replaced NF (or a whole
    // placement group) stopped and never started again.
    const absent = absentCpu(next)
    if (absent) throw new ReloadRefused(absent.path, absent.message)
    const routesOf = (names: string[], chain: Chain, into = false): RouteChange[] =>
      chain.links.filter((l) => names.includes(into ? l.to : l.from)).map((l) => ({ from: l.from, gate: l.gateIndex, to: l.to }))
    const old = this.host.chain()
    const isNf = (name: string | null) => name !== null && old.endpoints.get(name)?.isPort === false
    // What is replaced leaves first: drained and stopped, under its old spec. What is sent to
    // it meanwhile waits in the manager (its gates held shut, the senders pushed back as by a
    // full ring) for its replacement: an NF's new process, a port attached again.
    const intoReplaced = routesOf(plan.replaced, old, true)
    // What replaced ports wrote to their captures, by file: a replacement that writes the same
    // file goes on after it, so nothing written before the reload is lost.
    const written = new Map<string, number>()
    if (plan.replaced.length) {
      this.host.manager.pause(intoReplaced)
      await this.retire(plan.replaced, written)
    }
    this.host.runSpec(next) // from here on, what starts (or restarts) runs the new spec
    // Each NF to be given its config is owed it until its instances take it: should the reload
    // fail first, the next one gives it again.
    this.owed = new Set([...plan.reconfigured, ...plan.rewired])
    // New endpoints come up wired on their way out, before anything is wired to them.
    const starting = [...plan.added, ...plan.replaced]
    for (const name of plan.added) this.host.manager.declare(name)
    this.host.manager.routes(routesOf(starting, next))
    const managerCpu = next.spec.manager?.cpu ?? 0
    try {
      await this.host.startNfs(managerCpu, (name) => starting.includes(name))
      await this.host.attachPorts((name) => starting.includes(name), written)
    } catch (e) {
      // A replaced NF or port that did not start again: its gates open, not held for ever (its
      // senders pushed back for good). What is sent to an NF counts as no route while no
      // instance of it runs, and reaches it once one does (the launcher restarts an NF that
      // exits); a port that could not be made is unwired.
      this.host.manager.routes(intoReplaced.map((r) => (isNf(r.to) ? r : { ...r, to: null })))
      throw e
    }
    // An NF that refuses its new config (what validate could not see) runs on as it was; the
    // rest of the reload goes on, and the refusal is reported at its end.
    // An instance a shrink stops below has no say: what it refuses it never runs on for long.
    const staying = new Map(plan.rescaled.filter((r) => r.to < r.from).map((r) => [r.name, r.to]))
    const refusals: string[] = []
    const reconfigureAll = (names: string[], rewired = false) =>
      Promise.all(names.map(async (name) => {
        // One that exited and waits to be restarted has no one to answer: it restarts on the
        // running spec, the new one (runSpec above), so its config is the new one anyway.
        const instances = this.instancesOf(name).filter((p) => p.child.exitCode === null && p.child.signalCode === null)
        const answers = await Promise.allSettled(instances.map((p) => this.reconfigure(p, name, next, rewired && !plan.reconfigured.includes(name))))
        const refused = answers.flatMap((a, i) => (a.status === 'rejected' && instances[i].instance < (staying.get(name) ?? Infinity) ? [(a.reason as Error).message] : []))
        refusals.push(...refused)
        if (!refused.length) this.owed.delete(name)
      }))
    await reconfigureAll(plan.reconfigured)
    const grown = new Map(plan.rescaled.filter((r) => r.to > r.from).map((r) => [r.name, r.from]))
    if (grown.size) await this.host.startNfs(managerCpu, (name) => grown.has(name), (name) => grown.get(name)!)
    // A gate that will skip endpoints it led through is held shut until they have passed on
    // what they had, so no flow's newer packets overtake its older ones.
    const shortcuts = plan.routes.map((r) => ({ gate: r, skipped: bypassed(old, next, r) })).filter((s) => s.skipped.length)
    // The new wiring, all at once: into new and replaced endpoints, and around removed ones
    // (the paused gates among them open again, whatever happened while they waited). A removed
    // NF that led into a replaced one leads there again until it is stopped, so what it still
    // holds (an NF taken out from between two members of a restarted group) is not lost.
    const wiring = [
      ...plan.routes,
      ...routesOf(plan.replaced, next, true).filter((r) => !plan.replaced.includes(r.from)),
      ...intoReplaced.filter((r) => plan.removed.includes(r.from)),
    ]
    try {
      if (shortcuts.length) {
        this.host.manager.pause(shortcuts.map((s) => s.gate))
        await this.passedOn([...new Set(shortcuts.flatMap((s) => s.skipped))], old)
      }
    } finally {
      this.host.manager.routes(wiring)
    }
    await reconfigureAll(plan.rewired, true)
    // An NF given up on after repeated exits is started again by any reload that keeps it (the
    // same spec, sent once the cause is mended).
    for (const name of this.host.startLeftDown(managerCpu, kept)) {
      plan.replaced.push(name)
      plan.restartedFor.set(name, 'it was left down after repeated exits')
    }
    await this.retire(plan.removed)
    this.host.manager.routes(plan.removed.flatMap((name) => this.chainGatesOf(name)))
    for (const r of plan.rescaled) if (r.to < r.from) await this.scaleDown(r.name, r.to, next)
    if (refusals.length) throw new ChainError(`the rest of the reload is in force, but:\n${refusals.join('\n')}`)
    return plan
  }

  /**
   * Waits until the endpoints (in path order) have taken in what was on its way to them when
   * their senders were paused, and passed it on. Gives up once one has made no progress for 2 s
   * (taken, decided or sent nothing: an NF that stopped), saying that order may not hold; a slow
   * one with a long backlog is waited for. `chain` is the chain as the packets were sent: a
   * skipped endpoint may be on its way out.
   */
  private async passedOn(names: string[], chain: Chain): Promise<void> {
    // The slots to watch: a placement group's members share its processes', named after its first.
    const processOf = (name: string) => {
      const e = chain.endpoints.get(name)
      return e && !e.isPort ? processMembers(chain, e)[0] : name
    }
    /** Its instances' counts, from one snapshot. */
    const counts = (name: string) => {
      const c = { arrived: 0, taken: 0, decided: 0, sent: 0, routed: 0 }
      for (const x of this.host.manager.snapshot().slots) {
        if (x.state !== 'active' || x.name !== name) continue
        c.arrived += x.rings.rx.enqueued
        c.taken += x.rings.rx.dequeued
        c.decided += x.endpoint.decided
        c.sent += x.rings.tx.enqueued
        c.routed += x.rings.tx.dequeued
      }
      return c
    }
    let stalled = false
    /** Polls until done(counts), or until the endpoint has moved nothing for 2 s (then stalled). */
    const until = async (name: string, done: (c: ReturnType<typeof counts>) => boolean, everyMs: number) => {
      let moved = Date.now()
      let seen = ''
      for (let c = counts(name); !stalled && !done(c); c = counts(name)) {
        const now = `${c.taken},${c.decided},${c.sent}`
        if (now !== seen) [seen, moved] = [now, Date.now()]
        else if (Date.now() - moved > 2000) stalled = true
        await sleep(everyMs)
      }
    }
    for (const name of new Set(names.map(processOf))) {
      const isNf = chain.endpoints.get(name)?.isPort === false
      // What the manager held for it before the pause (its RX ring full: a slow NF's backlog)
      // reaches it only as it takes from the ring: taken in, until no more arrives.
      for (let arrived = -1; !stalled && arrived !== counts(name).arrived; ) {
        await sleep(5)  // a few of the manager's polls, to deliver what room there is for
        arrived = counts(name).arrived
        await until(name, (c) => c.taken >= arrived, 2)
        // Then decided, every packet of the bursts it took (its runner counts them one by one:
        // a burst that takes long to decide shows).
        const taken = counts(name).taken
        if (isNf) await until(name, (c) => c.decided >= taken, 2)
        await sleep(5)
      }
      // And sent: its TX ring empty twice over.
      let empty = 0
      await until(name, (c) => (empty = c.sent === c.routed ? empty + 1 : 0) >= 2, 5)
    }
    if (stalled) this.host.warn(`reload: ${names.join(', ')} stopped passing on what they had (nothing moved for 2 s); packets of their flows may arrive out of order`)
  }

  /**
   * Stops the instances of an NF from `to` on, losing nothing: the gates into it are held shut
   * while its instances pass on what they had, so the ones that stop leave with nothing on
   * their rings, and what is sent meanwhile waits in the manager, in order, for the ones that
   * stay.
   */
  private async scaleDown(name: string, to: number, next: Chain): Promise<void> {
    const leaving = this.instancesOf(name).filter((p) => p.instance >= to)
    if (!leaving.length) return
    const members = leaving[0].members  // a placement group's, whose slots go by its first member
    const into = next.links
      .filter((l) => members.includes(l.to) && !members.includes(l.from))
      .map((l) => ({ from: l.from, gate: l.gateIndex, to: l.to }))
    this.host.manager.pause(into)
    try {
      await this.passedOn([members[0]], this.host.chain())
      // Looked up again: one that died meanwhile may have been restarted in its place.
      await this.stopInstances(this.instancesOf(name).filter((p) => p.instance >= to))
    } finally {
      this.host.manager.routes(into)
    }
  }

  /** The processes running the endpoint's NF (alone, or in its group's). */
  private instancesOf(name: string): NfInstanceProcess[] {
    return this.host.instances.filter((p) => p.members.includes(name) && !p.retired)
  }

  /** Every gate of an endpoint, unwired. */
  private chainGatesOf(name: string): RouteChange[] {
    return Array.from({ length: layout.maxGates }, (_, gate) => ({ from: name, gate, to: null }))
  }

  /** Sends an NF process the new config of one of its NFs and waits until it runs on it (or restarted on it). */
  /** Gives an NF instance its config (`rewired`: only where its gates lead changed), and waits for its answer. */
  private async reconfigure(proc: NfInstanceProcess, member: string, next: Chain, rewired: boolean): Promise<void> {
    const e = next.endpoints.get(member)!
    const order: NfReconfigure = { seq: ++this.reconfigureSeq, member, config: (e.spec as { config?: unknown }).config ?? {}, ...(rewired ? { rewired } : {}) }
    const answer = await new Promise<NfReconfigured | null>((resolve) => {
      const timer = setTimeout(() => resolve({ seq: order.seq, ok: false, message: 'no answer within 10 s (an NF that holds packets takes a new config once it holds none)' }), 10_000)
      proc.awaiting.set(order.seq, (a) => {
        clearTimeout(timer)
        proc.awaiting.delete(order.seq)
        resolve(a)
      })
      proc.child.stdin!.write(`${JSON.stringify(order)}\n`)
    })
    if (answer && !answer.ok)
      throw new ChainError(`${next.file}: /endpoints/${member}/config${answer.path ?? ''}: instance ${proc.instance} kept its old config: ${answer.message}`)
  }

  /**
   * Stops endpoints nothing routes to any more, once what is on its way to them has arrived and
   * been passed on: their RX rings empty and no packet in for a while. `written`, if given,
   * gets what each port's output capture holds as it closes.
   */
  private async retire(names: string[], written?: Map<string, number>): Promise<void> {
    const ports = names.map((n) => this.host.ports.get(n)).filter((p): p is Port => p !== undefined)
    for (const port of ports) port.stopSources()
    const received = () => this.host.manager.snapshot().slots.filter((x) => x.state === 'active' && names.includes(x.name))
    const deadline = Date.now() + 5000
    let before = -1
    for (let quiet = 0; quiet < 5 && Date.now() < deadline; await sleep(10)) {
      const slots = received()
      const total = slots.reduce((n, x) => n + x.route.rxPackets, 0)
      quiet = slots.every((x) => x.rings.rx.used === 0) && total === before ? quiet + 1 : 0
      before = total
    }
    const left = received().reduce((n, x) => n + x.rings.rx.used, 0)
    if (left) this.host.warn(`${names.join(', ')}: ${left} packets still waiting after 5 s are dropped as they stop`)
    for (const port of ports) {
      this.host.ports.delete(port.name)
      port.close()
      if (written && port.output) written.set(port.output.file, port.output.written)
    }
    await this.stopInstances(this.host.instances.filter((p) => p.members.some((m) => names.includes(m)) && !p.retired))
  }

  /** Stops NF instances for good: each finishes its burst, passes it on, and leaves. */
  private async stopInstances(procs: NfInstanceProcess[]): Promise<void> {
    const exits = procs.map((p) => {
      p.retired = true
      const exited = p.child.exitCode !== null || p.child.signalCode !== null ? Promise.resolve() : once(p.child, 'exit')
      p.child.kill('SIGTERM')
      return exited
    })
    const killTimer = setTimeout(() => procs.forEach((p) => p.child.kill('SIGKILL')), 5000)
    await Promise.all(exits)
    clearTimeout(killTimer)
    for (const p of procs) {
      const at = this.host.instances.indexOf(p)
      if (at >= 0) this.host.instances.splice(at, 1)
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
