// A Linux interface as a port of the chain: an AF_PACKET socket bound to it, a TPACKET_V3
// memory-mapped receive ring, and two native threads on one endpoint:
//
//   receiver     kernel RX ring --copy--> pool buffer --tx--> the chain
//   transmitter  the chain --rx--> pool buffer --sendmmsg (the kernel copies)--> interface
//
// One copy each way. Neither thread ever enters JavaScript, so a busy event loop in the
// launcher (a dashboard render) cannot stall traffic. Idle, the receiver sleeps in poll() and
// the transmitter on its slot's futex word.
//
// The two threads share the endpoint without a lock because each works its own rings: the
// receiver consumes the alloc ring and produces on the TX ring; the transmitter consumes the RX
// ring and produces on the free ring. (The marks each publishes read the other's consumer
// index, which only ever tells the manager the truth a little late.)
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "endpoint.h"
#include "os.h"

namespace xio {

struct AfPacketOptions {
  std::string interface;
  uint32_t blockSize = 1u << 18;  // bytes per block of the kernel's RX ring (a power of two)
  uint32_t blocks = 32;           // 8 MiB of ring by default
  uint32_t blockTimeoutMs = 1;    // a block that is not full is handed over after this long
  bool promiscuous = true;
};

struct AfPacketStats {
  uint64_t rxFrames, rxBytes;  // from the interface into the chain
  uint64_t txFrames, txBytes;  // from the chain onto the interface
  uint64_t kernelDrops;        // frames the kernel dropped because the ring was full (PACKET_STATISTICS)
  uint64_t oversize;           // frames larger than a pool buffer, dropped
  uint64_t runts;              // frames shorter than an Ethernet header, dropped
  uint64_t txErrors;           // frames the interface refused (sendmmsg errors), dropped
  uint64_t linkErrors;         // errors the socket reported (the link went down or away)
  uint64_t poolWaits;          // times the receiver found the pool dry and waited
  uint64_t checksumsCompleted; // frames from a local stack whose TCP/UDP checksum was left to the NIC
};

// What the interface offloads that would hand the port frames it cannot forward as they are:
// aggregated (GRO/LRO) frames far beyond the MTU, or TCP/UDP checksums left to the hardware.
struct InterfaceInfo {
  int index;
  uint32_t mtu;
  bool gro, lro, txChecksum;
};

// Throws Failure: NO_INTERFACE, PERMISSION, SYSTEM.
InterfaceInfo interfaceInfo(const std::string& name);

class AfPacketPort {
 public:
  // Opens the interface and starts both threads. Throws Failure: NO_INTERFACE, PERMISSION
  // (no CAP_NET_RAW), MTU_TOO_LARGE (a full frame would not fit a pool buffer), BAD_CONFIG,
  // SYSTEM.
  AfPacketPort(std::shared_ptr<Endpoint> endpoint, const AfPacketOptions& options);
  ~AfPacketPort();
  AfPacketPort(const AfPacketPort&) = delete;
  AfPacketPort& operator=(const AfPacketPort&) = delete;

  // Stops taking frames from the interface (the chain drains what is in flight meanwhile);
  // frames that reach the port still go out. Idempotent.
  void stopReceiving();
  // Stops both threads and closes the socket; idempotent. The endpoint stays attached (its
  // owner detaches it, and the manager takes back what the threads held).
  void stop();
  AfPacketStats stats();
  // Why a thread stopped early (the manager gone, the endpoint cut off), or empty.
  std::string failure();

 private:
  void receiveLoop();
  // The receiver's work; leaves in spare and filled what it holds when it stops.
  void receive(uint32_t* spare, uint32_t& spareCount, uint32_t* filled, uint32_t& filledCount);
  void transmitLoop();
  // Frees what the receiver held when it stopped (the transmitter's job: it owns the free ring).
  void returnLeftovers();
  // Blocks until the receive ring's current block is the user's; false once receiving stops.
  bool awaitBlock();
  void readKernelDrops();  // with statsMutex_ held
  void recordFailure(const Failure& f);
  // Puts descs[0, n) on the TX ring, retrying while the manager makes room, and sets n to 0.
  // Once receiving stops it gives up: false, with what was not sent left in descs[0, n).
  bool transmitAll(uint32_t* descs, uint32_t& n);

  std::shared_ptr<Endpoint> endpoint_;
  std::shared_ptr<Region> region_;
  AfPacketOptions options_;
  int fd_ = -1;
  int ifindex_ = 0;
  bool drives_ = false;  // this port took over the endpoint (and gives it back at stop)
  int stopFd_ = -1;  // an eventfd: wakes the receiver out of poll() to stop
  uint8_t* ring_ = nullptr;
  size_t ringBytes_ = 0;
  uint32_t block_ = 0;  // the receiver's current block
  uint32_t capacity_;   // packet bytes a pool buffer holds
  std::atomic<bool> receiving_{true};
  std::atomic<bool> stopping_{false};
  std::thread receiver_, transmitter_;
  static constexpr uint32_t kBurst = 32;
  uint32_t leftover_[2 * kBurst];
  std::atomic<uint32_t> leftoverCount_{0};

  struct Counters {
    std::atomic<uint64_t> rxFrames{0}, rxBytes{0}, txFrames{0}, txBytes{0}, oversize{0}, runts{0}, txErrors{0},
        linkErrors{0}, poolWaits{0}, checksumsCompleted{0};
  } counters_;
  std::mutex statsMutex_;  // PACKET_STATISTICS resets on read: one reader at a time adds it up
  uint64_t kernelDrops_ = 0;
  std::string failure_;
};

// The chain's symmetric flow hash of an Ethernet frame, as src/packet/flow.ts's
// symmetricFlowHashOf computes it for a parsed IPv4 packet (0 for anything else), so a flow and its replies meet one NF instance
// whichever port they entered by.
uint32_t frameFlowHash(const uint8_t* frame, uint32_t length);

}  // namespace xio
