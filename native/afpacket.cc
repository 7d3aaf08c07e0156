#include "afpacket.h"

#include <arpa/inet.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "os.h"

namespace xio {

namespace {

constexpr uint32_t kVlanTagLength = 4;
constexpr uint32_t kEthernetHeader = 14;
// What a TPACKET_V3 block spends on itself and on each frame's header, with room to spare:
// the kernel cut a 9014-byte frame to 3966 bytes in a 4096-byte block.
constexpr uint32_t kBlockOverhead = 256;
// How long the transmitter sleeps on its futex word before it looks at the stop flag again.
constexpr uint64_t kTransmitWaitNs = 50'000'000;

std::string systemError(const std::string& what, int error) { return what + ": " + strerror(error); }

Failure permissionFailure(const std::string& interface) {
  return Failure{"PERMISSION", "opening interface " + interface +
                                   " needs CAP_NET_RAW: run as root, or grant it to node (setcap cap_net_raw+ep \"$(command -v node)\")"};
}

// One ethtool query on a socket of any family; false where the driver does not say.
bool ethtoolFlag(int fd, const std::string& interface, uint32_t command) {
  ethtool_value value{};
  value.cmd = command;
  ifreq request{};
  strncpy(request.ifr_name, interface.c_str(), IFNAMSIZ - 1);
  request.ifr_data = reinterpret_cast<char*>(&value);
  return ioctl(fd, SIOCETHTOOL, &request) == 0 && value.data != 0;
}

uint32_t get16(const uint8_t* p) { return uint32_t(p[0]) << 8 | p[1]; }
uint32_t get32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

// src/packet/flow.ts's hash4, bit for bit (Math.imul is a wrapping 32-bit multiply).
uint32_t hash4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  uint32_t h = (a * 0x9e3779b1u) ^ ((b ^ (b >> 15)) * 0x85ebca77u) ^ (c * 0xc2b2ae3du) ^ (d * 0x27d4eb2fu);
  h = (h ^ (h >> 16)) * 0x7feb352du;
  return h ^ (h >> 15);
}

uint32_t symmetricFlowHash(uint32_t src, uint32_t dst, uint32_t proto, uint32_t srcPort, uint32_t dstPort) {
  bool srcFirst = src < dst || (src == dst && srcPort <= dstPort);
  return srcFirst ? hash4(src, dst, srcPort << 16 | dstPort, proto) : hash4(dst, src, dstPort << 16 | srcPort, proto);
}

uint32_t sum16(const uint8_t* p, uint32_t length, uint32_t sum) {
  for (; length > 1; p += 2, length -= 2) sum += uint32_t(p[0]) << 8 | p[1];
  if (length) sum += uint32_t(p[0]) << 8;
  return sum;
}

uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

// Where an Ethernet frame's IPv4 header starts, past any VLAN tags (the TPIDs
// src/packet/headers.ts knows), or 0 if it carries something else or ends first.
uint32_t ipv4Offset(const uint8_t* frame, uint32_t length) {
  uint32_t o = 12;
  if (o + 2 > length) return 0;
  uint32_t type = get16(frame + o);
  while (type == 0x8100 || type == 0x88a8 || type == 0x9100) {
    o += kVlanTagLength;
    if (o + 2 > length) return 0;
    type = get16(frame + o);
  }
  return type == 0x0800 ? o + 2 : 0;
}

// Computes the TCP or UDP checksum of an unfragmented IPv4 frame in place. False for
// anything else (left as it is).
bool completeL4Checksum(uint8_t* frame, uint32_t length) {
  uint32_t o = ipv4Offset(frame, length);
  if (!o || o + 20 > length) return false;
  uint8_t* ip = frame + o;
  uint32_t room = length - o;
  uint32_t headerLength = (ip[0] & 0x0f) * 4, totalLength = get16(ip + 2), proto = ip[9];
  if (headerLength < 20 || totalLength < headerLength || totalLength > room || (get16(ip + 6) & 0x3fff)) return false;
  uint32_t l4Length = totalLength - headerLength;
  uint8_t* l4 = ip + headerLength;
  uint32_t checkAt = proto == 6 ? 16 : proto == 17 ? 6 : 0;
  if (!checkAt || l4Length < checkAt + 2) return false;
  l4[checkAt] = l4[checkAt + 1] = 0;
  uint32_t sum = sum16(ip + 12, 8, proto + l4Length);
  uint16_t check = fold(sum16(l4, l4Length, sum));
  if (proto == 17 && check == 0) check = 0xffff;  // 0 would mean "no checksum"
  l4[checkAt] = uint8_t(check >> 8);
  l4[checkAt + 1] = uint8_t(check);
  return true;
}

}  // namespace

