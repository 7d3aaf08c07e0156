// `npm run bench [-- --json] [-- --only dataplane,nfs]`: every suite, one report.
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { jsonMode, Report } from './report.ts'

const suites: Record<string, string> = { dataplane: './dataplane.ts', floor: './floor.ts', chain: './chain.ts', parts: './rtt-parts.ts', nfs: './nfs.ts', cli: './cli.ts', forward: './forward.ts', fuzz: './fuzz.ts', soak: './soak.ts', sockets: './sockets.ts', restart: './restart.ts' }
/** Run only when named: the soak takes ten minutes, the fuzz a few; parts is a diagnosis (bench/rtt-parts.ts). */
const onRequest = new Set(['soak', 'fuzz', 'parts'])
const usage = `npm run bench [-- --json] [-- --only ${Object.keys(suites).join(',')}]
  --json   one JSON object, for machines
  --only   the suites to run, comma-separated (default: all but soak and fuzz, which take minutes, and parts)`
const args = process.argv.slice(2)
if (args.includes('--help')) {
  process.stdout.write(`${usage}\n`)
  process.exit(0)
}
const onlyAt = args.indexOf('--only')
const only = onlyAt >= 0 ? (args[onlyAt + 1] ?? '').split(',').filter(Boolean) : Object.keys(suites).filter((name) => !onRequest.has(name))
const known = new Set(['--json', '--only', ...(onlyAt >= 0 ? [args[onlyAt + 1]] : [])])
const unknown = args.find((a) => !known.has(a))
const badSuite = only.find((name) => !suites[name])
if (unknown !== undefined || badSuite !== undefined || !only.length) {
  process.stderr.write(`bench: ${unknown !== undefined ? `unknown argument '${unknown}'` : `unknown suite '${badSuite ?? ''}' (have: ${Object.keys(suites).join(', ')})`}; usage: ${usage.split('\n')[0]}\n`)
  process.exit(1)
}

// Ctrl-C or SIGTERM mid-run: the regions this run made go with it (their endpoint processes
// leave by themselves once the manager is gone).
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => {
    for (const f of readdirSync('/dev/shm')) if (f.startsWith('xio.bench-') && f.endsWith(`-${process.pid}`)) rmSync(`/dev/shm/${f}`, { force: true })
    process.exit(130)
  })

const report = new Report()
for (const name of only) {
  const path = suites[name]
  if (!existsSync(new URL(path, import.meta.url))) continue
  const suite = (await import(path)) as { run(report: Report): Promise<void> }
  await suite.run(report)
}
const meta = { machine: { cpus: (await import('node:os')).cpus().length, node: process.version }, date: new Date().toISOString() }
if (jsonMode()) process.stdout.write(JSON.stringify({ ...meta, results: report.results }, null, 2) + '\n')
