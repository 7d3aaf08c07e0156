#include "region.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <new>

#include "os.h"
#include "ring.h"

namespace xio {

namespace {

constexpr size_t kPage = 4096;

size_t alignUp(size_t n, size_t to) { return (n + to - 1) / to * to; }
bool powerOfTwo(uint32_t n) { return n && !(n & (n - 1)); }

[[noreturn]] void fail(const std::string& code, const std::string& message) { throw Failure{code, message}; }

std::string path(const std::string& prefix) { return "/dev/shm" + shmName(prefix); }

[[noreturn]] void failOpen(const std::string& prefix, int err, bool creating) {
  if (err == EACCES || err == EPERM)
    fail("PERMISSION", "permission denied opening " + path(prefix) +
                           ": the region belongs to another user; run as that user, or have the chain "
                           "created with a group (mode 0660) that includes you");
  if (err == ENOENT)
    fail("NO_REGION", "no xio region for prefix '" + prefix + "' (" + path(prefix) +
                          " does not exist): is a chain running with `xio-chain run` on this prefix?");
  fail("SYSTEM", std::string(creating ? "creating " : "opening ") + path(prefix) + ": " + strerror(err));
}

struct Geometry {
  size_t servicesOffset, slotsOffset, ringsOffset, ownersOffset, poolOffset, buffersOffset, total;
  uint32_t slotStride, ringStride;
};

Geometry geometry(const RegionConfig& c) {
  Geometry g;
  g.servicesOffset = kPage;
  g.slotsOffset = alignUp(g.servicesOffset + sizeof(Service) * kMaxServices, kPage);
  g.slotStride = uint32_t(alignUp(sizeof(Slot), kCacheLine));
  g.ringsOffset = alignUp(g.slotsOffset + size_t(g.slotStride) * c.slots, kPage);
  g.ringStride = uint32_t(alignUp(sizeof(Ring) + sizeof(uint32_t) * c.ringSize, kCacheLine));
  g.ownersOffset = alignUp(g.ringsOffset + size_t(g.ringStride) * kRingsPerSlot * c.slots, kPage);
  g.poolOffset = alignUp(g.ownersOffset + sizeof(uint16_t) * c.bufferCount, kPage);
  g.buffersOffset = alignUp(g.poolOffset + sizeof(uint32_t) * c.bufferCount, kPage);
  g.total = alignUp(g.buffersOffset + size_t(c.bufferSize) * c.bufferCount, kPage);
  return g;
}

void validateConfig(const RegionConfig& c) {
  if (c.slots < 1 || c.slots > kMaxSlots) fail("BAD_CONFIG", "slots must be 1.." + std::to_string(kMaxSlots));
  if (!powerOfTwo(c.ringSize) || c.ringSize < 64 || c.ringSize > (1u << 20))
    fail("BAD_CONFIG", "ringSize must be a power of two from 64 to 1048576, got " + std::to_string(c.ringSize));
  if (c.cacheSize < 32 || c.cacheSize > c.ringSize)
    fail("BAD_CONFIG", "cacheSize must be from 32 to ringSize, got " + std::to_string(c.cacheSize));
  if (c.bufferCount < 64 || c.bufferCount >= kOwnerPool)
    fail("BAD_CONFIG", "buffers must be from 64 to 65534, got " + std::to_string(c.bufferCount));
  if (c.bufferSize % kCacheLine || c.bufferSize < 256 || c.bufferSize > (1u << 16))
    fail("BAD_CONFIG", "bufferSize must be a multiple of 64 from 256 to 65536, got " + std::to_string(c.bufferSize));
  if (c.headroom % 8 || kMetaSize + c.headroom + 64 > c.bufferSize)
    fail("BAD_CONFIG", "headroom must be a multiple of 8 leaving at least 64 packet bytes per buffer");
}

// Maps the header alone to ask whether a live manager still owns an existing region.
// The creating manager holds an exclusive flock on the region for its whole life, from the
// moment it creates the name: the kernel drops it when that process dies, however it dies.
bool ownedByLiveManager(const std::string& prefix, uint32_t* pid) {
  int fd = shm_open(shmName(prefix).c_str(), O_RDONLY, 0);
  if (fd < 0) return false;
  struct stat st;
  if (flock(fd, LOCK_SH | LOCK_NB) != 0) {
    *pid = 0;  // it may not have sized the file, let alone written the header, yet
    void* p = fstat(fd, &st) == 0 && size_t(st.st_size) >= kPage ? mmap(nullptr, kPage, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
    if (p != MAP_FAILED) {
      *pid = static_cast<Header*>(p)->managerPid;
      munmap(p, kPage);
    }
    close(fd);
    return true;
  }
  bool live = false;
  if (fstat(fd, &st) == 0 && size_t(st.st_size) >= kPage) {
    void* p = mmap(nullptr, kPage, PROT_READ, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) {
      auto* h = static_cast<Header*>(p);
      live = h->magic == kMagic && h->version == kLayoutVersion && h->state.load() == kRegionReady &&
             processAlive(int(h->managerPid), h->managerStartTime);
      *pid = h->managerPid;
      munmap(p, kPage);
    }
  }
  close(fd);
  return live;
}

}  // namespace

std::string shmName(const std::string& prefix) { return "/xio." + prefix; }

void validatePrefix(const std::string& prefix) {
  bool ok = !prefix.empty() && prefix.size() <= 64;
  for (char c : prefix) ok = ok && (isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
  if (!ok) fail("BAD_PREFIX", "prefix '" + prefix + "' must be 1-64 characters of letters, digits, '-', '_' or '.'");
}

std::shared_ptr<Region> Region::create(const std::string& prefix, const RegionConfig& c) {
  validatePrefix(prefix);
  validateConfig(c);
  std::string name = shmName(prefix);
  int fd = -1;
  for (int attempt = 0; attempt < 2 && fd < 0; attempt++) {
    fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, c.mode);
    if (fd >= 0 || errno != EEXIST) break;
    uint32_t pid = 0;
    if (ownedByLiveManager(prefix, &pid))
      fail("ALREADY_OWNED", "prefix '" + prefix + "' is owned by a running manager" +
                                (pid ? " (pid " + std::to_string(pid) + ")" : " (still starting)") +
                                "; stop that chain or choose another prefix");
    // Left behind by a manager that died: never trust its contents, start afresh.
    shm_unlink(name.c_str());
  }
  if (fd < 0) failOpen(prefix, errno, true);
  // Held until this process unlinks the region or dies (see ownedByLiveManager). A creator
  // that lost the race to another one between open and lock finds it taken and gives up.
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    fail("ALREADY_OWNED", "prefix '" + prefix + "' is being created by another manager at this moment");
  }

