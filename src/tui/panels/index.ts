// The dashboard's panels, in screen order. Tab and the arrows move the focus along this list.
import type { DashboardModel } from '../model.ts'
import type { Topology } from '../topology.ts'
import { chainContent } from './chain.tsx'
import { endpointsContent } from './endpoints.tsx'
import { managerContent } from './manager.tsx'
import { nfsContent } from './nfs.tsx'
import type { PanelContent } from './panel.tsx'
import { poolContent } from './pool.tsx'
import { ringsContent } from './rings.tsx'
import { throughputContent } from './throughput.tsx'

export interface PanelDef {
  id: string
  title: string
  content(model: DashboardModel, width: number, topology: Topology): PanelContent
}

export const panels: PanelDef[] = [
  { id: 'chain', title: 'Chain', content: (_m, _w, t) => chainContent(t) },
  { id: 'endpoints', title: 'Endpoints', content: endpointsContent },
  { id: 'rings', title: 'Rings', content: ringsContent },
  { id: 'pool', title: 'Pool', content: poolContent },
  { id: 'manager', title: 'Manager', content: managerContent },
  { id: 'throughput', title: 'Throughput (routed, last minute)', content: throughputContent },
  { id: 'nfs', title: 'NF counters', content: nfsContent },
]
