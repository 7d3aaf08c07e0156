// Ports inside a running chain: the generator builds real frames in pool buffers and stops
// after its count; a sink counts what reaches it; a pcap output gets valid frames.
import test from 'ava'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PcapWriter, readPcap } from '../../src/chain/pcap.ts'
import { ipv4Frame } from '../../src/testing/frames.ts'
import { tsharkFields, xioChain } from '../helpers/cli.ts'
import { uniquePrefix } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'

test('a generator sends exactly its count of valid frames through an NF to its outputs', async (t) => {
  const dir = scratchDir('ports')
  const spec = {
    endpoints: {
      gen: { kind: 'generator', count: 3000, flows: 16, size: 128, proto: 'tcp', dst: '198.51.100.0/24', dstPort: 443 },
      fwd: { kind: 'l2fwd' },
      sink: { kind: 'pcap', output: 'out.pcap' },
    },
    links: ['gen -> fwd', 'fwd -> sink'],
  }
  writeFileSync(join(dir, 'gen.json'), JSON.stringify(spec))
  const r = await xioChain(['run', join(dir, 'gen.json'), '--no-tui', '--duration', '4', '--prefix', uniquePrefix('gen')])
  t.is(r.code, 0, r.stderr)
  t.regex(r.stdout, /gen: \{"sent":3000\}/)
  t.regex(r.stdout, /sink: \{"sent":0,"written":3000,/)
  const rows = await tsharkFields(join(dir, 'out.pcap'), ['frame.len', 'ip.dst', 'tcp.dstport', 'ip.checksum.status', 'tcp.checksum.status'])
  t.is(rows.length, 3000)
  t.true(rows.every(([len, dst, port, ipOk, tcpOk]) => len === '128' && dst.startsWith('198.51.100.') && port === '443' && ipOk === '1' && tcpOk === '1'))
  t.is(new Set(rows.map((r) => r[1])).size, 16, 'one destination per flow')
})

test('in a run, a pcap output stamps each frame with when it reached it, as tcpdump does: a looped capture\'s old times never come out, and time never goes back', async (t) => {
  const dir = scratchDir('ports')
  const frame = ipv4Frame({ src: '10.0.0.2', dst: '198.51.100.1', proto: 'udp', srcPort: 5000, dstPort: 53, payload: 20 })
  // Captured in November 2023, a second apart.
  const old = 1_700_000_000_000_000_000n
  const w = new PcapWriter(join(dir, 'old.pcap'))
  for (let i = 0n; i < 3n; i++) w.write(frame, 0, frame.length, old + i * 1_000_000_000n)
  w.close()
  writeFileSync(join(dir, 'loop.json'), JSON.stringify({
    endpoints: { lan: { kind: 'pcap', input: 'old.pcap', loop: 5 }, fwd: { kind: 'l2fwd' }, out: { kind: 'pcap', output: 'out.pcap' } },
    links: ['lan -> fwd', 'fwd -> out'],
  }))
  const started = BigInt(Date.now()) * 1_000_000n
  const r = await xioChain(['run', join(dir, 'loop.json'), '--no-tui', '--duration', '2', '--prefix', uniquePrefix('stamps')])
  const ended = BigInt(Date.now()) * 1_000_000n
  t.is(r.code, 0, r.stderr)
  const times = (await readPcap(join(dir, 'out.pcap'))).records.map((x) => x.timestampNs)
  t.is(times.length, 15)
  t.true(times.every((ns) => ns >= started - 1_000_000n && ns <= ended + 1_000_000n), 'stamped during the run')
  t.true(times.every((ns, i) => i === 0 || ns >= times[i - 1]), 'in order')
})
