// `xio-chain/testing`: NF tests without the data plane (harness.ts).
export { harness, Harness, type HarnessOptions, type Outcome, type Sent, type SendOptions } from './harness.ts'
