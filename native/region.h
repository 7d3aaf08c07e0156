// A region: the shared-memory object /dev/shm/xio.<prefix>, mapped into this process.
//
// The manager's process creates it (create), everyone else attaches (attach). One prefix is
// one isolation domain: a process can reach only the regions it attached to by name.
#pragma once

#include <atomic>
#include <bitset>
#include <cstddef>
#include <mutex>
#include <memory>
#include <string>

#include "layout.h"
#include "ring.h"

namespace xio {

struct RegionConfig {
  uint32_t slots = 32;
  uint32_t ringSize = 1024;
  uint32_t cacheSize = 256;
  uint32_t bufferCount = 16384;
  uint32_t bufferSize = 2048;
  uint32_t headroom = 128;
  uint32_t mode = 0600;  // 0660 with a group lets that group's processes attach
  int gid = -1;
  std::string chainFile;  // recorded in the header for observers
};

// Where everything lives, computed from a config. Every process keeps its own copy: the
// header's copy is only compared against it at attach, never used to index.
struct Geometry {
  uint32_t slots, ringSize, cacheSize, bufferCount, bufferSize, bufferStride, dataOffset;
  size_t doorbellOffset, servicesOffset, slotsOffset, buffersOffset, total;
  uint32_t slotStride, managerSideOffset, endpointEntries, managerEntries;
};
Geometry geometryOf(const RegionConfig& config);

class Region {
 public:
  // Throws Failure: ALREADY_OWNED, BAD_CONFIG, PERMISSION, SYSTEM.
  static std::shared_ptr<Region> create(const std::string& prefix, const RegionConfig& config);
  // Throws Failure: NO_REGION, PERMISSION, NOT_A_REGION, LAYOUT_VERSION, MANAGER_GONE.
  // A read-only attach maps everything read-only (an observer cannot disturb the data path);
  // a read-write attach (an endpoint) can write only the doorbell and the buffers until it
  // claims a slot, and then that slot's endpoint side too. A stray write anywhere else faults
  // in the writer, never reaches others.
  static std::shared_ptr<Region> attach(const std::string& prefix, bool readOnly);
  ~Region();

  const Geometry& geometry() const { return g_; }
  Header* header() const { return reinterpret_cast<Header*>(base_); }
  Doorbell* doorbell() const { return reinterpret_cast<Doorbell*>(base_ + g_.doorbellOffset); }
  uint8_t* base() const { return base_; }
  size_t size() const { return g_.total; }
  bool owner() const { return owner_; }
  // The chain spec the region runs now (a reload's), for observers; the creator only.
  void recordChainFile(const std::string& path) const;
  const std::string& prefix() const { return prefix_; }

  Service* service(uint32_t i) const { return reinterpret_cast<Service*>(base_ + g_.servicesOffset) + i; }
  EndpointSide* endpointSide(uint32_t slot) const {
    return reinterpret_cast<EndpointSide*>(base_ + g_.slotsOffset + size_t(g_.slotStride) * slot);
  }
  ManagerSide* managerSide(uint32_t slot) const {
    return reinterpret_cast<ManagerSide*>(base_ + g_.slotsOffset + size_t(g_.slotStride) * slot + g_.managerSideOffset);
  }
  RingRef ring(uint32_t slot, SlotRing which) const;
  Meta* meta(uint32_t buffer) const { return reinterpret_cast<Meta*>(base_ + g_.buffersOffset + size_t(g_.bufferStride) * buffer); }

  int serviceByName(const std::string& name) const;  // -1 if not declared
  bool managerAlive() const;

  // Slot leases (see kSlotLeaseBase). tryLease takes slot's lease on this mapping's open file;
  // another process's lease on it makes it fail. leaseHeld asks whether anyone else holds it.
  bool tryLease(uint32_t slot) const;
  void releaseLease(uint32_t slot) const;
  // Lets this (read-write, attached) mapping write the slot's endpoint side, or not any more.
  void openEndpointSide(uint32_t slot) const;
  void closeEndpointSide(uint32_t slot) const;

  // A second open of the same file, for asking about leases: locks taken through this
  // mapping's own open file would not show as held by someone else.
  int openLeaseQuery() const;

  // Removes the shared-memory name (owner only); mapped views stay valid until unmapped.
  void unlink();

 private:
  Region(std::string prefix, uint8_t* base, const Geometry& g, int fd, bool owner)
      : prefix_(std::move(prefix)), base_(base), g_(g), fd_(fd), owner_(owner) {}
  std::string prefix_;
  uint8_t* base_;
  Geometry g_;
  int fd_;  // kept open: the leases (OFD locks) live on it
  bool owner_;
  bool unlinked_ = false;
  // Slots leased through this open file: OFD locks of one open file never conflict with each
  // other, so two endpoints of one process sharing this Region are kept apart here.
  mutable std::mutex leasesMutex_;
  mutable std::bitset<kMaxSlots> leasedHere_;
  mutable std::atomic<uint64_t> aliveCheckedAt_{0};
  mutable std::atomic<bool> alive_{false};
};

// Whether any open file other than fd's holds a lock on the byte at offset.
bool leaseHeld(int fd, uint64_t offset);

// What is left of a prefix a manager no longer holds, for `xio-chain clean`: removes
// /dev/shm/xio.<prefix> if no live manager (or creator) holds it. Returns true if it removed
// it; false if it is in use or gone already. Throws Failure PERMISSION or SYSTEM.
bool removeIfStale(const std::string& prefix);

std::string shmName(const std::string& prefix);
void validatePrefix(const std::string& prefix);

}  // namespace xio
