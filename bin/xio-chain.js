#!/usr/bin/env node
// The xio-chain command. An install runs the compiled JavaScript in dist/ (built by `npm
// install` in a checkout, and when the package is packed): a command starts in about a third
// of a second. A checkout (where tsx, a development dependency, is installed) whose src/
// changed since its last build runs the TypeScript itself through tsx instead, so an edit
// takes effect without a build step; XIO_CHAIN_FROM_SOURCE=1 asks for that whatever the dates.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const compiled = new URL('../dist/cli/main.js', import.meta.url)
const sources = new URL('../src/', import.meta.url)

function newest(dir) {
  let latest = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = new URL(e.name + (e.isDirectory() ? '/' : ''), dir)
    latest = Math.max(latest, e.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }
  return latest
}

function developing() {
  try {
    import.meta.resolve('tsx/esm/api')
    return existsSync(sources)
  } catch {
    return false
  }
}

const fromSource = process.env.XIO_CHAIN_FROM_SOURCE === '1' && developing()
const fresh = !fromSource && existsSync(compiled) && (!developing() || statSync(compiled).mtimeMs >= newest(sources))
// A checkout whose dependencies are not installed yet (a fresh clone): one line saying so,
// rather than Node's trace of the first package it could not find.
const notInstalled = (e) => {
  const missing = e?.code === 'ERR_MODULE_NOT_FOUND' && /Cannot find package '([^']+)'/.exec(e.message)?.[1]
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  if (!missing || !(missing in { ...manifest.dependencies, ...manifest.devDependencies })) throw e
  const folder = fileURLToPath(new URL('../', import.meta.url))
  process.stderr.write(`xio-chain: its dependencies are not installed (${missing} is missing): run npm ci in ${folder} (see its README)\n`)
  process.exit(1)
}
if (fresh) {
  await import(compiled.href).catch(notInstalled)
} else {
  const { register } = await import('tsx/esm/api').catch(notInstalled)
  // The checkout's tsconfig (its JSX transform above all), not one tsx would look for in the
  // folder the command was started from: the dashboard failed with "React is not defined".
  register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) })
  await import('../src/cli/main.ts')
}
