// npm's install step for the native addon: node-gyp rebuild, unless build/Release/xio.node is
// already newer than every native source and binding.gyp. npm runs a package's install script
// again whenever `npx xio-chain` (or `npm exec`) installs the folder it runs from, and a
// rebuild there would replace the addon under chains that have it loaded; an addon that is up
// to date stays as it is. `npm rebuild` and XIO_REBUILD=1 build it whatever its age (say, after
// a compiler or node-addon-api change, which the sources' times do not show).
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const addon = join(root, 'build/Release/xio.node')
const sources = [join(root, 'binding.gyp'), ...readdirSync(join(root, 'native')).map((f) => join(root, 'native', f))]

function upToDate() {
  if (process.env.XIO_REBUILD === '1' || process.env.npm_command === 'rebuild' || !existsSync(addon)) return false
  const built = statSync(addon).mtimeMs
  return sources.every((f) => statSync(f).mtimeMs <= built)
}

if (upToDate()) {
  console.log('xio-chain: the native addon is up to date (build/Release/xio.node); not rebuilt')
} else {
  const r = spawnSync('node-gyp', ['rebuild'], { cwd: root, stdio: 'inherit' })
  if (r.error) {
    console.error(`xio-chain: could not run node-gyp: ${r.error.message}`)
    process.exit(1)
  }
  process.exit(r.status ?? 1)
}
