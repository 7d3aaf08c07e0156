#include "region.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "os.h"
#include "ring.h"

namespace xio {

namespace {

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

void validateConfig(const RegionConfig& c) {
  if (c.slots < 1 || c.slots > kMaxSlots) fail("BAD_CONFIG", "slots must be 1.." + std::to_string(kMaxSlots));
  if (!powerOfTwo(c.ringSize) || c.ringSize < 64 || c.ringSize > (1u << 20))
    fail("BAD_CONFIG", "ringSize must be a power of two from 64 to 1048576, got " + std::to_string(c.ringSize));
  if (c.cacheSize < 32 || c.cacheSize > c.ringSize)
    fail("BAD_CONFIG", "cacheSize must be from 32 to ringSize, got " + std::to_string(c.cacheSize));
  if (c.bufferCount < 64 || c.bufferCount > kMaxBuffers)
    fail("BAD_CONFIG", "buffers must be from 64 to " + std::to_string(kMaxBuffers) + ", got " + std::to_string(c.bufferCount));
  if (c.bufferSize % kCacheLine || c.bufferSize < 256 || c.bufferSize > (1u << 16))
    fail("BAD_CONFIG", "bufferSize must be a multiple of 64 from 256 to 65536, got " + std::to_string(c.bufferSize));
  if (c.headroom % 8 || kMetaSize + c.headroom + 64 > c.bufferSize)
    fail("BAD_CONFIG", "headroom must be a multiple of 8 leaving at least 64 packet bytes per buffer");
}

// An OFD lock on one byte of the file: owned by this open file, dropped when it is closed,
// which the kernel does when the process dies.
bool lockByte(int fd, uint64_t offset, short type) {
  struct flock l {};
  l.l_type = type;
  l.l_whence = SEEK_SET;
  l.l_start = off_t(offset);
  l.l_len = 1;
  return fcntl(fd, F_OFD_SETLK, &l) == 0;
}

uint32_t managerPidOf(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0 || size_t(st.st_size) < kPage) return 0;  // not even sized yet
  void* p = mmap(nullptr, kPage, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return 0;
  uint32_t pid = static_cast<Header*>(p)->managerPid;
  munmap(p, kPage);
  return pid;
}

// Whether the name still leads to the file open as fd (another creator may have replaced it).
bool nameLeadsTo(const std::string& prefix, int fd) {
  struct stat mine, named;
  return fstat(fd, &mine) == 0 && stat(path(prefix).c_str(), &named) == 0 && mine.st_ino == named.st_ino &&
         mine.st_dev == named.st_dev;
}

}  // namespace

Geometry geometryOf(const RegionConfig& c) {
  Geometry g;
  g.slots = c.slots;
  g.ringSize = c.ringSize;
  g.cacheSize = c.cacheSize;
  g.bufferCount = c.bufferCount;
  g.bufferSize = c.bufferSize;
  g.bufferStride = bufferStrideOf(c.bufferSize);
  g.dataOffset = kMetaSize + c.headroom;
  g.doorbellOffset = kPage;
  g.servicesOffset = 2 * kPage;
  g.slotsOffset = alignUp(g.servicesOffset + sizeof(Service) * kMaxServices, kPage);
  // Each side of a slot starts on a page of its own, so a mapping can protect it alone.
  g.endpointEntries = uint32_t(alignUp(sizeof(EndpointSide), kCacheLine));
  // RX entries half a page off the TX entries' offset within a page (see ManagerSide).
  g.managerEntries = uint32_t(alignUp(sizeof(ManagerSide), kCacheLine));
  uint32_t wantedInPage = (g.endpointEntries + kPage / 2) % kPage;
  g.managerEntries += (wantedInPage - g.managerEntries % kPage + kPage) % kPage;
  g.managerSideOffset = uint32_t(alignUp(g.endpointEntries + 2 * sizeof(Entry) * size_t(c.ringSize), kPage));
  g.slotStride = g.managerSideOffset + uint32_t(alignUp(g.managerEntries + 2 * sizeof(Entry) * size_t(c.ringSize), kPage));
  g.buffersOffset = alignUp(g.slotsOffset + size_t(g.slotStride) * c.slots, kPage);
  g.total = alignUp(g.buffersOffset + size_t(g.bufferStride) * c.bufferCount, kPage);
  return g;
}

bool leaseHeld(int fd, uint64_t offset) {
  struct flock l {};
  l.l_type = F_RDLCK;  // any lock conflicts with a read lock but another read lock
  l.l_whence = SEEK_SET;
  l.l_start = off_t(offset);
  l.l_len = 1;
  if (fcntl(fd, F_OFD_GETLK, &l) != 0) return true;  // cannot tell: not gone
  return l.l_type != F_UNLCK;
}

std::string shmName(const std::string& prefix) { return "/xio." + prefix; }

bool removeIfStale(const std::string& prefix) {
  validatePrefix(prefix);
  int fd = shm_open(shmName(prefix).c_str(), O_RDONLY, 0);
  if (fd < 0) {
    if (errno == ENOENT) return false;
    failOpen(prefix, errno, false);
  }
  // A live manager (or one still creating) holds the lease; one of layout 1, a whole-file flock.
  bool held = leaseHeld(fd, kManagerLease) || flock(fd, LOCK_SH | LOCK_NB) != 0;
  bool removed = false;
  if (!held && nameLeadsTo(prefix, fd)) {
    if (shm_unlink(shmName(prefix).c_str()) != 0 && errno != ENOENT) {
      int err = errno;
      close(fd);
      if (err == EACCES || err == EPERM)
        fail("PERMISSION", path(prefix) + " is left by another user's chain; remove it as that user or root");
      fail("SYSTEM", "removing " + path(prefix) + ": " + strerror(err));
    }
    removed = true;
  }
  close(fd);
  return removed;
}

void validatePrefix(const std::string& prefix) {
  bool ok = !prefix.empty() && prefix.size() <= 64;
  for (char c : prefix) ok = ok && (isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
  if (!ok) fail("BAD_PREFIX", "prefix '" + prefix + "' must be 1-64 characters of letters, digits, '-', '_' or '.'");
}

// Creation is decided by the manager lease on the file the name leads to: whoever takes it on
// an empty file creates the region; a held lease means a live manager (or one still
// creating); a free lease on a sized file means its manager died, and the name is replaced.
// Locking the inode and then checking that the name still leads to it leaves no window in
// which two creators both win.
std::shared_ptr<Region> Region::create(const std::string& prefix, const RegionConfig& c) {
  validatePrefix(prefix);
  validateConfig(c);
  // JavaScript views the whole region as one typed array, which holds less than 4 GiB.
  if (geometryOf(c).total >= (uint64_t(1) << 32))
    fail("BAD_CONFIG", "a region must be under 4096 MB (JavaScript maps it whole); " + std::to_string(c.bufferCount) +
                           " buffers of " + std::to_string(c.bufferSize) + " bytes need " +
                           std::to_string(geometryOf(c).total >> 20) + " MB: use fewer or smaller buffers");
  std::string name = shmName(prefix);
  int fd = -1;
  for (int attempt = 0; attempt < 16 && fd < 0; attempt++) {
    fd = shm_open(name.c_str(), O_RDWR | O_CREAT, c.mode);
    if (fd < 0) failOpen(prefix, errno, true);
    if (!lockByte(fd, kManagerLease, F_WRLCK)) {
      uint32_t pid = managerPidOf(fd);
      close(fd);
      fail("ALREADY_OWNED", "prefix '" + prefix + "' is owned by a running manager" +
                                (pid ? " (pid " + std::to_string(pid) + ")" : " (still starting)") +
                                "; stop that chain or choose another prefix");
    }
    // A manager of the previous layout (version 1) said it was alive with a whole-file flock.
    if (flock(fd, LOCK_SH | LOCK_NB) != 0) {
      uint32_t pid = managerPidOf(fd);
      close(fd);
      fail("ALREADY_OWNED", "prefix '" + prefix + "' is owned by a running manager of an older xio-chain" +
                                (pid ? " (pid " + std::to_string(pid) + ")" : "") + "; stop that chain or choose another prefix");
    }
    flock(fd, LOCK_UN);
    struct stat st;
    bool named = nameLeadsTo(prefix, fd) && fstat(fd, &st) == 0;
    // Empty and ours: we create it. Anything else that leads from the name is left by a manager
    // that died (never trust its contents), or an empty file someone else made and may still
    // have open: replace it and start afresh.
    if (named && st.st_size == 0 && st.st_uid == geteuid()) break;
    if (named && shm_unlink(name.c_str()) != 0 && errno != ENOENT) {
      int err = errno;
      close(fd);
      if (err == EACCES || err == EPERM)
        fail("PERMISSION", path(prefix) + " is a stale region of another user, which this user may not remove: "
                           "remove it as that user or root, or choose another prefix");
      fail("SYSTEM", "removing the stale " + path(prefix) + ": " + strerror(err));
    }
    close(fd);
    fd = -1;
  }
  if (fd < 0) fail("SYSTEM", "creating " + path(prefix) + ": it kept being replaced by other creators");

  Geometry g = geometryOf(c);
  // The umask must not narrow the mode asked for, and a group grant needs the group set.
  if (fchmod(fd, c.mode) != 0 || (c.gid >= 0 && fchown(fd, uid_t(-1), gid_t(c.gid)) != 0) ||
      ftruncate(fd, off_t(g.total)) != 0) {
    int err = errno;
    shm_unlink(name.c_str());
    close(fd);
    fail("SYSTEM", "sizing " + path(prefix) + " to " + std::to_string(g.total) + " bytes: " + strerror(err));
  }
  // Reserve every page now: a tmpfs that runs out later kills whoever touches the missing page
  // with SIGBUS, here or in an NF. Refused at creation instead, saying how much is needed.
  if (int err = posix_fallocate(fd, 0, off_t(g.total))) {
    shm_unlink(name.c_str());
    close(fd);
    struct statvfs fs {};
    std::string room = statvfs("/dev/shm", &fs) == 0
                           ? ", " + std::to_string(uint64_t(fs.f_bavail) * fs.f_frsize >> 20) + " MB free"
                           : "";
    if (err == ENOSPC)
      fail("NO_SPACE", "the region for prefix '" + prefix + "' needs " + std::to_string(g.total >> 20) +
                           " MB in /dev/shm" + room + ": free some, or create it with fewer buffers");
    fail("SYSTEM", "reserving " + std::to_string(g.total) + " bytes for " + path(prefix) + ": " + strerror(err));
  }
  void* p = mmap(nullptr, g.total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  int err = errno;
  if (p == MAP_FAILED) {
    shm_unlink(name.c_str());
    close(fd);
    fail("SYSTEM", "mapping " + path(prefix) + ": " + strerror(err));
  }
  std::shared_ptr<Region> r(new Region(prefix, static_cast<uint8_t*>(p), g, fd, true));

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
  h->bufferStride = g.bufferStride;
  h->dataOffset = g.dataOffset;
  h->slotStride = g.slotStride;
  h->managerSideOffset = g.managerSideOffset;
  h->endpointEntries = g.endpointEntries;
  h->managerEntries = g.managerEntries;
  h->doorbellOffset = g.doorbellOffset;
  h->servicesOffset = g.servicesOffset;
  h->slotsOffset = g.slotsOffset;
  h->buffersOffset = g.buffersOffset;
  h->managerPid = uint32_t(getpid());
  h->epoch = uint32_t(nowNs());
  strncpy(h->chainFile, c.chainFile.c_str(), kChainFileLength - 1);
  for (uint32_t s = 0; s < kMaxServices; s++)
    for (uint32_t gate = 0; gate < kMaxGates; gate++) r->service(s)->routes[gate] = kNoService;
  // Slots and rings start zeroed (free, empty) from ftruncate; the pool starts full.
  h->poolFree.store(c.bufferCount, std::memory_order_relaxed);
  h->state.store(kRegionReady, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  reinterpret_cast<std::atomic<uint64_t>*>(&h->magic)->store(kMagic, std::memory_order_release);
  return r;
}

namespace {

// The geometry an attacher trusts: recomputed from the header's config, and only if every
// offset the header states agrees with it (and the file is that large).
Geometry attachGeometry(const std::string& prefix, const Header* h, size_t fileSize) {
  RegionConfig c;
  c.slots = h->slotCount;
  c.ringSize = h->ringSize;
  c.cacheSize = h->cacheSize;
  c.bufferCount = h->bufferCount;
  c.bufferSize = h->bufferSize;
  c.headroom = h->dataOffset - kMetaSize;
  std::string bad = path(prefix) + " has an inconsistent header";
  try {
    validateConfig(c);
  } catch (const Failure& f) {
    fail("NOT_A_REGION", bad + " (" + f.message + ")");
  }
  Geometry g = geometryOf(c);
  if (h->regionSize != g.total || fileSize != g.total) fail("NOT_A_REGION", path(prefix) + " is truncated or resized: its header says " + std::to_string(h->regionSize) + " bytes");
  if (h->dataOffset < kMetaSize || h->bufferStride != g.bufferStride || h->slotStride != g.slotStride ||
      h->managerSideOffset != g.managerSideOffset || h->endpointEntries != g.endpointEntries || h->managerEntries != g.managerEntries ||
      h->doorbellOffset != g.doorbellOffset || h->servicesOffset != g.servicesOffset ||
      h->slotsOffset != g.slotsOffset || h->buffersOffset != g.buffersOffset)
    fail("NOT_A_REGION", bad);
  return g;
}

}  // namespace

std::shared_ptr<Region> Region::attach(const std::string& prefix, bool readOnly) {
  validatePrefix(prefix);
  int fd = shm_open(shmName(prefix).c_str(), readOnly ? O_RDONLY : O_RDWR, 0);
  if (fd < 0) failOpen(prefix, errno, false);
  struct stat st;
  if (fstat(fd, &st) != 0 || size_t(st.st_size) < 2 * kPage) {
    close(fd);
    fail("NOT_A_REGION", path(prefix) + " is too small to be an xio region");
  }
  Geometry g;
  {
    void* p = mmap(nullptr, kPage, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      close(fd);
      fail("SYSTEM", "mapping " + path(prefix) + ": " + strerror(err));
    }
    const Header* h = static_cast<const Header*>(p);
    try {
      if (reinterpret_cast<const std::atomic<uint64_t>*>(&h->magic)->load(std::memory_order_acquire) != kMagic)
        fail("NOT_A_REGION", path(prefix) + " is not an xio region (bad magic), or is still being created");
      if (h->version != kLayoutVersion)
        fail("LAYOUT_VERSION", path(prefix) + " has region layout version " + std::to_string(h->version) +
                                   " but this xio-chain uses version " + std::to_string(kLayoutVersion) +
                                   ": run the chain and its NFs from the same xio-chain install");
      g = attachGeometry(prefix, h, size_t(st.st_size));
    } catch (...) {
      munmap(p, kPage);
      close(fd);
      throw;
    }
    munmap(p, kPage);
  }
  // Observers map read-only: a private copy-on-write mapping would not do, since it can keep
  // showing the zero page for parts of the file that were holes when it first read them.
  int prot = readOnly ? PROT_READ : PROT_READ | PROT_WRITE;
  void* p = mmap(nullptr, g.total, prot, MAP_SHARED | (readOnly ? 0 : MAP_POPULATE), fd, 0);
  int err = errno;
  if (p == MAP_FAILED) {
    close(fd);
    fail("SYSTEM", "mapping " + path(prefix) + ": " + strerror(err));
  }
  auto* base = static_cast<uint8_t*>(p);
  // An endpoint writes the doorbell and packet buffers; its own slot's side once claimed.
  if (!readOnly && (mprotect(base, g.buffersOffset, PROT_READ) != 0 ||
                    mprotect(base + g.doorbellOffset, kPage, PROT_READ | PROT_WRITE) != 0)) {
    err = errno;
    munmap(p, g.total);
    close(fd);
    fail("SYSTEM", "protecting " + path(prefix) + ": " + strerror(err));
  }
  std::shared_ptr<Region> r(new Region(prefix, base, g, fd, false));
  if (!r->managerAlive())
    fail("MANAGER_GONE", "the manager of prefix '" + prefix + "' (pid " + std::to_string(r->header()->managerPid) +
                             ") is no longer running; " + path(prefix) + " is stale. Start the chain again");
  return r;
}

Region::~Region() {
  if (base_) munmap(base_, g_.total);
  if (fd_ >= 0) close(fd_);
}

void Region::unlink() {
  if (owner_ && !unlinked_) {
    header()->state.store(kRegionStopped, std::memory_order_release);
    shm_unlink(shmName(prefix_).c_str());
    unlinked_ = true;
    lockByte(fd_, kManagerLease, F_UNLCK);
  }
}

void Region::recordChainFile(const std::string& path) const {
  Header* h = header();
  // Observers copy the path between two even, equal versions (the counts' seqlock pattern).
  h->chainFileVersion.fetch_add(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  char* field = h->chainFile;
  // A path too long for the field is not recorded at all: cut, it would name another file (or
  // end half-way through a character), and observers fall back to the region's own names.
  size_t n = path.size() < kChainFileLength ? path.size() : 0;
  for (size_t i = 0; i < kChainFileLength; i++) __atomic_store_n(&field[i], i < n ? path[i] : '\0', __ATOMIC_RELAXED);
  h->chainFileVersion.fetch_add(1, std::memory_order_release);
}

// Called per burst by NF loops, so the lease is asked about at most every 20 ms. The lease,
// not a pid, says whether the manager lives: it works from another pid namespace too.
bool Region::managerAlive() const {
  Header* h = header();
  if (h->state.load(std::memory_order_acquire) != kRegionReady) return false;
  if (owner_) return true;  // this process is the manager's
  uint64_t now = nowNs();
  uint64_t checked = aliveCheckedAt_.load(std::memory_order_relaxed);
  if (checked && now - checked < 20000000) return alive_.load(std::memory_order_relaxed);
  bool alive = leaseHeld(fd_, kManagerLease);
  alive_.store(alive, std::memory_order_relaxed);
  aliveCheckedAt_.store(now, std::memory_order_relaxed);
  return alive;
}

bool Region::tryLease(uint32_t slot) const {
  std::lock_guard<std::mutex> hold(leasesMutex_);
  if (leasedHere_[slot] || !lockByte(fd_, kSlotLeaseBase + slot, F_WRLCK)) return false;
  leasedHere_[slot] = true;
  return true;
}

void Region::releaseLease(uint32_t slot) const {
  std::lock_guard<std::mutex> hold(leasesMutex_);
  lockByte(fd_, kSlotLeaseBase + slot, F_UNLCK);
  leasedHere_[slot] = false;
}

void Region::openEndpointSide(uint32_t slot) const {
  if (owner_) return;  // the creator's mapping is writable throughout
  if (mprotect(endpointSide(slot), g_.managerSideOffset, PROT_READ | PROT_WRITE) != 0)
    fail("SYSTEM", "unprotecting slot " + std::to_string(slot) + " of " + path(prefix_) + ": " + strerror(errno));
}

void Region::closeEndpointSide(uint32_t slot) const {
  if (!owner_) mprotect(endpointSide(slot), g_.managerSideOffset, PROT_READ);
}

int Region::openLeaseQuery() const {
  std::string self = "/proc/self/fd/" + std::to_string(fd_);
  int fd = open(self.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("SYSTEM", "reopening " + path(prefix_) + " to watch endpoint leases: " + strerror(errno));
  return fd;
}

RingRef Region::ring(uint32_t slot, SlotRing which) const {
  EndpointSide* e = endpointSide(slot);
  ManagerSide* m = managerSide(slot);
  auto* endpointEntries = reinterpret_cast<Entry*>(reinterpret_cast<uint8_t*>(e) + g_.endpointEntries);
  auto* managerEntries = reinterpret_cast<Entry*>(reinterpret_cast<uint8_t*>(m) + g_.managerEntries);
  RingRef r;
  r.size = g_.ringSize;
  r.mask = g_.ringSize - 1;
  switch (which) {
    case kRingRx: r.prod = &m->rx; r.cons = &e->rx; r.entries = managerEntries; break;
    case kRingAlloc: r.prod = &m->alloc; r.cons = &e->alloc; r.entries = managerEntries + g_.ringSize; break;
    case kRingTx: r.prod = &e->tx; r.cons = &m->tx; r.entries = endpointEntries; break;
    default: r.prod = &e->free; r.cons = &m->free; r.entries = endpointEntries + g_.ringSize; break;
  }
  return r;
}

int Region::serviceByName(const std::string& name) const {
  for (uint32_t i = 0; i < kMaxServices; i++) {
    Service* s = service(i);
    if (s->declared.load(std::memory_order_acquire) && strncmp(s->name, name.c_str(), kNameLength) == 0) return int(i);
  }
  return -1;
}

}  // namespace xio
