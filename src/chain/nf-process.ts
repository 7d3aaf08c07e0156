// The entry point of one NF instance: `node --import tsx nf-process.ts <spec> <endpoint> <prefix> [cpus] [wall|packets] [instance]`,
// with its order on stdin (NfOrder: its NF and config, as the launcher checked them). The
// launcher starts one per instance. It builds the NF, attaches by prefix, says `ready` on
// stdout once the NF accepted its config, and runs until SIGTERM (or until the manager is
// gone), then detaches so the manager takes back anything it still holds.
import { text } from 'node:stream/consumers'
import { attach, createNF, runNF, setAffinity, XioError, type CreatedNF } from '../xio/index.ts'
import { NFConfigError, type NFModule } from '../xio/nf-types.ts'
import { builtinNFs } from '../nfs/index.ts'
import { importNfModule } from './nf-modules.ts'
import type { NfOrder } from './launcher.ts'

const [specFile, name, prefix, cpus, clock, instance] = process.argv.slice(2)
if (cpus) setAffinity(cpus.split(',').map(Number))
const order = JSON.parse(await text(process.stdin)) as NfOrder
const nf: NFModule<unknown> = order.module ? await importNfModule(order.module) : builtinNFs[order.kind]
if (!nf) throw new Error(`${specFile}: no NF of kind '${order.kind}'`)

let stopping = false
process.on('SIGTERM', () => (stopping = true))
// Ctrl-C reaches the whole process group; the launcher answers it by draining the chain and
// then sending SIGTERM here, so an NF must not leave with packets still on their way to it.
process.on('SIGINT', () => {})

const xio = await attach({ prefix, name, instance: instance === undefined ? undefined : Number(instance) })
let created: CreatedNF | undefined
try {
  created = createNF(xio, nf, order.config, clock === 'packets' ? 'packets' : 'wall')
  // The launcher counts an instance as started only once its config has been accepted.
  process.stdout.write('ready\n')
  await runNF(xio, created, { stopping: () => stopping || !xio.managerAlive(), name })
} catch (e) {
  if (e instanceof XioError && e.code === 'FAULTED') {
    // Cut off by the manager for a stray write into its own rings: leave, to be restarted.
    process.stderr.write(`${name}: ${e.message}\n`)
    process.exitCode = 3
  } else if (e instanceof NFConfigError) {
    process.stderr.write(`${specFile}: /endpoints/${name}/config${e.path}: ${e.message.slice(e.path.length + 2)}\n`)
    process.exitCode = 2
  } else {
    if (!created) {
      // create() threw what validate did not see it throw: the NF's own bug, named in one line.
      process.stderr.write(`${specFile}: /endpoints/${name}: ${order.label}: create() threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}\n`)
      process.exitCode = 2
    } else throw e
  }
} finally {
  xio.detach()
}
