// The benchmarks' C and C++ peers build against native/ as it is now: a change to the region's
// layout or to native/os.h must not leave a peer that no longer compiles, which the benchmark
// could only report by skipping the figure it is the peer of.
import test from 'ava'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const peers = fileURLToPath(new URL('../../bench/peers/', import.meta.url))
const native = fileURLToPath(new URL('../../native/', import.meta.url))

function compiles(compiler: string, args: string[]): Promise<string> {
  return new Promise((resolve) => execFile(compiler, ['-fsyntax-only', '-Wall', `-I${native}`, ...args], (error, _out, stderr) => resolve(error ? stderr || String(error) : '')))
}

for (const peer of ['ring-relay.cc', 'native-flow.cc']) {
  test(`bench/peers/${peer} compiles against native/`, async (t) => {
    t.is(await compiles('c++', ['-std=c++17', `${peers}${peer}`]), '')
  })
}