uint32_t frameFlowHash(const uint8_t* frame, uint32_t length) {
  // The checks of src/packet/headers.ts's parse(): a frame it would not call good IPv4 hashes to 0.
  uint32_t o = ipv4Offset(frame, length);
  if (!o || o + 20 > length) return 0;
  const uint8_t* ip = frame + o;
  uint32_t headerLength = (ip[0] & 0x0f) * 4, totalLength = get16(ip + 2);
  if (ip[0] >> 4 != 4 || headerLength < 20 || totalLength < headerLength || o + totalLength > length) return 0;
  uint32_t proto = ip[9], src = get32(ip + 12), dst = get32(ip + 16);
  uint32_t fragment = get16(ip + 6), fragmentOffset = fragment & 0x1fff;
  bool moreFragments = fragment & 0x2000;
  if (fragmentOffset) return proto == 6 && fragmentOffset == 1 ? 0 : symmetricFlowHash(src, dst, proto, 0, 0);
  const uint8_t* l4 = ip + headerLength;
  const uint8_t* l4End = ip + totalLength;
  if (proto == 6) {
    if (l4 + 20 > l4End) return 0;
    uint32_t tcpHeaderLength = (l4[12] >> 4) * 4;
    if (tcpHeaderLength < 20 || l4 + tcpHeaderLength > l4End) return 0;
    return symmetricFlowHash(src, dst, proto, get16(l4), get16(l4 + 2));
  }
  if (proto == 17) {
    if (l4 + 8 > l4End) return 0;
    uint32_t udpLength = get16(l4 + 4);
    if (!moreFragments && (udpLength < 8 || l4 + udpLength > l4End)) return 0;
    return symmetricFlowHash(src, dst, proto, get16(l4), get16(l4 + 2));
  }
  if (proto == 1) {
    // An echo and its reply share their identifier: it stands for both ports.
    if (l4 + 8 > l4End) return 0;
    uint32_t id = get16(l4 + 4);
    return symmetricFlowHash(src, dst, proto, id, id);
  }
  return symmetricFlowHash(src, dst, proto, 0, 0);
}

InterfaceInfo interfaceInfo(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name.find('/') != std::string::npos)
    throw Failure{"NO_INTERFACE", "'" + name + "' is not an interface name"};
  unsigned index = if_nametoindex(name.c_str());
  if (!index)
    throw Failure{"NO_INTERFACE", "no interface named " + name + " (`ip link` lists them; `xio-chain lab up` makes xl-lan and xl-wan)"};
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw Failure{"SYSTEM", systemError("socket", errno)};
  ifreq request{};
  strncpy(request.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (ioctl(fd, SIOCGIFMTU, &request) != 0) {
    int error = errno;
    close(fd);
    throw Failure{"SYSTEM", systemError("reading the MTU of " + name, error)};
  }
  InterfaceInfo info{int(index), uint32_t(request.ifr_mtu), false, false, false};
  info.gro = ethtoolFlag(fd, name, ETHTOOL_GGRO);
  info.txChecksum = ethtoolFlag(fd, name, ETHTOOL_GTXCSUM);
  uint32_t flags = 0;
  {
    ethtool_value value{};
    value.cmd = ETHTOOL_GFLAGS;
    request.ifr_data = reinterpret_cast<char*>(&value);
    if (ioctl(fd, SIOCETHTOOL, &request) == 0) flags = value.data;
  }
  info.lro = flags & ETH_FLAG_LRO;
  close(fd);
  return info;
}

