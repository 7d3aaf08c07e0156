// Ports inside a running chain: the generator builds real frames in pool buffers and stops
// after its count; a sink counts what reaches it; a pcap output gets valid frames.
import test from 'ava'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
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
