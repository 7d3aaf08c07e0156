// Processes and chains for the socket tests: a chain's manager in the test process (or a real
// `xio-chain run`), servers and clients in processes of their own, each printing JSON lines.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { Manager } from '../../src/xio/index.ts'
import { uniquePrefix, until } from '../helpers/processes.ts'

export interface Child {
  child: ChildProcess
  lines: Record<string, unknown>[]
  stderr: () => string
  exited: Promise<[number | null, NodeJS.Signals | null]>
  /** Waits for a JSON line that satisfies `match`; throws after timeoutMs. */
  line(match: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>
}

const started = new Set<ChildProcess>()
process.on('exit', () => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
})

export function fixture(name: string, args: string[]): Child {
  return spawnJsonLines(fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)), args)
}

/** A process running `script` (through tsx), read as one JSON object a line; killed when the test process exits. */
export function spawnJsonLines(script: string, args: string[], env: NodeJS.ProcessEnv = process.env): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env })
  started.add(child)
  const lines: Record<string, unknown>[] = []
  let err = '', buffered = ''
  child.stdout!.on('data', (c: Buffer) => {
    buffered += c
    let nl
    while ((nl = buffered.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buffered.slice(0, nl)))
      buffered = buffered.slice(nl + 1)
    }
  })
  child.stderr!.on('data', (c: Buffer) => (err += c))
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  void exited.then(() => started.delete(child))
  return {
    child,
    lines,
    stderr: () => err,
    exited,
    async line(match, timeoutMs = 20_000) {
      let found: Record<string, unknown> | undefined
      const ok = await until(() => (found = lines.find(match)) !== undefined || child.exitCode !== null, timeoutMs, 5)
      if (!ok || !found) throw new Error(`no such line from ${script} (exit ${child.exitCode}); lines: ${JSON.stringify(lines)}; stderr: ${err}`)
      return found
    },
  }
}

/** An echo server (fixtures/echo-server.ts) listening as `service` on `port`, once it listens. */
export async function echoServer(prefix: string, service: string, port: number, options: object = {}): Promise<Child> {
  const c = fixture('echo-server.ts', [prefix, service, String(port), JSON.stringify(options)])
  await c.line((l) => l.listening === true)
  return c
}

/** SIGTERM, and the report the fixture prints on it. */
export async function report(c: Child): Promise<Record<string, unknown>> {
  const before = c.lines.length
  c.child.kill('SIGTERM')
  const [code] = await c.exited
  if (code !== 0) throw new Error(`fixture exited with ${code}: ${c.stderr()}`)
  return c.lines[c.lines.length - 1] ?? (before ? c.lines[before - 1] : {})
}

export function kill(c: Child): Promise<unknown> {
  if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL')
  return c.exited
}

/** A chain whose manager runs in this process, declaring the services named. */
export function chainOf(tag: string, services: string[], options: { buffers?: number; bufferSize?: number } = {}): Manager {
  const m = Manager.create({ prefix: uniquePrefix(tag), buffers: options.buffers ?? 8192, bufferSize: options.bufferSize })
  for (const s of services) m.declare(s)
  m.start()
  return m
}

/** Resolves with the event's arguments, or rejects with the socket's error. */
export function event<T = unknown>(emitter: NodeJS.EventEmitter, name: string): Promise<T> {
  return once(emitter, name).then((args) => args[0] as T)
}

/** 'close' and its hadError, whether or not an 'error' came first. */
export function closeOf(emitter: NodeJS.EventEmitter): Promise<boolean> {
  return new Promise((resolve) => emitter.once('close', (hadError?: boolean) => resolve(hadError === true)))
}