AfPacketPort::AfPacketPort(std::shared_ptr<Endpoint> endpoint, const AfPacketOptions& options)
    : endpoint_(std::move(endpoint)), region_(endpoint_->region()), options_(options) {
  const Geometry& g = region_->geometry();
  capacity_ = g.bufferSize - g.dataOffset;
  const std::string& name = options_.interface;
  if (options_.blockSize < 4096 || (options_.blockSize & (options_.blockSize - 1)) || options_.blocks < 2 ||
      options_.blockTimeoutMs < 1)
    throw Failure{"BAD_CONFIG", "afpacket " + name + ": blockSize must be a power of two of at least 4096, blocks at least 2, blockTimeoutMs at least 1"};
  InterfaceInfo info = interfaceInfo(name);
  // A full-size frame, with a VLAN tag, must fit one buffer: refusing now beats dropping later.
  uint32_t largest = info.mtu + kEthernetHeader + kVlanTagLength;
  if (largest > capacity_)
    throw Failure{"MTU_TOO_LARGE", "interface " + name + " has MTU " + std::to_string(info.mtu) + ": its frames (up to " +
                                       std::to_string(largest) + " bytes) do not fit the pool's " + std::to_string(capacity_) +
                                       "-byte buffers; lower its MTU (ip link set " + name + " mtu 1500) or raise the spec's pool.bufferSize"};
  // The kernel cuts a frame to what one block holds after its own headers: a block must hold
  // the largest frame whole.
  if (options_.blockSize < largest + kBlockOverhead)
    throw Failure{"BAD_CONFIG", "afpacket " + name + ": blockSize " + std::to_string(options_.blockSize) + " cannot hold its " +
                                    std::to_string(largest) + "-byte frames; use at least " + std::to_string(largest + kBlockOverhead) +
                                    " (a power of two)"};

  // Protocol 0 receives nothing until bind, so no frame lands before the ring exists.
  fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    if (errno == EPERM || errno == EACCES) throw permissionFailure(name);
    throw Failure{"SYSTEM", systemError("socket(AF_PACKET)", errno)};
  }
  auto fail = [&](const std::string& what) {
    int error = errno;
    stop();
    throw Failure{error == EPERM ? "PERMISSION" : "SYSTEM", systemError("interface " + name + ": " + what, error)};
  };
  int version = TPACKET_V3;
  if (setsockopt(fd_, SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0) fail("PACKET_VERSION v3");
  tpacket_req3 req{};
  req.tp_block_size = options_.blockSize;
  req.tp_block_nr = options_.blocks;
  req.tp_frame_size = 2048;  // V3 packs frames of any size; this only sets the kernel's frame count
  req.tp_frame_nr = options_.blockSize / req.tp_frame_size * options_.blocks;
  req.tp_retire_blk_tov = options_.blockTimeoutMs;
  if (setsockopt(fd_, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0) fail("PACKET_RX_RING");
  ringBytes_ = size_t(options_.blockSize) * options_.blocks;
  void* ring = mmap(nullptr, ringBytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (ring == MAP_FAILED) {
    ringBytes_ = 0;
    fail("mapping the receive ring");
  }
  ring_ = static_cast<uint8_t*>(ring);
  int one = 1;
  // What this socket sends goes to the wire only: the kernel's own copies of it stay out of RX.
  if (setsockopt(fd_, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0) fail("PACKET_IGNORE_OUTGOING");
  // Straight to the driver: the chain already is the queueing discipline.
  if (setsockopt(fd_, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) != 0) fail("PACKET_QDISC_BYPASS");
  sockaddr_ll address{};
  address.sll_family = AF_PACKET;
  address.sll_protocol = htons(ETH_P_ALL);
  address.sll_ifindex = ifindex_ = info.index;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) fail("bind");
  if (options_.promiscuous) {
    // A membership, not the interface's flag: the kernel ends it when this socket closes.
    packet_mreq membership{};
    membership.mr_ifindex = info.index;
    membership.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(fd_, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &membership, sizeof membership) != 0) fail("promiscuous mode");
  }
  stopFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stopFd_ < 0) fail("eventfd");
  // Last, so that no failure above leaves the endpoint taken.
  if (!endpoint_->drive()) {
    stop();
    throw Failure{"BAD_CONFIG", "afpacket " + name + ": its endpoint is already driven by another port"};
  }
  drives_ = true;
  try {
    receiver_ = std::thread([this] { receiveLoop(); });
    transmitter_ = std::thread([this] { transmitLoop(); });
  } catch (const std::system_error& e) {
    stop();
    throw Failure{"SYSTEM", "interface " + name + ": starting its threads: " + e.what()};
  }
}

