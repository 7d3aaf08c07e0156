// npm's prepare step: compiles src/ to dist/ with TypeScript (tsconfig.build.json). A checkout
// has TypeScript (a development dependency) and builds. An installed copy of the package has
// dist/ already and no TypeScript: npm still runs prepare when a project installs that copy's
// folder (`npm install /usr/lib/node_modules/xio-chain`, as `xio-chain new nf` suggests), and
// there it has nothing to build.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
let tsc
try {
  tsc = createRequire(`${root}package.json`).resolve('typescript/bin/tsc')
} catch {
  if (existsSync(`${root}dist/cli/main.js`)) process.exit(0)
  console.error('xio-chain: dist/ is not built and TypeScript is not installed: run npm install in a checkout (it installs TypeScript)')
  process.exit(1)
}
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' })
process.exit(r.status ?? 1)
