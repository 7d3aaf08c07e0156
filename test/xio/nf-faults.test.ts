// An NF's own bugs as the runner counts and says them: by name, at most once a second per kind.
import test from 'ava'
import { NFFaults } from '../../src/xio/nf-faults.ts'

/** What `f` writes to stderr. */
function said(f: () => void): string {
  const write = process.stderr.write
  let text = ''
  process.stderr.write = ((chunk: string) => ((text += chunk), true)) as typeof process.stderr.write
  try {
    f()
  } finally {
    process.stderr.write = write
  }
  return text
}

test('a gate returned by its name is said with the number to return', (t) => {
  const faults = new NFFaults('guard', ['out', 'rejected'])
  t.is(said(() => faults.badVerdict('rejected')), "guard: process() returned rejected, which is no gate of this NF (packet dropped; 1 so far; a gate is returned by its number: 1 for 'rejected')\n")
  const other = new NFFaults('guard', ['out'])
  t.is(said(() => other.badVerdict(undefined)), 'guard: process() returned undefined, which is no gate of this NF (packet dropped; 1 so far)\n')
})

test('each kind is said at most once a second, and every one is counted, the lost packets as drop reasons', (t) => {
  const faults = new NFFaults('guard', ['out'])
  const text = said(() => {
    for (let i = 0; i < 3; i++) faults.badLength(5000, 2048)
    faults.threw(new RangeError('no rule'))
  })
  t.is(text.match(/set the packet's length to 5000, which is no length of a buffer of 2048 bytes/g)?.length, 1)
  t.regex(text, /^guard: process\(\) threw \(packet dropped; 1 so far\): RangeError: no rule/m)
  t.deepEqual(faults.addTo({ seen: 4 }), { 'drop/processThrew': 1, 'drop/badLength': 3, seen: 4 })
})

test('a throw is said with the NF\'s own frames, not the runner\'s that called it', (t) => {
  const faults = new NFFaults('guard', ['out'])
  const e = new Error('no rule')
  e.stack = [
    'Error: no rule',
    '    at Object.process (/home/me/nfs/guard.ts:12:11)',
    `    at runNFs (${new URL('../../dist/xio/nf.js', import.meta.url).pathname}:380:46)`,
    `    at runNFs (${new URL('../../src/xio/nf.ts', import.meta.url).pathname}:470:30)`,
    '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
  ].join('\n')
  t.is(said(() => faults.threw(e)), 'guard: process() threw (packet dropped; 1 so far): Error: no rule\n    at Object.process (/home/me/nfs/guard.ts:12:11)\n')
})
