// The entry point of one NF instance: `node --import tsx nf-process.ts <spec> <endpoint> <prefix> [cpus]`.
// The launcher starts one per instance. It loads the same spec the launcher validated, takes
// its endpoint's config, attaches by prefix and runs until SIGTERM or SIGINT, then detaches
// so the manager takes back anything it still holds.
import { attach, runNF, setAffinity } from '../xio/index.ts'
import { NFConfigError } from '../xio/nf-types.ts'
import { nfs } from './registry.ts'
import { loadChain } from './spec.ts'

const [specFile, name, prefix, cpus] = process.argv.slice(2)
if (cpus) setAffinity(cpus.split(',').map(Number))
const chain = loadChain(specFile)
const endpoint = chain.endpoints.get(name)
if (!endpoint || endpoint.isPort) throw new Error(`${specFile}: no NF named '${name}'`)
const nf = nfs[endpoint.kind]

let stopping = false
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => (stopping = true))

const xio = await attach({ prefix, name })
try {
  await runNF(xio, nf, (endpoint.spec as { config?: unknown }).config ?? {}, {
    stopping: () => stopping || !xio.managerAlive(),
  })
} catch (e) {
  if (e instanceof NFConfigError) {
    process.stderr.write(`${specFile}: /endpoints/${name}/config${e.path}: ${e.message.slice(e.path.length + 2)}\n`)
    process.exitCode = 2
  } else throw e
} finally {
  xio.detach()
}
