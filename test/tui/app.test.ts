// The whole screen on fixed snapshots: fitting the terminal, keys, pause.
import test from 'ava'
import { createElement as h } from 'react'
import { render } from 'ink-testing-library'
import { App, type Feed } from '../../src/tui/app.tsx'
import { Sampler, type DashboardModel } from '../../src/tui/model.ts'
import { after, before, fwNat } from './snapshots.ts'

class TestFeed implements Feed {
  latest: DashboardModel | null
  listeners = new Set<(m: DashboardModel) => void>()
  constructor(first: DashboardModel) {
    this.latest = first
  }
  current = () => this.latest
  subscribe(l: (m: DashboardModel) => void) {
    this.listeners.add(l)
    return () => void this.listeners.delete(l)
  }
  publish(m: DashboardModel) {
    this.latest = m
    for (const l of this.listeners) l(m)
  }
}

function models() {
  const sampler = new Sampler(fwNat)
  const first = sampler.next({ snapshot: before })
  const second = sampler.next({ snapshot: after })
  return { first, second }
}

const tick = () => new Promise((r) => setTimeout(r, 50))

/** Waits until `ok()` holds (ink re-renders after a key asynchronously); false after 3 s. */
async function eventually(ok: () => boolean): Promise<boolean> {
  for (const deadline = Date.now() + 3000; Date.now() < deadline; await tick()) if (ok()) return true
  return ok()
}

function screen(size: { columns: number; rows: number }, owns = true) {
  const { first, second } = models()
  const feed = new TestFeed(second)
  let quits = 0
  const ui = render(h(App, { feed, owns, onQuit: () => quits++, size }))
  return { ui, feed, first, second, quits: () => quits }
}

test('every panel and the help line fit a 120×40 terminal', (t) => {
  const { ui } = screen({ columns: 120, rows: 40 })
  const lines = ui.lastFrame()!.split('\n')
  t.true(lines.length <= 40)
  t.true(lines.every((l) => l.length <= 120))
  for (const title of ['Chain', 'Endpoints', 'Rings', 'Pool', 'Manager', 'Throughput', 'NF counters']) t.true(lines.some((l) => l.includes(` ${title}`)), title)
  t.regex(lines.at(-1)!, /q quit \(stops the chain\) · p freeze display · tab\/arrows: next panel/)
  t.false(ui.lastFrame()!.includes('more row'))
  ui.unmount()
})

test('an 80×24 terminal: the focused panel in full, the others cut with a count', (t) => {
  const { ui } = screen({ columns: 80, rows: 24 })
  const lines = ui.lastFrame()!.split('\n')
  t.true(lines.length <= 24, `${lines.length} lines`)
  t.true(lines.every((l) => l.length <= 80))
  t.regex(ui.lastFrame()!, /more rows? \(tab to this panel/)
  ui.unmount()
})

test('too small a terminal says so instead of drawing', (t) => {
  const { ui } = screen({ columns: 50, rows: 10 })
  t.regex(ui.lastFrame()!, /^Terminal 50×10 is too small for the dashboard: it needs 60×\d+\. Enlarge it, or press q to quit\./)
  ui.unmount()
})

test.serial('q quits, and the help line says whether that stops the chain', async (t) => {
  const { ui, quits } = screen({ columns: 120, rows: 40 }, false)
  t.regex(ui.lastFrame()!, /q quit · p freeze display/)
  await tick()
  ui.stdin.write('q')
  t.true(await eventually(() => quits() === 1))
  ui.unmount()
})

test.serial('tab and the arrows move the focus between panels', async (t) => {
  const { ui } = screen({ columns: 120, rows: 40 })
  const focused = () => /next panel \((.+)\)/.exec(ui.lastFrame()!)?.[1]
  t.is(focused(), 'Chain')
  await tick()
  ui.stdin.write('\t')
  t.true(await eventually(() => focused() === 'Endpoints'), `${focused()}`)
  ui.stdin.write('\x1b[C')
  t.true(await eventually(() => focused() === 'Rings'), `${focused()}`)
  ui.stdin.write('\x1b[D')
  t.true(await eventually(() => focused() === 'Endpoints'), `${focused()}`)
  ui.stdin.write('\x1b[D')
  t.true(await eventually(() => focused() === 'Chain'), `${focused()}`)
  ui.stdin.write('\x1b[A')
  t.true(await eventually(() => focused() === 'NF counters'), `wraps around: ${focused()}`)
  ui.unmount()
})

test.serial('p freezes the numbers while the feed goes on; p again shows the latest', async (t) => {
  const { ui, feed, first, second } = screen({ columns: 120, rows: 40 })
  const fwRow = () => ui.lastFrame()!.split('\n').find((l) => l.startsWith('fw '))!
  t.regex(fwRow(), /20\.0k/)
  await tick()
  ui.stdin.write('p')
  t.true(await eventually(() => /DISPLAY FROZEN, traffic flows on/.test(ui.lastFrame()!)))
  feed.publish(first)
  await tick()
  t.regex(fwRow(), /20\.0k/, 'still the paused numbers')
  ui.stdin.write('p')
  t.true(await eventually(() => !/DISPLAY FROZEN, traffic flows on/.test(ui.lastFrame()!)))
  t.true(await eventually(() => !/20\.0k/.test(fwRow())), 'the latest model: the first sample, no rates')
  feed.publish(second)
  t.true(await eventually(() => /20\.0k/.test(fwRow())))
  ui.unmount()
})
