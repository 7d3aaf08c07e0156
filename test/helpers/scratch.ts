// Scratch folders for tests, removed when the test process exits (passed or failed), so a
// test run leaves nothing in /tmp.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const made: string[] = []
process.on('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true })
})

export function scratchDir(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), `xio-${tag}-`))
  made.push(dir)
  return dir
}
