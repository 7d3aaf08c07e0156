// The brake NF (test/fixtures/brake-nf.mjs) for tests that need an NF stopped, or slowed by
// delayUs a packet, until they have seen what they wait for: its file is made in `dir` here,
// and release() removes it, after which the NF runs as fast as it can.
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { root } from './cli.ts'

export function brakeNf(dir: string, options: { delayUs?: number } = {}) {
  const file = join(dir, 'brake')
  writeFileSync(file, '')
  return {
    /** The endpoint's entry in a chain spec. */
    endpoint: { kind: 'nf', module: join(root, 'test/fixtures/brake-nf.mjs'), config: { brake: file, ...options } },
    release: () => rmSync(file),
  }
}
