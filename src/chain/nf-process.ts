// The entry point of one NF instance: `node --import tsx nf-process.ts <spec> <endpoint> <prefix> [cpus] [wall|packets] [instance]`,
// with its order on stdin (NfOrder, one line: its NF and config, as the launcher checked them;
// a placement group's process gets each of its members'). The launcher starts one per
// instance. It builds the NFs, attaches by prefix (a group's as its first member, serving the
// others too), says `ready` on stdout once every NF accepted its config, and runs until
// SIGTERM (or until the manager is gone), then detaches so the manager takes back anything it
// still holds. Each later line on stdin is a reload's new config for one of its NFs
// (NfReconfigure), answered on stdout once in force or refused.
import { createInterface } from 'node:readline'
import { attach, createNF, runNFs, RxWaiter, setAffinity, XioError, type PendingConfig, type RunMember } from '../xio/index.ts'
import { NFConfigError, type NFModule } from '../xio/nf-types.ts'
import { builtinNFs } from '../nfs/index.ts'
import { importNfModule, ModuleProblem } from './nf-modules.ts'
import type { NfOrder } from './launcher.ts'
import { LAUNCHER_PID_ENV, reconfigureReply, type NfReconfigure } from './nf-control.ts'
import { addon } from '../xio/native.ts'

const [specFile, name, prefix, cpus, clock, instance] = process.argv.slice(2)
// Dies with the launcher, however it ends: one killed with -9 cannot stop its NFs, and an NF
// hung in process() never looks for its manager. Gone already: nothing to run for.
const launcher = Number(process.env[LAUNCHER_PID_ENV])
if (launcher > 0 && !addon.dieWithParent(launcher)) process.exit(1)
if (cpus) setAffinity(cpus.split(',').map(Number))
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
const order = JSON.parse((await lines.next()).value) as NfOrder
// Where the NFs sleep while idle; a stop or a reload's config ends the sleep.
const rest = new RxWaiter()
// Reloads' configs, taken by the NFs between two bursts, in the order they came.
const reconfigures: PendingConfig[] = []
void (async () => {
  for (let line = await lines.next(); !line.done; line = await lines.next()) {
    const { seq, member, config, rewired } = JSON.parse(line.value) as NfReconfigure
    reconfigures.push({ member, config, rewired, done: (error) => process.stdout.write(reconfigureReply(seq, error)) })
    rest.interrupt()
  }
  // The launcher has gone (its end of the pipe closed with it, a kill -9 included): whatever
  // rest the NFs are in ends now, and the loop finds the manager gone.
  rest.interrupt()
})()
const nfs: NFModule<unknown>[] = []
for (const m of order.members) {
  let nf: NFModule<unknown> | undefined
  try {
    nf = m.module ? await importNfModule(m.module) : builtinNFs[m.kind]
  } catch (e) {
    // Changed on disk since the launcher checked it, and broken: one line, as validate says it.
    if (!(e instanceof ModuleProblem)) throw e
    process.stderr.write(`${specFile}: /endpoints/${m.name}/module: ${e.message}\n`)
    process.exit(2)
  }
  if (!nf) throw new Error(`${specFile}: /endpoints/${m.name}: no NF of kind '${m.kind}'`)
  nfs.push(nf)
}

let stopping = false
process.on('SIGTERM', () => {
  stopping = true
  rest.interrupt()
})
// The launcher stops NFs with SIGTERM once it has drained the chain, so an NF must not leave
// with packets still on their way to it. The terminal's Ctrl-C never comes here (the launcher
// gives each NF process a session of its own); a SIGINT sent anyway is ignored likewise.
process.on('SIGINT', () => {})

const xio = await attach({
  prefix,
  name,
  instance: instance === undefined ? undefined : Number(instance),
  also: order.members.slice(1).map((m) => m.name),
})
const members: RunMember[] = []
let creating = order.members[0]
try {
  for (const [i, m] of order.members.entries()) {
    creating = m
    const as = { id: xio.endpointId(m.name), name: m.name }
    const placement = { instance: xio.instance ?? 0, instances: order.instances }
    members.push({ nf: createNF(xio, nfs[i], m.config, clock === 'packets' ? 'packets' : 'wall', as, placement), name: m.name, service: as.id, next: Int32Array.from(m.next) })
  }
  // The launcher counts an instance as started only once its config has been accepted.
  process.stdout.write('ready\n')
  // The loop leaves by itself once the manager is gone (it asks at each event-loop turn). The
  // manager runs in the launcher, whose end of stdin closes with it and ends any rest at once,
  // so a rest need not end every second to ask.
  await runNFs(xio, members, {
    stopping: () => stopping,
    rest,
    maxRestMs: 10_000,
    name,
    nextConfig: () => reconfigures.shift(),
    retry: (pending) => reconfigures.unshift(pending),
  })
} catch (e) {
  if (e instanceof XioError && e.code === 'FAULTED') {
    // Cut off by the manager for a stray write into its own rings: leave, to be restarted.
    process.stderr.write(`${name}: ${e.message}\n`)
    process.exitCode = 3
  } else if (e instanceof NFConfigError) {
    process.stderr.write(`${specFile}: /endpoints/${creating.name}/config${e.path}: ${e.message.slice(e.path.length + 2)}\n`)
    process.exitCode = 2
  } else {
    if (members.length < order.members.length) {
      // create() threw what validate did not see it throw: the NF's own bug, named in one line.
      process.stderr.write(`${specFile}: /endpoints/${creating.name}: ${creating.label}: create() threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}\n`)
      process.exitCode = 2
    } else throw e
  }
} finally {
  xio.detach()
  process.stdin.destroy()  // the launcher keeps it open for reloads; the process leaves now
}
