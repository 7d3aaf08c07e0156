// The built-in NFs, by the kind a spec names them with. Each is a module of the same shape as
// an NF of one's own (defineNF: name, gates, its config's schema beside its code, create);
// the chain knows them only through this list.
import type { NFModule } from '../xio/nf-types.ts'
import l2fwd from './l2fwd/index.ts'
import firewall from './firewall/index.ts'
import nat from './nat/index.ts'
import router from './router/index.ts'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const builtinNFs: Record<string, NFModule<any>> = { l2fwd, firewall, nat, router }
