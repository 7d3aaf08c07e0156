// The refresh loop: about twice a second it reads a snapshot of the region (only reads: an
// observer's mapping is copy-on-write anyway), turns it into a model and publishes it to the
// screen. It owns the terminal while it runs (alternate screen, as top does) and gives it back
// as it found it, however the dashboard ends: q, a signal, the deadline, or the chain gone.
import { render } from 'ink'
import { App, type Feed } from './app.tsx'
import { Sampler, type DashboardModel, type Sample } from './model.ts'
import type { Topology } from './topology.ts'

export interface DashboardSource {
  /** The chain to draw now: a reload may change it between two reads. */
  topology(): Topology
  /** A snapshot of the region, and what the launcher knows of NF exits. */
  read(): Sample
  /** Why there is nothing left to watch (the chain stopped or failed), or null. */
  gone(): string | null
}

export interface DashboardOptions {
  /** Whether quitting stops the chain (run) or only the watching (top). */
  owns: boolean
  intervalMs?: number
  /** Ends the dashboard after this long (run --duration). */
  durationMs?: number
  stdout?: NodeJS.WriteStream
  stdin?: NodeJS.ReadStream
}

export type DashboardEnd = { reason: 'quit' } | { reason: 'gone'; message: string }

class ModelFeed implements Feed {
  private latest: DashboardModel | null = null
  private readonly listeners = new Set<(m: DashboardModel) => void>()
  current = () => this.latest
  subscribe(listener: (m: DashboardModel) => void) {
    this.listeners.add(listener)
    return () => void this.listeners.delete(listener)
  }
  publish(model: DashboardModel) {
    this.latest = model
    for (const l of this.listeners) l(model)
  }
}

const ALT_SCREEN_ON = '\x1b[?1049h\x1b[H'
const ALT_SCREEN_OFF = '\x1b[?1049l'
const SHOW_CURSOR = '\x1b[?25h'

export function showDashboard(source: DashboardSource, options: DashboardOptions): Promise<DashboardEnd> {
  const stdout = options.stdout ?? process.stdout
  const stdin = options.stdin ?? process.stdin
  let topology = source.topology()
  const sampler = new Sampler(topology)
  const feed = new ModelFeed()
  let finish!: (end: DashboardEnd) => void
  const ended = new Promise<DashboardEnd>((resolve) => (finish = resolve))

  const tick = () => {
    try {
      const why = source.gone()
      if (why) return finish({ reason: 'gone', message: why })
      const now = source.topology()
      if (now !== topology) sampler.setTopology((topology = now))
      feed.publish(sampler.next(source.read()))
    } catch (e) {
      finish({ reason: 'gone', message: (e as Error).message })
    }
  }
  tick()
  const timer = setInterval(tick, options.intervalMs ?? 500)
  const deadline = options.durationMs === undefined ? null : setTimeout(() => finish({ reason: 'quit' }), options.durationMs)
  const quit = () => finish({ reason: 'quit' })
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
  for (const s of signals) process.on(s, quit)

  stdout.write(ALT_SCREEN_ON)
  const ink = render(<App feed={feed} owns={options.owns} onQuit={quit} keys={stdin.isTTY === true} />, {
    stdout,
    stdin,
    exitOnCtrlC: false,
    patchConsole: true,
  })

  return ended.then((end) => {
    clearInterval(timer)
    if (deadline) clearTimeout(deadline)
    for (const s of signals) process.off(s, quit)
    ink.unmount()
    ink.cleanup()
    stdout.write(ALT_SCREEN_OFF + SHOW_CURSOR)
    // Ink leaves stdin paused but referenced after raw mode; let the process end.
    if (stdin.isTTY) stdin.unref()
    return end
  })
}
