// Soak (only with --only soak; ten minutes, not in CI): a generator → firewall → NAT → sink
// chain at steady load for SOAK_MINUTES, sampled every 10 s. What must stay flat: each
// process's resident memory, the pool's buffers in use, and the NFs' own tables; what must
// add up: packets sent = received + counted drops. Figures are the last minute beside the
// first, as ratios.
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { observe, type RegionSnapshot } from '../src/xio/index.ts'
import type { Report } from './report.ts'

const MINUTES = Number(process.env.SOAK_MINUTES ?? 10)
const RATE = 100_000
const SAMPLE_MS = 10_000
const root = fileURLToPath(new URL('../', import.meta.url))

const rssKiB = (pid: number) => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0)
  } catch {
    return 0
  }
}

interface Sample {
  rss: Record<string, number>
  inUse: number
  nf: Record<string, number>
  sent: number
  received: number
}

function sample(s: RegionSnapshot, launcher: number): Sample {
  const active = s.slots.filter((x) => x.state === 'active')
  const rss: Record<string, number> = { launcher: rssKiB(launcher) }
  for (const x of active) if (x.name === 'fw' || x.name === 'nat') rss[x.name] = rssKiB(x.pid)
  const nat = active.find((x) => x.name === 'nat')?.nf ?? {}
  return {
    rss,
    inUse: s.pool.inUse,
    nf: { mappingsActive: nat.mappingsActive ?? 0, sessionsActive: nat.sessionsActive ?? 0 },
    sent: active.find((x) => x.name === 'traffic')?.route.txPackets ?? 0,
    received: active.find((x) => x.name === 'sink')?.route.rxPackets ?? 0,
  }
}

export async function run(report: Report): Promise<void> {
  report.section(`Soak: ${MINUTES} min at ${RATE / 1000} kpps through firewall and NAT`)
  const spec = join(tmpdir(), `xio-soak-${process.pid}.json`)
  writeFileSync(spec, JSON.stringify({
    endpoints: {
      traffic: { kind: 'generator', rate: RATE, flows: 4096 },
      fw: { kind: 'firewall', config: { default: 'allow', stateful: true, rules: [{ action: 'drop', proto: 'tcp', dstPort: 23 }] } },
      nat: { kind: 'nat', config: { external: '203.0.113.1', inside: '10.0.0.0/16', timeouts: { udp: 30, udpUnreplied: 10 } } },
      sink: { kind: 'sink' },
    },
    links: ['traffic -> fw', 'fw -> nat', 'nat.outside -> sink', 'nat.inside -> traffic'],
  }))
  const prefix = `bench-soak-${process.pid}`
  const chain = spawn(process.execPath, [join(root, 'bin/xio-chain.js'), 'run', spec, '--no-tui', '--prefix', prefix, '--duration', String(MINUTES * 60 + 30)], { stdio: 'ignore' })
  try {
    let o
    for (let i = 0; i < 200 && !o; i++) {
      try {
        o = observe(prefix)
      } catch {
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    if (!o) throw new Error('the chain did not start')
    const samples: Sample[] = []
    for (let t = 0; t < MINUTES * 60_000; t += SAMPLE_MS) {
      await new Promise((r) => setTimeout(r, SAMPLE_MS))
      samples.push(sample(o.view.snapshot(), chain.pid!))
    }
    const perMinute = 60_000 / SAMPLE_MS
    const first = samples[Math.min(perMinute, samples.length - 1)]  // after a minute's warm-up
    const last = samples.at(-1)!
    for (const name of Object.keys(last.rss))
      report.compare(`${name} resident memory, last sample`, last.rss[name] / 1024, 'MiB', 'the same a minute in', first.rss[name] / 1024, 'lower')
    report.compare('pool buffers in use, last sample', last.inUse, 'buffers', 'a minute in', first.inUse, 'lower')
    report.compare('NAT sessions active, last sample', last.nf.sessionsActive, 'sessions', 'a minute in', first.nf.sessionsActive, 'lower')
    report.compare('packets received by the sink', last.received, 'packets', 'sent by the generator', last.sent, 'higher')
    o.close()
  } finally {
    chain.kill('SIGINT')
    await new Promise((r) => chain.once('exit', r))
    execFileSync('rm', ['-f', spec])
  }
}
