// `npm run bench [-- --json] [-- --only dataplane,nfs]`: every suite, one report.
import { existsSync } from 'node:fs'
import { jsonMode, Report } from './report.ts'

const suites: Record<string, string> = { dataplane: './dataplane.ts', nfs: './nfs.ts' }
const onlyAt = process.argv.indexOf('--only')
const only = onlyAt >= 0 ? process.argv[onlyAt + 1].split(',') : Object.keys(suites)

const report = new Report()
for (const name of only) {
  const path = suites[name]
  if (!path) throw new Error(`unknown suite '${name}' (have: ${Object.keys(suites).join(', ')})`)
  if (!existsSync(new URL(path, import.meta.url))) continue
  const suite = (await import(path)) as { run(report: Report): Promise<void> }
  await suite.run(report)
}
const meta = { machine: { cpus: (await import('node:os')).cpus().length, node: process.version }, date: new Date().toISOString() }
if (jsonMode()) process.stdout.write(JSON.stringify({ ...meta, results: report.results }, null, 2) + '\n')
