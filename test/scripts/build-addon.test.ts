// The install step (scripts/build-addon.mjs) on a copy of the package's layout, with a stub
// node-gyp on PATH that records each build: it builds a missing or stale addon, keeps one newer
// than every source, and builds anyway under `npm rebuild` or XIO_REBUILD=1.
import test from 'ava'
import { execFile } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { root } from '../helpers/cli.ts'
import { scratchDir } from '../helpers/scratch.ts'

function layout(): { dir: string; built: string; run: (env?: Record<string, string>) => Promise<{ code: number; stdout: string; builds: number }> } {
  const dir = scratchDir('build-addon')
  mkdirSync(join(dir, 'scripts'))
  mkdirSync(join(dir, 'native'))
  mkdirSync(join(dir, 'bin'))
  copyFileSync(join(root, 'scripts/build-addon.mjs'), join(dir, 'scripts/build-addon.mjs'))
  writeFileSync(join(dir, 'binding.gyp'), '{}')
  writeFileSync(join(dir, 'native/ring.h'), '// a source')
  const log = join(dir, 'builds.log')
  // The stub builds as node-gyp would: it writes the addon, and says it was called.
  writeFileSync(join(dir, 'bin/node-gyp'), `#!/bin/sh\nmkdir -p build/Release && echo built > build/Release/xio.node && echo "$@" >> ${log}\n`)
  chmodSync(join(dir, 'bin/node-gyp'), 0o755)
  const built = join(dir, 'build/Release/xio.node')
  const run = (env: Record<string, string> = {}) => new Promise<{ code: number; stdout: string; builds: number }>((resolve) =>
    execFile(process.execPath, ['scripts/build-addon.mjs'], { cwd: dir, env: { PATH: `${join(dir, 'bin')}:${process.env.PATH}`, ...env } }, (error, stdout) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, builds: existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').length : 0 })))
  return { dir, built, run }
}

const age = (file: string, secondsAgo: number) => utimesSync(file, new Date(Date.now() - secondsAgo * 1000), new Date(Date.now() - secondsAgo * 1000))

test('a missing addon is built; one newer than every source is kept, with a word saying so', async (t) => {
  const { built, run } = layout()
  const first = await run()
  t.is(first.code, 0)
  t.is(first.builds, 1)
  t.true(existsSync(built))
  const again = await run()
  t.is(again.builds, 1, 'not built again')
  t.regex(again.stdout, /native addon is up to date/)
})

test('a source or binding.gyp newer than the addon has it rebuilt', async (t) => {
  const { dir, built, run } = layout()
  await run()
  for (const file of ['native/ring.h', 'binding.gyp']) age(join(dir, file), 120)
  age(built, 60)
  t.is((await run()).builds, 1, 'sources older than the addon')
  for (const [file, builds] of [['native/ring.h', 2], ['binding.gyp', 3]] as const) {
    age(built, 60)
    age(join(dir, file), 0)
    for (const other of ['native/ring.h', 'binding.gyp']) if (other !== file) age(join(dir, other), 120)
    t.is((await run()).builds, builds, `${file} changed`)
  }
})

test('npm rebuild and XIO_REBUILD=1 build whatever the addon\'s age', async (t) => {
  const { run } = layout()
  await run()
  t.is((await run({ npm_command: 'rebuild' })).builds, 2)
  t.is((await run({ XIO_REBUILD: '1' })).builds, 3)
  t.is((await run({ npm_command: 'install' })).builds, 3)
})

test('a failing build fails the install step', async (t) => {
  const { dir, run } = layout()
  writeFileSync(join(dir, 'bin/node-gyp'), '#!/bin/sh\nexit 7\n')
  rmSync(join(dir, 'build'), { recursive: true, force: true })
  t.is((await run()).code, 7)
})