AfPacketPort::~AfPacketPort() { stop(); }

void AfPacketPort::stopReceiving() {
  receiving_.store(false);
  if (stopFd_ >= 0) {
    uint64_t one = 1;
    (void)!write(stopFd_, &one, sizeof one);
  }
  if (receiver_.joinable()) receiver_.join();
  if (fd_ >= 0) {
    // Protocol 0 takes nothing more in: the kernel stops filling the ring (and counting drops
    // of it) while the chain drains. Sending still goes out of the bound interface.
    sockaddr_ll address{};
    address.sll_family = AF_PACKET;
    address.sll_protocol = 0;
    address.sll_ifindex = ifindex_;
    bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
  }
}

void AfPacketPort::stop() {
  stopReceiving();
  stopping_.store(true);
  if (transmitter_.joinable()) transmitter_.join();
  if (drives_) endpoint_->release();
  drives_ = false;
  {
    // The last drops the kernel counted, before the socket (and its count) goes.
    std::lock_guard<std::mutex> lock(statsMutex_);
    readKernelDrops();
  }
  if (ring_) munmap(ring_, ringBytes_);
  ring_ = nullptr;
  if (fd_ >= 0) close(fd_);
  if (stopFd_ >= 0) close(stopFd_);
  fd_ = stopFd_ = -1;
}

void AfPacketPort::readKernelDrops() {
  if (fd_ < 0) return;
  tpacket_stats_v3 kernel{};
  socklen_t size = sizeof kernel;
  if (getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &kernel, &size) == 0) kernelDrops_ += kernel.tp_drops;
}

AfPacketStats AfPacketPort::stats() {
  std::lock_guard<std::mutex> lock(statsMutex_);
  readKernelDrops();
  const Counters& c = counters_;
  return AfPacketStats{c.rxFrames.load(), c.rxBytes.load(), c.txFrames.load(), c.txBytes.load(), kernelDrops_,
                       c.oversize.load(), c.runts.load(), c.txErrors.load(), c.linkErrors.load(), c.poolWaits.load(),
                       c.checksumsCompleted.load()};
}

std::string AfPacketPort::failure() {
  std::lock_guard<std::mutex> lock(statsMutex_);
  return failure_;
}

void AfPacketPort::recordFailure(const Failure& f) {
  std::lock_guard<std::mutex> lock(statsMutex_);
  if (failure_.empty()) failure_ = f.code + ": " + f.message;
}

bool AfPacketPort::awaitBlock() {
  auto* block = reinterpret_cast<tpacket_block_desc*>(ring_ + size_t(block_) * options_.blockSize);
  while (receiving_.load(std::memory_order_relaxed)) {
    if (__atomic_load_n(&block->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) return true;
    pollfd fds[2] = {{fd_, POLLIN, 0}, {stopFd_, POLLIN, 0}};
    poll(fds, 2, -1);
    if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
      // The link went down (ENETDOWN) or away: reading the error clears it, else poll()
      // would report it at once forever. Then wait a moment: a down link sends nothing.
      int error = 0;
      socklen_t size = sizeof error;
      getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &size);
      counters_.linkErrors.fetch_add(1, std::memory_order_relaxed);
      usleep(10'000);
    }
  }
  return false;
}

bool AfPacketPort::transmitAll(uint32_t* descs, uint32_t& n) {
  uint32_t sent = endpoint_->tx(descs, n);
  uint32_t waits = 0;
  while (sent < n) {
    if (!receiving_.load(std::memory_order_relaxed)) {
      memmove(descs, descs + sent, (n - sent) * sizeof *descs);
      n -= sent;
      return false;
    }
    // The chain is behind: the kernel's ring holds what arrives meanwhile. Yield at first,
    // then sleep: a chain stalled for long must not cost a core here.
    if (++waits < 64) {
      sched_yield();
    } else {
      if (!region_->managerAlive()) throw Failure{"MANAGER_GONE", "the manager of prefix '" + region_->prefix() + "' stopped"};
      usleep(waits < 1024 ? 50 : 1000);
    }
    sent += endpoint_->tx(descs + sent, n - sent);
  }
  n = 0;
  return true;
}

