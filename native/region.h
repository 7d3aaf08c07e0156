// A region: the shared-memory object /dev/shm/xio.<prefix>, mapped into this process.
//
// The manager's process creates it (create), everyone else attaches (attach). One prefix is
// one isolation domain: a process can reach only the regions it attached to by name.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

#include "layout.h"

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
};

class Region {
 public:
  // Throws Failure: ALREADY_OWNED, BAD_CONFIG, PERMISSION, SYSTEM.
  static std::shared_ptr<Region> create(const std::string& prefix, const RegionConfig& config);
  // Throws Failure: NO_REGION, PERMISSION, NOT_A_REGION, LAYOUT_VERSION, MANAGER_GONE.
  // A read-only attach maps the region read-only: an observer cannot disturb the data path
  // (a stray write faults in the observer, never reaches others).
  static std::shared_ptr<Region> attach(const std::string& prefix, bool readOnly);
  ~Region();

  Header* header() const { return reinterpret_cast<Header*>(base_); }
  uint8_t* base() const { return base_; }
  size_t size() const { return size_; }
  bool owner() const { return owner_; }
  const std::string& prefix() const { return prefix_; }

  Service* service(uint32_t i) const;
  Slot* slot(uint32_t i) const;
  Ring* ring(uint32_t slot, SlotRing which) const;
  Meta* meta(uint32_t buffer) const;
  uint16_t* owners() const;
  uint32_t* poolStack() const;  // poolFree entries

  int serviceByName(const std::string& name) const;  // -1 if not declared
  bool managerAlive() const;

  // Removes the shared-memory name (owner only); mapped views stay valid until unmapped.
  void unlink();

 private:
  Region(std::string prefix, uint8_t* base, size_t size, bool owner)
      : prefix_(std::move(prefix)), base_(base), size_(size), owner_(owner) {}
  std::string prefix_;
  uint8_t* base_;
  size_t size_;
  void releaseLock();
  bool owner_;
  bool unlinked_ = false;
  int lockFd_ = -1;  // the creator's: holds the flock that says a live manager owns the prefix
  mutable std::atomic<uint64_t> aliveCheckedAt_{0};
  mutable std::atomic<bool> alive_{false};
};

std::string shmName(const std::string& prefix);
void validatePrefix(const std::string& prefix);

}  // namespace xio
