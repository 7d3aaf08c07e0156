// NFs of one's own: an endpoint `{ "kind": "nf", "module": "./nfs/ttl-guard.ts" }` names a
// module whose default export is an NF (defineNF({ name, gates, config, create })). The
// module is found as Node would find it from the spec's folder: a path relative to the spec,
// or a package name. JavaScript modules load directly; TypeScript ones through tsx, the
// module's project's own or, in a checkout, this one's.
import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'
import { dirname, extname, isAbsolute, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { NFModule } from '../xio/nf-types.ts'

const TYPESCRIPT = new Set(['.ts', '.mts', '.cts'])

export class ModuleProblem extends Error {}

/** The file a module specifier names, seen from the spec's folder; throws ModuleProblem. */
export function resolveNfModule(specDir: string, specifier: string): string {
  if (specifier.startsWith('.') || isAbsolute(specifier)) return resolve(specDir, specifier)
  try {
    return createRequire(resolve(specDir, 'chain.json')).resolve(specifier)
  } catch {
    throw new ModuleProblem(`cannot find package '${specifier}' from ${specDir} (install it there, or name the module by its path, e.g. ./nfs/my-nf.ts)`)
  }
}

type TsxApi = typeof import('tsx/esm/api')

/**
 * tsx, to load a TypeScript module: the module's own project's if it has one, else this
 * install's (a checkout has it; an install of the package does not, to stay small).
 */
async function typescriptLoader(file: string): Promise<TsxApi> {
  try {
    // The ES-module entry its package.json names: require's resolution would give the
    // CommonJS one, which does not load through import().
    const manifest = createRequire(file).resolve('tsx/package.json')
    const entry = (JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, { import: { default: string } }> }).exports['./esm/api'].import.default
    return (await import(pathToFileURL(join(dirname(manifest), entry)).href)) as TsxApi
  } catch {}
  try {
    return await import('tsx/esm/api')
  } catch {
    throw new ModuleProblem(`${file} is TypeScript: add tsx to its project (npm install --save-dev tsx), or compile it to JavaScript`)
  }
}

// The version of each JavaScript module's code this process imported first (module-version.ts).
const firstImported = new Map<string, string>()

/**
 * Imports a module and checks that its default export is an NF; throws ModuleProblem. With
 * `version` (of its code on disk), code that changed since this process first imported the
 * module is imported anew: Node keeps a JavaScript module by its URL, so its URL then carries
 * the version (tsx imports a TypeScript module anew each time). The JavaScript files it imports
 * in turn stay as this process first imported them; NF processes, new, load all of it anew.
 */
export async function importNfModule(file: string, version?: string): Promise<NFModule<unknown>> {
  let loaded: { default?: unknown }
  try {
    if (TYPESCRIPT.has(extname(file))) {
      const { tsImport } = await typescriptLoader(file)
      loaded = (await tsImport(pathToFileURL(file).href, import.meta.url)) as { default?: unknown }
    } else {
      const url = pathToFileURL(file)
      if (version !== undefined) {
        if (!firstImported.has(file)) firstImported.set(file, version)
        else if (firstImported.get(file) !== version) url.searchParams.set('version', version)
      }
      loaded = (await import(url.href)) as { default?: unknown }
    }
  } catch (e) {
    const error = e as NodeJS.ErrnoException
    if (error.code === 'ERR_MODULE_NOT_FOUND' && error.message.includes(file)) throw new ModuleProblem(`no such module: ${file}`)
    throw new ModuleProblem(`${file} failed to load: ${firstProblem(error.message)}${whereIn(error, file)}`)
  }
  // A TypeScript file outside an ES-module package is compiled as CommonJS: its default export
  // then sits one level down.
  let nf = loaded.default as { default?: unknown; gates?: unknown; create?: unknown } | undefined
  if (nf && typeof nf === 'object' && nf.gates === undefined && nf.default !== undefined) nf = nf.default as typeof nf
  // Such a module without a default export has its exports object there instead, its named
  // exports beside it: not an NF with something missing, but no default export at all. (One
  // whose default export is an object that is no NF has no named exports beside it.)
  else if (TYPESCRIPT.has(extname(file)) && nf && typeof nf === 'object' && nf.gates === undefined && nf.create === undefined && Object.keys(loaded).some((k) => k !== 'default')) {
    const names = Object.keys(nf)
    throw new ModuleProblem(`${file}: it has no default export${names.length ? ` (it exports ${names.join(', ')})` : ''} (export default defineNF({ name, gates, config, create }))`)
  }
  return asNfModule(nf, file)
}

/** ` at <file>:<line>:<column>`: where in the NF's own module an error was thrown, from its stack; else ''. */
export function whereIn(err: unknown, moduleFile: string | undefined): string {
  if (!moduleFile || !(err instanceof Error) || !err.stack) return ''
  const dir = dirname(moduleFile)
  // The first frame in the module's own folder (its own imports too), not in Node or the platform.
  for (const line of err.stack.split('\n').slice(1)) {
    const at = /\(?((?:file:\/\/)?\/[^()\s]+):(\d+):(\d+)\)?$/.exec(line.trim())
    if (!at) continue
    const file = at[1].replace(/^file:\/\//, '').replace(/\?.*$/, '')
    if (file.startsWith(`${dir}/`) && !file.includes('/node_modules/')) return ` at ${file}:${at[2]}:${at[3]}`
  }
  return ''
}

/**
 * A load error's message in one line: its first, or with a TypeScript file's compile errors
 * (esbuild's "Transform failed with 1 error:" over lines of "file:line:column: ERROR: text"),
 * those, where and what.
 */
function firstProblem(message: string): string {
  const [first, ...rest] = message.split('\n')
  if (!/^Transform failed with \d+ errors?:$/.test(first)) return first
  const errors = rest.filter((line) => line.trim()).map((line) => line.replace(/: ERROR: /, ': '))
  return errors.length ? errors.slice(0, 3).join('; ') : first
}

function asNfModule(v: unknown, file: string): NFModule<unknown> {
  const nf = v as Partial<NFModule<unknown>> | undefined
  const problem = (what: string) => new ModuleProblem(`${file}: ${what} (export default defineNF({ name, gates, config, create }))`)
  if (nf === undefined) throw problem('it has no default export')
  if (!nf || typeof nf !== 'object') throw problem('its default export is not an NF')
  if (!Array.isArray(nf.gates) || !nf.gates.length || !nf.gates.every((g) => typeof g === 'string' && g.length))
    throw problem('gates must be a list of gate names')
  if (new Set(nf.gates).size !== nf.gates.length) throw problem('two gates have one name')
  if (typeof nf.create !== 'function') throw problem('create must be a function (config, env) => NF instance')
  if (nf.config !== undefined && (typeof nf.config !== 'object' || nf.config === null || Array.isArray(nf.config)))
    throw problem('config must be a JSON Schema (an object)')
  if (nf.name !== undefined && typeof nf.name !== 'string') throw problem('name must be a string')
  if (nf.singleInstance !== undefined && typeof nf.singleInstance !== 'string') throw problem('singleInstance must be a string (why it runs as one instance)')
  if (nf.fixedInstances !== undefined && typeof nf.fixedInstances !== 'string') throw problem('fixedInstances must be a string (why its instance count cannot change while it runs)')
  return nf as NFModule<unknown>
}
