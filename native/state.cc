#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>

#include "os.h"
#include "region.h"

namespace xio {

namespace {

[[noreturn]] void fail(const std::string& code, const std::string& message) { throw Failure{code, message}; }

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

bool lockWriter(int fd) {
  struct flock l {};
  l.l_type = F_WRLCK;
  l.l_whence = SEEK_SET;
  l.l_start = 0;
  l.l_len = 1;
  return fcntl(fd, F_OFD_SETLK, &l) == 0;
}

uint32_t ownerPidOf(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0 || size_t(st.st_size) < sizeof(StateHeader)) return 0;
  void* p = mmap(nullptr, size_t(kPage), PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return 0;
  uint32_t pid = static_cast<StateHeader*>(p)->ownerPid;
  munmap(p, size_t(kPage));
  return pid;
}

bool nameLeadsTo(const std::string& name, int fd) {
  struct stat mine, named;
  return fstat(fd, &mine) == 0 && stat(("/dev/shm" + name).c_str(), &named) == 0 && mine.st_ino == named.st_ino &&
         mine.st_dev == named.st_dev;
}

// This process's open segments by name: an NF re-created in the same process (a hot reload)
// must get the mapping it already has, since a second open file of the same segment could not
// take the writer's lock from the first.
std::mutex openMutex;
std::map<std::string, std::weak_ptr<StateSegment>> openHere;

}  // namespace

size_t StateSegment::headerSize() { return size_t(kPage); }

StateSegment::~StateSegment() {
  if (base_) munmap(base_, total_);
  if (fd_ >= 0) close(fd_);  // drops the writer's lock
}

std::shared_ptr<StateSegment> openState(const std::string& prefix, const std::string& endpoint, uint32_t instance,
                                        size_t dataSize, const std::string& tag, bool* resumed) {
  validatePrefix(prefix);
  bool nameOk = !endpoint.empty() && endpoint.size() <= kNameLength;
  for (char c : endpoint) nameOk = nameOk && (isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
  if (!nameOk) fail("BAD_STATE", "endpoint name '" + endpoint + "' cannot name a state segment (letters, digits, '-', '_')");
  if (dataSize == 0 || dataSize > (size_t(1) << 32) - 2 * size_t(kPage))
    fail("BAD_STATE", "state of " + std::to_string(dataSize) + " bytes: ask for 1 byte to 4 GB less 8 KB");
  const std::string name = shmName(prefix) + ".state." + endpoint + "." + std::to_string(instance);
  const std::string file = "/dev/shm" + name;
  const uint64_t tagHash = fnv1a(tag);
  const size_t page = size_t(kPage);
  const size_t total = page + (dataSize + page - 1) / page * page;

  std::lock_guard<std::mutex> hold(openMutex);
  if (auto here = openHere[name].lock()) {
    if (here->dataSize() == dataSize && here->tagHash() == tagHash) {
      *resumed = true;
      return here;
    }
    // Another layout: a new segment under the name, zeroed; the old mapping stays valid for
    // whoever still holds it (the NF being replaced) and goes when they let go.
    if (shm_unlink(name.c_str()) != 0 && errno != ENOENT) fail("SYSTEM", "replacing " + file + ": " + strerror(errno));
  }

  int fd = -1;
  for (int attempt = 0; attempt < 16 && fd < 0; attempt++) {
    fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      int err = errno;
      if (err == EACCES || err == EPERM)
        fail("PERMISSION", "permission denied opening " + file + ": the state belongs to another user; run the chain as one user");
      fail("SYSTEM", "opening " + file + ": " + strerror(err));
    }
    if (!lockWriter(fd)) {
      uint32_t pid = ownerPidOf(fd);
      close(fd);
      fail("STATE_BUSY", file + " is held by a running process" + (pid ? " (pid " + std::to_string(pid) + ")" : "") +
                             ": one writer per NF instance; is another instance " + std::to_string(instance) + " of '" +
                             endpoint + "' running on prefix '" + prefix + "'?");
    }
    // Removed (the chain stopped or was taken over) between open and lock: open what the name
    // leads to now.
    if (!nameLeadsTo(name, fd)) {
      close(fd);
      fd = -1;
    }
  }
  if (fd < 0) fail("SYSTEM", "opening " + file + ": it kept being removed");

  // The lock is ours: nobody else writes this file until we close it.
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    fail("SYSTEM", "reading " + file + ": " + strerror(err));
  }
  bool reuse = false;
  if (size_t(st.st_size) == total) {
    void* p = mmap(nullptr, page, PROT_READ, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) {
      auto* h = static_cast<const StateHeader*>(p);
      reuse = reinterpret_cast<const std::atomic<uint64_t>*>(&h->magic)->load(std::memory_order_acquire) == kStateMagic &&
              h->version == kStateVersion && h->headerSize == page && h->tagHash == tagHash && h->dataSize == dataSize;
      munmap(p, page);
    }
  }
  if (!reuse) {
    // Zeroed from scratch: truncating to nothing drops every page of the old contents.
    if (ftruncate(fd, 0) != 0 || ftruncate(fd, off_t(total)) != 0) {
      int err = errno;
      close(fd);
      fail("SYSTEM", "sizing " + file + " to " + std::to_string(total) + " bytes: " + strerror(err));
    }
    // Every page reserved now: a full tmpfs would otherwise kill the NF with SIGBUS mid-packet.
    if (int err = posix_fallocate(fd, 0, off_t(total))) {
      ftruncate(fd, 0);
      close(fd);
      struct statvfs fs {};
      std::string room = statvfs("/dev/shm", &fs) == 0 ? ", " + std::to_string(uint64_t(fs.f_bavail) * fs.f_frsize >> 20) + " MB free" : "";
      if (err == ENOSPC)
        fail("NO_SPACE", "the state of '" + endpoint + "' needs " + std::to_string(total >> 20) + " MB in /dev/shm" + room +
                             ": free some, or configure a smaller table");
      fail("SYSTEM", "reserving " + std::to_string(total) + " bytes for " + file + ": " + strerror(err));
    }
  }
  void* p = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (p == MAP_FAILED) {
    int err = errno;
    close(fd);
    fail("SYSTEM", "mapping " + file + ": " + strerror(err));
  }
  auto* base = static_cast<uint8_t*>(p);
  auto* h = reinterpret_cast<StateHeader*>(base);
  if (!reuse) {
    h->version = kStateVersion;
    h->headerSize = uint32_t(page);
    h->tagHash = tagHash;
    h->dataSize = dataSize;
    h->opens = 0;
    strncpy(h->tag, tag.c_str(), kStateTagLength - 1);
    // A header without its magic is never trusted: the next opener zeroes the file again.
    reinterpret_cast<std::atomic<uint64_t>*>(&h->magic)->store(kStateMagic, std::memory_order_release);
  }
  h->ownerPid = uint32_t(getpid());
  h->opens++;
  std::shared_ptr<StateSegment> s(new StateSegment(base, total, fd, dataSize, tagHash));
  openHere[name] = s;
  *resumed = reuse;
  return s;
}

bool stateHeld(const std::string& fileName) {
  if (fileName.find('/') != std::string::npos) fail("BAD_STATE", "'" + fileName + "' is not a file in /dev/shm");
  int fd = shm_open(("/" + fileName).c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) {
    if (errno == ENOENT) return false;
    int err = errno;
    if (err == EACCES || err == EPERM) fail("PERMISSION", "/dev/shm/" + fileName + " belongs to another user");
    fail("SYSTEM", "opening /dev/shm/" + fileName + ": " + strerror(err));
  }
  bool held = leaseHeld(fd, 0);
  close(fd);
  return held;
}

}  // namespace xio
