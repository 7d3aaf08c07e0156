// An NF instance's state segment: the shared-memory object
// /dev/shm/xio.<prefix>.state.<endpoint>.<instance>, which outlives the process that writes it,
// so a restarted instance (the launcher keeps its instance number) finds its NAT sessions or
// conntrack entries where it left them. The chain owns it: the launcher removes a prefix's
// segments when the chain stops and when a new chain takes the prefix over (src/xio/state.ts).
//
// A page of header, then the NF's bytes. The header names the layout the bytes are in (a hash
// of the NF's layout tag, and their size): an opener asking for another layout gets the
// segment zeroed, never bytes laid out otherwise. One writer at a time: the opener holds an
// OFD lock on the header's first byte for as long as it has the segment mapped, and the kernel
// drops it when the process dies, as the region's leases (region.h). A second process asking
// for a segment held is refused (STATE_BUSY); the same process asking again (an NF re-created
// by a hot reload) gets the same mapping back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace xio {

constexpr uint64_t kStateMagic = 0x3154'4154'5349'4f58ULL;  // "XOISTAT1" in memory order
constexpr uint32_t kStateVersion = 1;
constexpr uint32_t kStateTagLength = 64;

// The segment's first page. The opener that (re)initialises it writes magic last.
struct StateHeader {
  uint64_t magic;
  uint32_t version;
  uint32_t headerSize;  // where the NF's bytes start: a page
  uint64_t tagHash;     // FNV-1a of the layout tag
  uint64_t dataSize;    // the NF's bytes
  uint32_t ownerPid;    // the process that has it open now (or last had), for messages
  uint32_t opens;       // how many times a process opened it with this layout
  char tag[kStateTagLength];  // the tag as given (cut), for people reading the file
};

class StateSegment {
 public:
  ~StateSegment();
  uint8_t* data() const { return base_ + headerSize(); }
  size_t dataSize() const { return dataSize_; }
  uint64_t tagHash() const { return tagHash_; }
  static size_t headerSize();  // a page

 private:
  friend std::shared_ptr<StateSegment> openState(const std::string&, const std::string&, uint32_t, size_t,
                                                 const std::string&, bool*);
  StateSegment(uint8_t* base, size_t total, int fd, size_t dataSize, uint64_t tagHash)
      : base_(base), total_(total), fd_(fd), dataSize_(dataSize), tagHash_(tagHash) {}
  uint8_t* base_;
  size_t total_;
  int fd_;  // kept open: the writer's lock lives on it
  size_t dataSize_;
  uint64_t tagHash_;
};

// The state of that instance of that endpoint of the chain on prefix: its bytes as the last
// writer left them if it asked for the same tag and size (*resumed = true), or dataSize zeroed
// bytes. Throws Failure BAD_PREFIX, BAD_STATE (a name or size out of range), STATE_BUSY
// (another live process holds it), NO_SPACE, PERMISSION, SYSTEM.
std::shared_ptr<StateSegment> openState(const std::string& prefix, const std::string& endpoint, uint32_t instance,
                                        size_t dataSize, const std::string& tag, bool* resumed);

// Whether a live process holds the state segment /dev/shm/<fileName> (for `xio-chain clean`).
bool stateHeld(const std::string& fileName);

}  // namespace xio
