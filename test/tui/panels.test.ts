// Panels rendered by ink on fixed snapshots: what a user reads, cell by cell.
import test from 'ava'
import { createElement as h } from 'react'
import { render } from 'ink-testing-library'
import chalk from 'chalk'
import { Sampler, type DashboardModel } from '../../src/tui/model.ts'
import { panels } from '../../src/tui/panels/index.ts'
import { Panel, wanted } from '../../src/tui/panels/panel.tsx'
import { after, before, fwNat } from './snapshots.ts'

const ESC = '\x1b'
// Ink colours through chalk, which turns colour off when the output is not a terminal.
chalk.level = 1
const strip = (s: string) => s.replace(new RegExp(`${ESC}\\[[0-9;]*m`, 'g'), '')

function model(): DashboardModel {
  const sampler = new Sampler(fwNat)
  sampler.next({ snapshot: before })
  return sampler.next({ snapshot: after })
}

function show(id: string, width = 120, height?: number, m = model(), topology = fwNat): { text: string; raw: string } {
  const def = panels.find((p) => p.id === id)!
  const content = def.content(m, width, topology)
  const { lastFrame, unmount } = render(h(Panel, { title: def.title, focused: false, width, height: height ?? wanted(content), content }))
  const raw = lastFrame() ?? ''
  unmount()
  return { text: strip(raw), raw }
}

const row = (text: string, start: string) => text.split('\n').find((l) => l.startsWith(start)) ?? ''
const cells = (line: string) => line.trim().split(/\s+/)

test('endpoints: rates in packets/s and bits/s with suffixes, totals, state, restarts', (t) => {
  const { text } = show('endpoints')
  t.regex(text, /endpoint\s+state\s+pid\s+rx pps\s+rx bps\s+tx pps\s+tx bps\s+drop\/s\s+rx tot\s+tx tot\s+drops\s+restarts/)
  t.deepEqual(cells(row(text, 'fw ')), ['fw', 'sleeping', '1002', '20.0k', '10.2M', '18.0k', '9.22M', '2.00k', '70.0k', '63.0k', '7.00k', '0'])
  t.deepEqual(cells(row(text, 'lan ')), ['lan', 'running', '1000', '0', '0', '20.0k', '10.2M', '0', '0', '70.0k', '0', '0'])
})

test('endpoints: the same column for a number whatever its size', (t) => {
  const { text } = show('endpoints')
  const header = row(text, 'endpoint')
  const end = header.indexOf('tx pps') + 'tx pps'.length
  for (const name of ['lan ', 'wan ', 'fw ', 'nat ']) t.is(row(text, name)[end - 1] !== ' ', true, `${name}: tx pps ends under its title`)
})

test('endpoints: a narrow terminal loses totals before rates', (t) => {
  const { text } = show('endpoints', 80)
  const header = row(text, 'endpoint')
  t.true(header.length <= 80)
  for (const title of ['rx pps', 'tx pps', 'drop/s', 'restarts']) t.true(header.includes(title), title)
  t.false(header.includes('pid'))
  t.false(header.includes('tx tot'))
})

test('endpoints and rings: a group\'s long row name is shown whole, its columns still under their titles', (t) => {
  const m = model()
  const label = 'mine(split+count+fw)'
  for (const r of [...m.endpoints, ...m.rings]) if (r.label === 'fw') r.label = label
  for (const id of ['endpoints', 'rings']) {
    const { text } = show(id, 120, undefined, m)
    t.true(row(text, `${label} `).length > 0, `${id}:\n${text}`)
    const header = row(text, 'endpoint')
    t.is(header.indexOf(id === 'endpoints' ? 'state' : 'ring'), label.length + 1, `${id}: the next column starts after the name`)
  }
})

test('rings: used/size, a bar of the right length, enqueue rate and refusals', (t) => {
  const { text } = show('rings', 131)
  const wanRx = row(text, 'wan          rx')
  t.regex(wanRx, /^wan +rx +█{39}▏ +1000\/1024 +98% +20\.0k +[▁-█]* +2\.50k +2\.50k$/, '1000/1024 of a 40-cell bar is 39 cells and an eighth')
  t.regex(row(text, 'nat          rx'), /^nat +rx +█{20}░{20} +512\/1024 +50% +18\.0k +[▁-█]* +0 +0$/)
  t.is(text.split('\n').filter((l) => / (rx|tx) +[█▏▎▍▌▋▊▉░]+ /.test(l)).length, 8, 'a row per ring')
})