void AfPacketPort::receiveLoop() {
  uint32_t spare[AfPacketPort::kBurst], spareCount = 0;  // buffers taken from the cache, not yet filled
  uint32_t filled[AfPacketPort::kBurst], filledCount = 0;
  try {
    receive(spare, spareCount, filled, filledCount);
  } catch (const Failure& f) {
    // The manager gone or stalled, or this endpoint cut off: nothing to receive for any
    // more. Said in stats; what this thread held is taken back at detach.
    recordFailure(f);
    return;
  }
  // Frames filled but never sent did not enter the chain.
  for (uint32_t i = 0; i < filledCount; i++) {
    counters_.rxFrames.fetch_sub(1, std::memory_order_relaxed);
    counters_.rxBytes.fetch_sub(region_->meta(filled[i])->length, std::memory_order_relaxed);
  }
  // What it still holds goes back through the transmitter, the free ring's one producer: a
  // stopped port holds no buffer, so the chain's drain can finish.
  memcpy(leftover_, spare, spareCount * sizeof *spare);
  memcpy(leftover_ + spareCount, filled, filledCount * sizeof *filled);
  leftoverCount_.store(spareCount + filledCount, std::memory_order_release);
}

void AfPacketPort::receive(uint32_t* spare, uint32_t& spareCount, uint32_t* filled, uint32_t& filledCount) {
  const Geometry& g = region_->geometry();
  while (awaitBlock()) {
    auto* block = reinterpret_cast<tpacket_block_desc*>(ring_ + size_t(block_) * options_.blockSize);
    uint32_t frames = block->hdr.bh1.num_pkts;
    auto* next = reinterpret_cast<tpacket3_hdr*>(reinterpret_cast<uint8_t*>(block) + block->hdr.bh1.offset_to_first_pkt);
    for (uint32_t i = 0; i < frames; i++) {
      tpacket3_hdr* frame = next;
      next = reinterpret_cast<tpacket3_hdr*>(reinterpret_cast<uint8_t*>(frame) + frame->tp_next_offset);
      const uint8_t* bytes = reinterpret_cast<const uint8_t*>(frame) + frame->tp_mac;
      bool tagged = frame->tp_status & TP_STATUS_VLAN_VALID;
      uint32_t length = frame->tp_snaplen + (tagged ? kVlanTagLength : 0);
      if (frame->tp_snaplen < kEthernetHeader) {
        counters_.runts.fetch_add(1, std::memory_order_relaxed);
      } else if (length > capacity_ || frame->tp_snaplen < frame->tp_len) {
        counters_.oversize.fetch_add(1, std::memory_order_relaxed);
      } else {
        for (bool waited = false; !spareCount;) {
          spareCount = endpoint_->malloc(spare, kBurst);
          if (spareCount) break;
          // The pool is dry: send what is filled, then wait for buffers to come back.
          if (filledCount && !transmitAll(filled, filledCount)) return;
          if (!waited) counters_.poolWaits.fetch_add(1, std::memory_order_relaxed);
          waited = true;
          if (!receiving_.load(std::memory_order_relaxed)) return;
          usleep(50);
        }
        uint32_t d = spare[--spareCount];
        if (d >= g.bufferCount) continue;  // never from a correct manager; never write past the pool
        Meta* meta = region_->meta(d);
        uint8_t* data = reinterpret_cast<uint8_t*>(meta) + g.dataOffset;
        if (tagged) {
          // The kernel took the outer VLAN tag off into the frame header: put it back where it was.
          uint16_t tpid = htons((frame->tp_status & TP_STATUS_VLAN_TPID_VALID) ? frame->hv1.tp_vlan_tpid : ETH_P_8021Q);
          uint16_t tci = htons(frame->hv1.tp_vlan_tci);
          memcpy(data, bytes, 12);
          memcpy(data + 12, &tpid, 2);
          memcpy(data + 14, &tci, 2);
          memcpy(data + 16, bytes + 12, frame->tp_snaplen - 12);
        } else {
          memcpy(data, bytes, length);
        }
        // Sent by a stack on this machine with the checksum left to the NIC (a veth's default):
        // finish it, as the NIC would have, or the receiver drops the frame.
        if ((frame->tp_status & TP_STATUS_CSUMNOTREADY) && completeL4Checksum(data, length))
          counters_.checksumsCompleted.fetch_add(1, std::memory_order_relaxed);
        meta->length = length;
        meta->timestamp = uint64_t(frame->tp_sec) * 1'000'000'000ull + frame->tp_nsec;
        meta->flowHash = frameFlowHash(data, length);
        filled[filledCount++] = d;
        counters_.rxFrames.fetch_add(1, std::memory_order_relaxed);
        counters_.rxBytes.fetch_add(length, std::memory_order_relaxed);
        if (filledCount == kBurst && !transmitAll(filled, filledCount)) return;
      }
    }
    if (filledCount && !transmitAll(filled, filledCount)) return;
    __atomic_store_n(&block->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    block_ = (block_ + 1) % options_.blocks;
  }
}

void AfPacketPort::returnLeftovers() {
  uint32_t n = leftoverCount_.load(std::memory_order_acquire);
  if (!n) return;
  endpoint_->free(leftover_, n);
  leftoverCount_.store(0, std::memory_order_relaxed);
}

void AfPacketPort::transmitLoop() {
  const Geometry& g = region_->geometry();
  uint32_t descs[kBurst];
  mmsghdr messages[kBurst];
  iovec vectors[kBurst];
  try {
    while (!stopping_.load(std::memory_order_relaxed)) {
      returnLeftovers();
      uint32_t n = endpoint_->rxWait(descs, kBurst, kTransmitWaitNs);
      if (!n) continue;
      uint32_t count = 0;
      for (uint32_t i = 0; i < n; i++) {
        if (descs[i] >= g.bufferCount) continue;
        Meta* meta = region_->meta(descs[i]);
        uint32_t length = meta->length < capacity_ ? meta->length : capacity_;
        if (length < kEthernetHeader) {
          counters_.txErrors.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        vectors[count] = {reinterpret_cast<uint8_t*>(meta) + g.dataOffset, length};
        messages[count] = {};
        messages[count].msg_hdr.msg_iov = &vectors[count];
        messages[count].msg_hdr.msg_iovlen = 1;
        count++;
      }
      // Bound to the interface: no address needed. One call for the burst; the kernel copies
      // each frame out of its pool buffer, which goes back to the pool right after.
      uint32_t done = 0, waits = 0;
      while (done < count) {
        int sent = sendmmsg(fd_, messages + done, count - done, MSG_DONTWAIT);
        if (sent > 0) {
          for (int k = 0; k < sent; k++) counters_.txBytes.fetch_add(vectors[done + k].iov_len, std::memory_order_relaxed);
          counters_.txFrames.fetch_add(sent, std::memory_order_relaxed);
          done += sent;
          waits = 0;
          continue;
        }
        if (sent < 0 && errno == EINTR) continue;
        if (sent < 0 && errno == EAGAIN && waits++ < 100) {
          // The socket's send buffer is full: wait for the interface to take frames.
          pollfd writable{fd_, POLLOUT, 0};
          poll(&writable, 1, 1);
          continue;
        }
        if (sent < 0 && errno == ENOBUFS && waits++ < 100) {
          // The driver's queue is full (no qdisc in between to hold the frame): POLLOUT does
          // not tell when it has room, so wait a little and try again.
          usleep(20);
          continue;
        }
        // The interface refused the next frame (down, its queue full, too big): drop it, as a
        // NIC whose TX ring is full does, and go on with the rest.
        counters_.txErrors.fetch_add(1, std::memory_order_relaxed);
        done++;
      }
      endpoint_->free(descs, n);
    }
    returnLeftovers();
  } catch (const Failure& f) {
    // Cut off or the manager gone: nothing to send any more. Said in stats.
    recordFailure(f);
  }
}

}  // namespace xio