  Geometry g = geometry(c);
  // The umask must not narrow the mode asked for, and a group grant needs the group set.
  if (fchmod(fd, c.mode) != 0 || (c.gid >= 0 && fchown(fd, uid_t(-1), gid_t(c.gid)) != 0) ||
      ftruncate(fd, off_t(g.total)) != 0) {
    int err = errno;
    close(fd);
    shm_unlink(name.c_str());
    fail("SYSTEM", "sizing " + path(prefix) + " to " + std::to_string(g.total) + " bytes: " + strerror(err));
  }
  void* p = mmap(nullptr, g.total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  int err = errno;
  if (p == MAP_FAILED) {
    close(fd);
    shm_unlink(name.c_str());
    fail("SYSTEM", "mapping " + path(prefix) + ": " + strerror(err));
  }
  std::shared_ptr<Region> r(new Region(prefix, static_cast<uint8_t*>(p), g.total, true));
  r->lockFd_ = fd;

  Header* h = r->header();
  h->version = kLayoutVersion;
  h->headerSize = sizeof(Header);
  h->regionSize = g.total;
  h->slotCount = c.slots;
  h->serviceCount = kMaxServices;
  h->ringSize = c.ringSize;
  h->cacheSize = c.cacheSize;
  h->bufferCount = c.bufferCount;
  h->bufferSize = c.bufferSize;
  h->dataOffset = kMetaSize + c.headroom;
  h->slotStride = g.slotStride;
  h->ringStride = g.ringStride;
  h->servicesOffset = g.servicesOffset;
  h->slotsOffset = g.slotsOffset;
  h->ringsOffset = g.ringsOffset;
  h->ownersOffset = g.ownersOffset;
  h->poolOffset = g.poolOffset;
  h->buffersOffset = g.buffersOffset;
  h->managerPid = uint32_t(getpid());
  h->managerStartTime = processStartTime(getpid());
  h->epoch = uint32_t(nowNs());
  for (uint32_t s = 0; s < kMaxServices; s++)
    for (uint32_t gate = 0; gate < kMaxGates; gate++) r->service(s)->routes[gate] = kNoService;
  for (uint32_t s = 0; s < c.slots; s++)
    for (uint32_t k = 0; k < kRingsPerSlot; k++) ringReset(r->ring(s, SlotRing(k)), c.ringSize);
  // Every buffer starts on the pool's free stack, lowest index on top.
  uint32_t* stack = r->poolStack();
  for (uint32_t i = 0; i < c.bufferCount; i++) {
    stack[i] = c.bufferCount - 1 - i;
    r->owners()[i] = kOwnerPool;
  }
  h->poolFree.store(c.bufferCount, std::memory_order_relaxed);
  h->state.store(kRegionReady, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  reinterpret_cast<std::atomic<uint64_t>*>(&h->magic)->store(kMagic, std::memory_order_release);
  return r;
}

std::shared_ptr<Region> Region::attach(const std::string& prefix, bool readOnly) {
  validatePrefix(prefix);
  int fd = shm_open(shmName(prefix).c_str(), readOnly ? O_RDONLY : O_RDWR, 0);
  if (fd < 0) failOpen(prefix, errno, false);
  struct stat st;
  if (fstat(fd, &st) != 0 || size_t(st.st_size) < kPage) {
    close(fd);
    fail("NOT_A_REGION", path(prefix) + " is too small to be an xio region");
  }
  size_t size = size_t(st.st_size);
  // Observers map read-only: a private copy-on-write mapping would not do, since it can keep
  // showing the zero page for parts of the file that were holes when it first read them.
  int prot = readOnly ? PROT_READ : PROT_READ | PROT_WRITE;
  void* p = mmap(nullptr, size, prot, MAP_SHARED | (readOnly ? 0 : MAP_POPULATE), fd, 0);
  int err = errno;
  close(fd);
  if (p == MAP_FAILED) fail("SYSTEM", "mapping " + path(prefix) + ": " + strerror(err));
  std::shared_ptr<Region> r(new Region(prefix, static_cast<uint8_t*>(p), size, false));
  Header* h = r->header();
  if (reinterpret_cast<std::atomic<uint64_t>*>(&h->magic)->load(std::memory_order_acquire) != kMagic)
    fail("NOT_A_REGION", path(prefix) + " is not an xio region (bad magic), or is still being created");
  if (h->version != kLayoutVersion)
    fail("LAYOUT_VERSION", path(prefix) + " has region layout version " + std::to_string(h->version) +
                               " but this xio-chain uses version " + std::to_string(kLayoutVersion) +
                               ": run the chain and its NFs from the same xio-chain install");
  if (h->regionSize != size) fail("NOT_A_REGION", path(prefix) + " is truncated: its header says " +
                                                       std::to_string(h->regionSize) + " bytes");
  if (!r->managerAlive())
    fail("MANAGER_GONE", "the manager of prefix '" + prefix + "' (pid " + std::to_string(h->managerPid) +
                             ") is no longer running; " + path(prefix) + " is stale. Start the chain again");
  return r;
}

Region::~Region() {
  releaseLock();
  if (base_) munmap(base_, size_);
}

void Region::unlink() {
  if (owner_ && !unlinked_) {
    header()->state.store(kRegionStopped, std::memory_order_release);
    shm_unlink(shmName(prefix_).c_str());
    unlinked_ = true;
    releaseLock();
  }
}

void Region::releaseLock() {
  if (lockFd_ >= 0) close(lockFd_);
  lockFd_ = -1;
}

// Called per burst by NF loops, so /proc is read at most every 20 ms (it costs ~15 µs).
bool Region::managerAlive() const {
  Header* h = header();
  if (h->state.load(std::memory_order_acquire) != kRegionReady) return false;
  uint64_t now = nowNs();
  uint64_t checked = aliveCheckedAt_.load(std::memory_order_relaxed);
  if (checked && now - checked < 20000000) return alive_.load(std::memory_order_relaxed);
  bool alive = processAlive(int(h->managerPid), h->managerStartTime);
  alive_.store(alive, std::memory_order_relaxed);
  aliveCheckedAt_.store(now, std::memory_order_relaxed);
  return alive;
}

Service* Region::service(uint32_t i) const {
  return reinterpret_cast<Service*>(base_ + header()->servicesOffset) + i;
}

Slot* Region::slot(uint32_t i) const {
  return reinterpret_cast<Slot*>(base_ + header()->slotsOffset + size_t(header()->slotStride) * i);
}

Ring* Region::ring(uint32_t s, SlotRing which) const {
  Header* h = header();
  return reinterpret_cast<Ring*>(base_ + h->ringsOffset + size_t(h->ringStride) * (s * kRingsPerSlot + which));
}

Meta* Region::meta(uint32_t buffer) const {
  Header* h = header();
  return reinterpret_cast<Meta*>(base_ + h->buffersOffset + size_t(h->bufferSize) * buffer);
}

uint16_t* Region::owners() const { return reinterpret_cast<uint16_t*>(base_ + header()->ownersOffset); }
uint32_t* Region::poolStack() const { return reinterpret_cast<uint32_t*>(base_ + header()->poolOffset); }

int Region::serviceByName(const std::string& name) const {
  for (uint32_t i = 0; i < kMaxServices; i++) {
    Service* s = service(i);
    if (s->declared.load(std::memory_order_acquire) && strncmp(s->name, name.c_str(), kNameLength) == 0) return int(i);
  }
  return -1;
}

}  // namespace xio