test('rings: a sparkline of each ring\'s rate over the last refreshes, dropped first when narrow', (t) => {
  const m = model()
  const rings = m.rings.map((r) => (r.label === 'wan' && r.ring === 'rx' ? { ...r, history: [0, 5_000, 10_000, 20_000] } : r))
  const { text } = show('rings', 131, undefined, { ...m, rings })
  t.regex(row(text, 'wan          rx'), / 20\.0k +▁▃▅█ +2\.50k/)
  t.notRegex(show('rings', 70, undefined, { ...m, rings }).text, /▁▃▅█/)
})

test('rings: colour by fill — green at half, yellow above, red near full', (t) => {
  const { raw } = show('rings')
  const line = (start: string) => raw.split('\n').find((l) => strip(l).startsWith(start))!
  const green = `${ESC}[32m`, yellow = `${ESC}[33m`, red = `${ESC}[31m`
  t.true(line('wan          rx').includes(red), 'wan rx 1000/1024 is red')
  t.true(line('fw           rx').includes(yellow), 'fw rx 600/1024 is yellow')
  t.true(line('nat          rx').includes(green), 'nat rx 512/1024 is green')
  t.false(line('nat          rx').includes(yellow))
})

test('pool and manager', (t) => {
  t.regex(show('pool').text, /in use 1128\/8192 +free 7064 +alloc failures 3/)
  t.regex(show('manager').text, /routed 60\.0k pps +busy +75% +sleeps +12 \( +2\/s\) +wake-ups +15 \( +5\/s\)/)
  t.notRegex(show('manager').text, /refused/, 'a clean chain shows no refusals')
})

test('manager: capture taps, their copies and the copies lost show only while a capture is attached', (t) => {
  const m = model()
  t.notRegex(show('manager', 160).text, /capture/)
  const { text } = show('manager', 160, undefined, { ...m, manager: { ...m.manager, taps: 2, captured: 52_000, captureLost: 300 } })
  t.regex(text, /capture: 2 taps, 52\.0k copies, 300 lost/)
})

test('manager: a faulty NF\'s refused descriptors and cut-off endpoints show, in red', (t) => {
  const m = model()
  const { text, raw } = show('manager', 140, undefined, { ...m, manager: { ...m.manager, refused: 1234, faults: 1 } })
  t.regex(text, /refused 1\.23k +cut off 1/)
  t.true(raw.includes(`${ESC}[31m  refused`))
})

test('NF counters: firewall rule hits by rule comment, NAT mappings', (t) => {
  const { text } = show('nfs')
  t.regex(row(text, 'fw'), /web 63\.0k +ping 12 +default 7\.00k +flow cache hits 99%/)
  t.regex(row(text, 'nat'), /mappings 64 +sessions 64 +created 64 +expired 0 +out 60\.0k +in 0$/)
})

test('NF counters: a NAT instance of several shows what it handed on to the others', (t) => {
  const m = model()
  const nat = { label: 'nat#2', kind: 'nat' as const, counters: { mappingsActive: 0, sessionsActive: 0, sessionsCreated: 0, sessionsExpired: 0, translatedOut: 0, translatedIn: 0, handedOff: 39, 'drop/handoffLoop': 0 } }
  const { text } = show('nfs', 200, undefined, { ...m, nfs: [nat] })
  t.regex(row(text, 'nat#2'), /out 0 +in 0 +handed on 39$/)
})

test('NF counters: an interface port shows its frames, and its kernel drops and errors once there are any', (t) => {
  const m = model()
  const counters = { rxFrames: 1_200_000, rxBytes: 9e8, txFrames: 1_100_000, txBytes: 8e8, kernelDrops: 4_321, oversize: 0, runts: 0, txErrors: 2, linkErrors: 0, poolWaits: 0, checksumsCompleted: 0 }
  const { text } = show('nfs', 120, undefined, { ...m, nfs: [...m.nfs, { label: 'lan', kind: 'interface', counters }] })
  t.regex(row(text, 'lan'), /^lan +rx frames 1\.20M +tx frames 1\.10M +kernel drops 4\.32k +tx errors 2$/)
})

