// The entry point of one NF instance: `node --import tsx nf-process.ts <spec> <endpoint> <prefix> [cpus] [wall|packets]`.
// The launcher starts one per instance. It loads the same spec the launcher validated, takes
// its endpoint's config, attaches by prefix, says `ready` on stdout once the NF accepted its
// config, and runs until SIGTERM (or until the manager is gone), then detaches so the manager
// takes back anything it still holds.
import { attach, createNF, runNF, setAffinity, XioError, type CreatedNF } from '../xio/index.ts'
import { NFConfigError } from '../xio/nf-types.ts'
import { loadChain, nfLabel } from './spec.ts'

const [specFile, name, prefix, cpus, clock] = process.argv.slice(2)
if (cpus) setAffinity(cpus.split(',').map(Number))
// The launcher checked every NF's config already, and this process builds its own NF next
// (which says what is wrong with its config): no need to build every NF of the chain here.
const chain = await loadChain(specFile, { nfConfigs: false })
const endpoint = chain.endpoints.get(name)
if (!endpoint || !endpoint.nf) throw new Error(`${specFile}: no NF named '${name}'`)
const nf = endpoint.nf

let stopping = false
process.on('SIGTERM', () => (stopping = true))
// Ctrl-C reaches the whole process group; the launcher answers it by draining the chain and
// then sending SIGTERM here, so an NF must not leave with packets still on their way to it.
process.on('SIGINT', () => {})

const xio = await attach({ prefix, name })
let created: CreatedNF | undefined
try {
  created = createNF(xio, nf, (endpoint.spec as { config?: unknown }).config ?? {}, clock === 'packets' ? 'packets' : 'wall')
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
      process.stderr.write(`${specFile}: /endpoints/${name}: ${nfLabel(endpoint)}: create() threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}\n`)
      process.exitCode = 2
    } else throw e
  }
} finally {
  xio.detach()
}
