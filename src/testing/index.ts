// `xio-chain/testing`: NF tests without the data plane (harness.ts).
export { harness, Harness, MARKER, type HarnessOptions, type HandedOff, type NFState, type Outcome, type Sent, type SendOptions } from './harness.ts'
// Captures to test with, and to read what a replay wrote.
export { PcapWriter, readPcap, type PcapCapture, type PcapRecord } from '../chain/pcap.ts'
// Frames to give the NF: IPv4, IPv6 and ARP, checksums right.
export { arpFrame, ipv4Frame, ipv6Frame, type FrameSpec, type Ipv6FrameSpec } from './frames.ts'
