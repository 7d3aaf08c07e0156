import { measureThroughput } from './dataplane.ts'
import { setAffinity } from '../src/xio/index.ts'
setAffinity([0])
for (let i = 0; i < 3; i++) {
  const r = await measureThroughput()
  console.log(r.mpps.toFixed(2), 'Mpps', JSON.stringify(Object.fromEntries(Object.entries(r.ns).map(([k, v]) => [k, +v.toFixed(1)]))))
}
