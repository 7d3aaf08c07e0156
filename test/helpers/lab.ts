// The namespace lab for end-to-end tests: programs run inside lan or wan as their hosts, and a
// chain started with the real command as the router between them.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { SYSTEM_PATH } from '../../src/cli/lab.ts'
import { observe, type SlotSnapshot } from '../../src/xio/index.ts'
import { startXioChain } from './cli.ts'

const peer = fileURLToPath(new URL('../fixtures/lab-peer.mjs', import.meta.url))
const env = { ...process.env, PATH: SYSTEM_PATH }

export interface Result {
  code: number
  stdout: string
  stderr: string
}

/** Runs a command inside a namespace to its end (or timeoutMs) and says how it went. */
export function inNamespace(namespace: string, command: string[], timeoutMs = 30_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', namespace, ...command], { env, timeout: timeoutMs, maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    )
  })
}

/** A lab host program (test/fixtures/lab-peer.mjs) in a namespace, once it says it listens. */
export async function startPeer(namespace: string, args: string[]): Promise<ChildProcess> {
  // Its stdin is a pipe from this process: it leaves when this process does, however.
  const child = spawn('ip', ['netns', 'exec', namespace, process.execPath, peer, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] })
  let output = ''
  child.stdout!.on('data', (c: Buffer) => (output += c))
  child.stderr!.on('data', (c: Buffer) => (output += c))
  const deadline = Date.now() + 10_000
  while (!output.includes('listening')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`lab peer ${args.join(' ')} in ${namespace} did not start: ${output}`)
    await new Promise((r) => setTimeout(r, 20))
  }
  return child
}

/** Runs a host program of the lab to its end (udp-query). */
export function runPeer(namespace: string, args: string[], timeoutMs = 30_000): Promise<Result> {
  return inNamespace(namespace, [process.execPath, peer, ...args], timeoutMs)
}

export interface FetchResult {
  ok: number
  failed: number[]
  errors: string[]
  bytes: number
  ms: number
}

/** From lan, n connections at once to the blob server in wan, each checking its sha256. */
export async function fetchFromWan(n: number, size: number, timeoutMs = 120_000): Promise<FetchResult> {
  const r = await runPeer('lan', ['fetch', '203.0.113.2', '9000', String(n), String(size)], timeoutMs)
  if (r.code !== 0) throw new Error(`fetch failed: ${r.stdout} ${r.stderr}`)
  return JSON.parse(r.stdout) as FetchResult
}

export async function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill(signal)
  await exited
}

export type RunningCommand = ChildProcess & { output: () => string }

/**
 * `xio-chain run <spec> --no-tui`, once the chain runs. It stops by itself after 5 minutes,
 * should the test that started it die without stopping it.
 */
export async function startChain(spec: string, prefix: string): Promise<RunningCommand> {
  const chain = startXioChain(['run', spec, '--no-tui', '--prefix', prefix, '--duration', '300'])
  const deadline = Date.now() + 30_000
  while (!chain.output().includes('running on prefix')) {
    if (chain.exitCode !== null || Date.now() > deadline) throw new Error(`the chain did not start:\n${chain.output()}`)
    await new Promise((r) => setTimeout(r, 20))
  }
  return chain
}

/** Stops a chain as Ctrl-C does and returns its exit code. */
export async function stopChain(chain: RunningCommand): Promise<number | null> {
  if (chain.exitCode !== null) return chain.exitCode
  const exited = once(chain, 'close') // its last stats lines read too, not just its exit
  chain.kill('SIGINT')
  const [code] = await exited
  return code as number | null
}

/** The active slot of `endpoint` in the chain on `prefix`, read once through an observer. */
export function activeSlot(prefix: string, endpoint: string): SlotSnapshot | undefined {
  const o = observe(prefix)
  try {
    return o.view.snapshot().slots.find((s) => s.name === endpoint && s.state === 'active')
  } finally {
    o.close()
  }
}

/** Waits until f() gives something (every 20 ms); throws naming `what` after timeoutMs. */
export async function untilValue<T>(what: string, f: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = f()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
