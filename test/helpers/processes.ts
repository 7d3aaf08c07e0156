// Starting and stopping real endpoint processes for data-plane tests.
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { once } from 'node:events'
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { observe, type Observer, type RegionSnapshot } from '../../src/xio/index.ts'

const traffic = fileURLToPath(new URL('../fixtures/traffic.ts', import.meta.url))
const faulty = fileURLToPath(new URL('../fixtures/faulty-nf.ts', import.meta.url))
const churn = fileURLToPath(new URL('../fixtures/churn.ts', import.meta.url))
let counter = 0

/** The active slot of endpoint `name` in a snapshot (the first, if it has several instances). */
export const activeSlot = (s: RegionSnapshot, name: string) => s.slots.find((x) => x.state === 'active' && x.name === name)

/** A prefix no other test (or leftover) uses. */
export function uniquePrefix(tag: string): string {
  return `t-${tag}-${process.pid}-${counter++}`
}

/** Removes regions this test process created and a failed test left behind. */
export function removeLeftoverRegions(): void {
  for (const f of readdirSync('/dev/shm')) if (f.startsWith('xio.t-') && f.includes(`-${process.pid}-`)) rmSync(`/dev/shm/${f}`)
}

export interface Proc {
  child: ChildProcess
  /** JSON lines the process printed so far. */
  lines: Record<string, unknown>[]
  stderr: string[]
  exited: Promise<number | null>
  /** The signal that ended it, if one did. */
  signal: Promise<NodeJS.Signals | null>
}

export function startTraffic(mode: string, prefix: string, name: string, options: object = {}): Proc {
  return startScript(traffic, [mode, prefix, name, JSON.stringify(options)])
}

/** A misbehaving endpoint (test/fixtures/faulty-nf.ts). */
export function startFaulty(mode: string, prefix: string, name: string, options: object = {}): Proc {
  return startScript(faulty, [mode, prefix, name, JSON.stringify(options)])
}

/** An endpoint that attaches, takes a packet, detaches, `rounds` times (test/fixtures/churn.ts). */
export function startChurn(prefix: string, name: string, rounds: number): Proc {
  return startScript(churn, [prefix, name, String(rounds)])
}

/** Runs a script under another command (e.g. `unshare … node`), in its own process tree. */
export function startTrafficUnder(wrapper: string[], mode: string, prefix: string, name: string, options: object = {}): Proc {
  return startScript(traffic, [mode, prefix, name, JSON.stringify(options)], undefined, wrapper)
}

function startScript(script: string, args: string[], as?: { uid: number; gid: number }, wrapper: string[] = []): Proc {
  const argv = [process.execPath, '--import', 'tsx', script, ...args]
  const [command, ...rest] = [...wrapper, ...argv]
  const child = spawn(command, rest, { stdio: ['ignore', 'pipe', 'pipe'], ...as })
  const lines: Record<string, unknown>[] = []
  const stderr: string[] = []
  let buffered = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    let nl
    while ((nl = buffered.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buffered.slice(0, nl)))
      buffered = buffered.slice(nl + 1)
    }
  })
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()))
  // 'close', not 'exit': the process may have exited with output still in its pipes.
  const ended = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>
  return { child, lines, stderr, exited: ended.then(([code]) => code), signal: ended.then(([, signal]) => signal) }
}

/** Polls until `ready()` is true or the timeout passes; returns whether it became true. */
export async function until(ready: () => boolean | Promise<boolean>, timeoutMs = 10_000, everyMs = 10): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await ready()) return true
    await new Promise((r) => setTimeout(r, everyMs))
  }
  return ready()
}

/** SIGTERM, then the last JSON line the process printed. */
export async function stop(p: Proc): Promise<Record<string, unknown>> {
  if (p.child.exitCode === null) p.child.kill('SIGTERM')
  const code = await p.exited
  if (code !== 0) throw new Error(`process ${p.child.pid} exited with ${code}: ${p.stderr.join('')}`)
  return p.lines[p.lines.length - 1]
}

export async function finished(p: Proc): Promise<Record<string, unknown>> {
  const code = await p.exited
  if (code !== 0) throw new Error(`process ${p.child.pid} exited with ${code}: ${p.stderr.join('')}`)
  return p.lines[p.lines.length - 1]
}

const tryScript = fileURLToPath(new URL('../fixtures/try.ts', import.meta.url))

/** Runs test/fixtures/try.ts in a child (optionally as another user) and returns its JSON line. */
export function tryInChild(args: string[], as?: { uid: number; gid: number }, wrapper: string[] = []): Proc {
  return startScript(tryScript, args, as, wrapper)
}

const attachProbe = `import { createRequire } from 'node:module'
const addon = createRequire(import.meta.url)('./xio.node')
const [prefix, name] = process.argv.slice(2)
try {
  const region = addon.Region.attach(prefix, false)
  const endpoint = new addon.Endpoint(region, name, 10)
  console.log(JSON.stringify({ ok: true, id: endpoint.service }))
  endpoint.detach()
  region.close()
} catch (e) {
  console.log(JSON.stringify({ ok: false, code: e.code, message: e.message }))
}
`

/**
 * Attaches as another user from a folder of its own: that user may not be able to enter the
 * checkout (a clone under a 0700 home or mktemp -d folder), so the probe carries the addon
 * with it and needs nothing else from here.
 */
export async function attachAs(as: { uid: number; gid: number }, prefix: string, name: string): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'xio-probe-'))
  try {
    chmodSync(dir, 0o755)
    copyFileSync(fileURLToPath(new URL('../../build/Release/xio.node', import.meta.url)), join(dir, 'xio.node'))
    writeFileSync(join(dir, 'probe.mjs'), attachProbe)
    const child = spawn(process.execPath, [join(dir, 'probe.mjs'), prefix, name], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], ...as })
    let out = '', err = ''
    child.stdout!.on('data', (c: Buffer) => (out += c))
    child.stderr!.on('data', (c: Buffer) => (err += c))
    const [code] = await once(child, 'close') // its output read to the end, not just its exit
    if (code !== 0) throw new Error(`probe exited with ${code}: ${err}`)
    return JSON.parse(out.trim())
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** CPU seconds (user + system) a process, or one thread of it, has used so far. */
export function cpuSeconds(pid: number, tid?: number): number {
  const path = tid ? `/proc/${pid}/task/${tid}/stat` : `/proc/${pid}/stat`
  const stat = readFileSync(path, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // After the command: state is fields[0]; utime and stime are stat fields 14 and 15.
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/**
 * Attaches read-only to the chain on `prefix` once its region exists and `ready` holds of it
 * (a chain just started takes a moment to make either true); undefined if not within timeoutMs.
 */
export async function observeWhen(prefix: string, ready: (s: RegionSnapshot) => boolean, timeoutMs = 20_000): Promise<Observer | undefined> {
  let o: Observer | undefined
  const ok = await until(() => {
    try {
      o ??= observe(prefix)
      return ready(o.view.snapshot())
    } catch {
      return false
    }
  }, timeoutMs, 50)
  if (!ok) o?.close()
  return ok ? o : undefined
}
