// Which version of an NF module's code is on disk: a digest of the module's file and of every
// file of its own that it imports (not packages), so that a reload tells an NF whose code
// changed (restarted, so its processes load the new code) from one whose code did not (kept,
// with its state). The files a module imports are the ones a bundler reads for it: esbuild's
// (the module's project's, as tsx brings it, or this install's), asked for its metafile, with
// nothing written. Without esbuild at hand (a JavaScript module in a project without tsx), the
// module's own file alone.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

type Esbuild = typeof import('esbuild')

/** A digest of the module's code: the module file and the files of its own it imports, by path and content. */
export async function moduleVersion(file: string): Promise<string> {
  const hash = createHash('sha256')
  for (const f of (await ownFiles(file)).sort()) {
    let content: Buffer
    try {
      content = readFileSync(f)
    } catch {
      continue  // gone since it was read: the next version will say so
    }
    hash.update(`${f}\0${content.length}\0`).update(content)
  }
  return hash.digest('hex').slice(0, 16)
}

/** The module's file and every file of its own it imports, statically, however deep. */
async function ownFiles(file: string): Promise<string[]> {
  const esbuild = await bundler(file)
  if (!esbuild) return [file]
  const dir = dirname(file)
  try {
    const { metafile } = await esbuild.build({
      entryPoints: [file], bundle: true, write: false, metafile: true, platform: 'node', format: 'esm',
      packages: 'external', absWorkingDir: dir, logLevel: 'silent',
    })
    return Object.keys(metafile.inputs).map((input) => resolve(dir, input))
  } catch {
    return [file]  // what it cannot follow, the import itself reports
  }
}

async function bundler(file: string): Promise<Esbuild | null> {
  for (const from of [file, fileURLToPath(import.meta.url)]) {
    try {
      const loaded = (await import(pathToFileURL(createRequire(from).resolve('esbuild')).href)) as Esbuild & { default?: Esbuild }
      return loaded.default ?? loaded
    } catch {}
  }
  return null
}