test('NF counters: an NF whose own code threw shows it first, whatever kind of NF', (t) => {
  const m = model()
  const guard = { label: 'guard', kind: 'other' as const, counters: { 'drop/processThrew': 1_500, 'drop/badVerdict': 2, passed: 98_000 } }
  const fw = { ...m.nfs[0], counters: { tickErrors: 1, ...m.nfs[0].counters } }
  const { text } = show('nfs', 140, undefined, { ...m, nfs: [fw, guard] })
  t.regex(row(text, 'guard'), /^guard +process\(\) threw 1\.50k +bad verdicts 2 +passed 98\.0k$/)
  t.regex(row(text, 'fw'), /^fw +tick\(\) threw 1 +web 63\.0k/)
})

test('NF counters: how long an NF takes over a burst, p50 and p99, and per packet', (t) => {
  const m = model()
  const guard = { label: 'guard', kind: 'other' as const, counters: { burstP50Ns: 1024, burstP99Ns: 18_432, nsPerPacket: 45, passed: 7 } }
  const { text } = show('nfs', 140, undefined, { ...m, nfs: [guard] })
  t.regex(row(text, 'guard'), /^guard +burst p50 1\.02µs +p99 18\.4µs +per packet 45ns +passed 7$/)
})

test('NF counters: the top drop reasons of each NF, a firewall\'s drop rules by their comments, the rest summed', (t) => {
  const m = model()
  const nat = { label: 'nat', kind: 'other' as const, counters: { passed: 5, 'drop/noMapping': 1_200, 'drop/malformed': 3, 'drop/fragment': 0 } }
  const fw = { ...m.nfs[0], counters: { ...m.nfs[0].counters, 'drop/rule/3': 40, 'drop/default': 7_000, 'drop/malformed': 2, 'drop/nonIp': 1 } }
  const { text } = show('nfs', 200, undefined, { ...m, nfs: [fw, nat] })
  t.regex(row(text, 'nat'), /^nat +drop noMapping 1\.20k +drop malformed 3 +passed 5$/)
  t.regex(row(text, 'fw'), /^fw +drop default 7\.00k +drop ping 40 +drop malformed 2 +other drops 1 +web/)
})

test('chain: ports and NFs in spec order, gates named', (t) => {
  const { text } = show('chain')
  t.true(text.includes('lan ──▶ fw ──▶ nat ─outside─▶ wan'))
  t.true(text.includes('wan ──▶ nat ─inside─▶ lan'))
})

test('chain: a call inside a placement group drawn apart, and the group named', (t) => {
  const grouped = {
    ...fwNat,
    endpoints: fwNat.endpoints.map((e) => (e.name === 'fw' ? { ...e, group: 'edge', groupMembers: ['fw', 'nat'] } : e.name === 'nat' ? { ...e, group: 'edge' } : e)),
  }
  const { text } = show('chain', 120, undefined, model(), grouped)
  t.true(text.includes('lan ──▶ fw ══▶ nat ─outside─▶ wan'), text)
  t.true(text.includes('wan ──▶ nat ─inside─▶ lan'), text)
  t.true(text.includes('group edge(fw+nat): one process per instance, ══▶ a call inside it'), text)
})

test('throughput: a sparkline of the minute with the latest and peak rates', (t) => {
  const m = { ...model(), throughput: [0, 10_000, 20_000, 60_000] }
  t.regex(show('throughput', 80, undefined, m).text, /▁▂▃█ +now 60\.0k pps +peak 60\.0k pps/)
})

test('a panel cut short says how many rows it hides', (t) => {
  const { text } = show('rings', 120, 5)
  const lines = text.split('\n')
  t.is(lines.length, 5)
  t.regex(lines[1], /^endpoint/)
  t.regex(lines[4], /… 6 more rows \(tab to this panel to see them\)/)
})
