// How long a command takes to start: `xio-chain validate` as installed (the JavaScript
// compiled in dist/) against the same command through tsx (how it ran before it shipped
// compiled), and against a bare `node -e 0` (the floor: Node's own start).
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Report } from './report.ts'

const root = fileURLToPath(new URL('../', import.meta.url))

function medianMs(args: string[], runs = 9): number {
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const start = performance.now()
    execFileSync(process.execPath, args, { cwd: root, stdio: 'ignore' })
    times.push(performance.now() - start)
  }
  return times.sort((a, b) => a - b)[runs >> 1]
}

export async function run(report: Report): Promise<void> {
  report.section('Command start')
  const compiled = 'dist/cli/main.js'
  if (!existsSync(`${root}${compiled}`)) throw new Error('dist/ is not built: run npm install (or npx tsc -p tsconfig.build.json)')
  const validate = ['validate', 'chains/fw-nat.json']
  const ours = medianMs([compiled, ...validate])
  const viaTsx = medianMs(['--import', 'tsx', 'src/cli/main.ts', ...validate])
  const bare = medianMs(['-e', '0'])
  report.compare('xio-chain validate, compiled, median', ours, 'ms', 'the same through tsx', viaTsx, 'lower')
  report.compare('xio-chain validate, compiled, median', ours, 'ms', 'node -e 0', bare, 'lower')
}
