#!/usr/bin/env node
// The xio-chain command. TypeScript runs through tsx, registered here so that `npx xio-chain`
// and the NF processes it starts need no build step.
import { register } from 'tsx/esm/api'

register()
await import('../src/cli/main.ts')
