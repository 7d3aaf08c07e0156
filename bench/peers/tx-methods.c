// How the afpacket port should hand frames to the kernel: sendmmsg (what native/afpacket.cc
// does) against a TPACKET memory-mapped TX ring, with one frame per sendmsg as a floor. Not
// part of the build or the tests: a standalone measurement, built by hand.
//
//   cc -O2 -Wall -o /tmp/tx-methods bench/peers/tx-methods.c
//   ip netns exec xt-a /tmp/tx-methods -i xt-a0 -m mmsg|ring|one -s 60 -n 1000000 -d <dst-mac> [options]
//
// The socket is opened as the port opens it: AF_PACKET/SOCK_RAW, PACKET_IGNORE_OUTGOING,
// PACKET_QDISC_BYPASS (unless -b 0), bound to the interface with ETH_P_ALL; with -R it also gets
// the port's TPACKET_V3 receive ring (32 blocks of 256 KiB), which forces TPACKET_V3 on a TX
// ring of the same socket. Frames come from a pool of pre-built 2048-byte buffers (data 64
// bytes in, like a pool buffer after its Meta), taken 32 at a time in pool order:
//
//   mmsg  one sendmmsg of up to 32 iovecs per burst, MSG_DONTWAIT, retried on EAGAIN (poll
//         POLLOUT 1 ms) and ENOBUFS (usleep 20), a frame dropped after 100 waits: the port's loop.
//   ring  a PACKET_TX_RING (TPACKET_V2, or V3 with -v 3), frame size 2048, -r slots: each frame
//         is copied into the next slot (waiting for TP_STATUS_AVAILABLE when the ring is full),
//         marked TP_STATUS_SEND_REQUEST, then one send(fd, NULL, 0, MSG_DONTWAIT) per burst.
//   one   one send() per frame, same retries: the floor.
//
// Each frame is Ethernet/IPv4/UDP (valid IPv4 and UDP checksums) from the interface's MAC and
// -S to -D:9 (discard), to the MAC -d. Runs warm-up frames (-w) first, then -n frames or -t
// seconds, whichever ends first, and prints one line of key=value: frames/s, the sending
// thread's CPU per frame (CLOCK_THREAD_CPUTIME_ID, and getrusage(RUSAGE_THREAD) user/sys), and
// the whole machine's busy CPU per frame from /proc/stat (tick-sampled, 10 ms units).
//
//   --probe  instead: whether SO_ZEROCOPY / MSG_ZEROCOPY work on this socket, and what an
//            oversize frame does to the TX ring with and without PACKET_LOSS.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BURST 32
#define BUFFER_SIZE 2048
#define DATA_OFFSET 64
#define RING_FRAME 2048

static struct {
  const char* ifname;
  const char* method;
  int size;
  long frames;
  long warmup;
  uint8_t dstMac[6];
  uint32_t srcIp, dstIp;  // network order
  int version;
  unsigned ringFrames;
  int bypass;
  int rxRing;
  unsigned pool;
  double maxSeconds;
  int cpu;
  int probe;
  int loss;  // PACKET_LOSS (only the probe sets it)
} o = {NULL, "mmsg", 60, 1000000, 65536, {0x02, 0, 0, 0, 0, 0x99}, 0, 0, TPACKET_V2, 512, 1, 0, 1024, 5.0, -1, 0, 0};

static int fd = -1, ifindex = 0;
static uint8_t srcMac[6];
static uint8_t* pool;  // o.pool buffers of BUFFER_SIZE
static uint8_t* ringMap;
static size_t ringMapBytes;
static uint8_t* txRing;
static unsigned ringHead;
static unsigned ringDataOffset;

static struct {
  long eagain, enobufs, errors, waits, ringWaits, wrongFormat, kicks;
} c;

static void die(const char* what) {
  fprintf(stderr, "tx-methods: %s: %s\n", what, strerror(errno));
  exit(2);
}

static double monotonic(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static double threadCpu(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

// /proc/stat's first line: busy (everything but idle, iowait and steal), softirq and steal
// (time the hypervisor gave away), in ticks.
static void machineTicks(unsigned long long* busy, unsigned long long* softirq, unsigned long long* steal) {
  unsigned long long v[10] = {0};
  FILE* f = fopen("/proc/stat", "r");
  if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
                   &v[5], &v[6], &v[7], &v[8], &v[9]) < 8)
    die("reading /proc/stat");
  fclose(f);
  *busy = v[0] + v[1] + v[2] + v[5] + v[6];
  *softirq = v[6];
  *steal = v[7];
}

static unsigned long long ifaceStat(const char* stat) {
  char path[256];
  snprintf(path, sizeof path, "/sys/class/net/%s/statistics/%s", o.ifname, stat);
  FILE* f = fopen(path, "r");
  unsigned long long v = 0;
  if (f) {
    if (fscanf(f, "%llu", &v) != 1) v = 0;
    fclose(f);
  }
  return v;
}

static uint32_t sum16(const uint8_t* p, uint32_t length, uint32_t sum) {
  for (; length > 1; p += 2, length -= 2) sum += (uint32_t)p[0] << 8 | p[1];
  if (length) sum += (uint32_t)p[0] << 8;
  return sum;
}

static uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static void put16(uint8_t* p, uint32_t v) {
  p[0] = v >> 8;
  p[1] = v;
}

// An Ethernet/IPv4/UDP frame of `size` bytes (at least 42), source port 10000 + `flow`.
static void buildFrame(uint8_t* f, int size, unsigned flow) {
  memset(f, 0, size);
  memcpy(f, o.dstMac, 6);
  memcpy(f + 6, srcMac, 6);
  put16(f + 12, ETHERTYPE_IP);
  uint8_t* ip = f + 14;
  uint32_t ipLength = size - 14, udpLength = ipLength - 20;
  ip[0] = 0x45;
  put16(ip + 2, ipLength);
  put16(ip + 4, flow);
  put16(ip + 6, 0x4000);  // DF
  ip[8] = 64;
  ip[9] = 17;
  memcpy(ip + 12, &o.srcIp, 4);
  memcpy(ip + 16, &o.dstIp, 4);
  put16(ip + 10, fold(sum16(ip, 20, 0)));
  uint8_t* udp = ip + 20;
  put16(udp, 10000 + flow % 256);
  put16(udp + 2, 9);
  put16(udp + 4, udpLength);
  for (uint32_t i = 8; i < udpLength; i++) udp[i] = (uint8_t)(i + flow);
  uint16_t check = fold(sum16(udp, udpLength, sum16(ip + 12, 8, 17 + udpLength)));
  put16(udp + 6, check ? check : 0xffff);
}

static void openSocket(int withTxRing) {
  fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket(AF_PACKET)");
  int version = o.rxRing ? TPACKET_V3 : o.version;
  if ((o.rxRing || withTxRing) && setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0)
    die("PACKET_VERSION");
  int one = 1;
  // Before the rings: the kernel refuses it (EBUSY) once one is set up.
  if (o.loss && setsockopt(fd, SOL_PACKET, PACKET_LOSS, &one, sizeof one) != 0) die("PACKET_LOSS");
  size_t rxBytes = 0, txBytes = 0;
  if (o.rxRing) {
    // The port's receive ring, as native/afpacket.cc sets it up with its defaults.
    struct tpacket_req3 req = {0};
    req.tp_block_size = 1u << 18;
    req.tp_block_nr = 32;
    req.tp_frame_size = 2048;
    req.tp_frame_nr = req.tp_block_size / req.tp_frame_size * req.tp_block_nr;
    req.tp_retire_blk_tov = 1;
    if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0) die("PACKET_RX_RING");
    rxBytes = (size_t)req.tp_block_size * req.tp_block_nr;
  }
  if (withTxRing) {
    // Blocks of 64 KiB hold 32 slots each; slot i is at i * 2048 since a block is a whole
    // number of slots.
    unsigned blockSize = 1u << 16, perBlock = blockSize / RING_FRAME;
    unsigned slots = (o.ringFrames + perBlock - 1) / perBlock * perBlock;
    o.ringFrames = slots;
    if (version == TPACKET_V3) {
      struct tpacket_req3 req = {0};  // TX: no retire timeout, no private area, no feature word
      req.tp_block_size = blockSize;
      req.tp_block_nr = slots / perBlock;
      req.tp_frame_size = RING_FRAME;
      req.tp_frame_nr = slots;
      if (setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof req) != 0) die("PACKET_TX_RING (v3)");
      ringDataOffset = TPACKET3_HDRLEN - sizeof(struct sockaddr_ll);
    } else {
      struct tpacket_req req = {blockSize, slots / perBlock, RING_FRAME, slots};
      if (setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof req) != 0) die("PACKET_TX_RING (v2)");
      ringDataOffset = TPACKET2_HDRLEN - sizeof(struct sockaddr_ll);
    }
    txBytes = (size_t)slots * RING_FRAME;
  }
  if (rxBytes + txBytes) {
    ringMapBytes = rxBytes + txBytes;
    void* map = mmap(NULL, ringMapBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) die("mmap");
    ringMap = map;
    txRing = withTxRing ? ringMap + rxBytes : NULL;  // the TX ring follows the RX ring
  }
  if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0) die("PACKET_IGNORE_OUTGOING");
  if (o.bypass && setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) != 0) die("PACKET_QDISC_BYPASS");
  struct sockaddr_ll address = {0};
  address.sll_family = AF_PACKET;
  address.sll_protocol = htons(ETH_P_ALL);
  address.sll_ifindex = ifindex;
  if (bind(fd, (struct sockaddr*)&address, sizeof address) != 0) die("bind");
}

// ---- sendmmsg: the port's transmit loop, less the endpoint ----

static void sendBurstMmsg(uint8_t** frames, unsigned n) {
  struct mmsghdr messages[BURST];
  struct iovec vectors[BURST];
  for (unsigned i = 0; i < n; i++) {
    vectors[i].iov_base = frames[i];
    vectors[i].iov_len = o.size;
    memset(&messages[i], 0, sizeof messages[i]);
    messages[i].msg_hdr.msg_iov = &vectors[i];
    messages[i].msg_hdr.msg_iovlen = 1;
  }
  unsigned done = 0, waits = 0;
  while (done < n) {
    int sent = sendmmsg(fd, messages + done, n - done, MSG_DONTWAIT);
    if (sent > 0) {
      done += sent;
      waits = 0;
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && errno == EAGAIN && waits++ < 100) {
      c.eagain++;
      struct pollfd writable = {fd, POLLOUT, 0};
      poll(&writable, 1, 1);
      continue;
    }
    if (sent < 0 && errno == ENOBUFS && waits++ < 100) {
      c.enobufs++;
      usleep(20);
      continue;
    }
    c.errors++;
    done++;
  }
}

// ---- one send() per frame ----

static void sendBurstOne(uint8_t** frames, unsigned n) {
  for (unsigned i = 0; i < n; i++) {
    unsigned waits = 0;
    for (;;) {
      ssize_t r = send(fd, frames[i], o.size, MSG_DONTWAIT);
      if (r >= 0) break;
      if (errno == EINTR) continue;
      if (errno == EAGAIN && waits++ < 100) {
        c.eagain++;
        struct pollfd writable = {fd, POLLOUT, 0};
        poll(&writable, 1, 1);
        continue;
      }
      if (errno == ENOBUFS && waits++ < 100) {
        c.enobufs++;
        usleep(20);
        continue;
      }
      c.errors++;
      break;
    }
  }
}

// ---- the TX ring ----

static inline uint8_t* slot(unsigned i) { return txRing + (size_t)i * RING_FRAME; }

// tp_status is the first word of a tpacket2_hdr, the sixth of a tpacket3_hdr.
static inline uint32_t* slotStatus(uint8_t* s) {
  int version = o.rxRing ? TPACKET_V3 : o.version;
  return version == TPACKET_V3 ? &((struct tpacket3_hdr*)s)->tp_status : &((struct tpacket2_hdr*)s)->tp_status;
}

// Asks the kernel to send every slot marked SEND_REQUEST from its head on.
static void kick(void) {
  c.kicks++;
  for (;;) {
    ssize_t r = send(fd, NULL, 0, MSG_DONTWAIT);
    if (r >= 0) return;
    if (errno == EINTR) continue;
    if (errno == EAGAIN) c.eagain++;       // the send buffer is full: the slots stay SEND_REQUEST
    else if (errno == ENOBUFS) c.enobufs++;  // the device refused one: that slot stays SEND_REQUEST
    else c.errors++;
    return;
  }
}

// Waits until slot i is the user's again. The kernel marks a slot AVAILABLE when the skb
// built on it is freed (its destructor), not when send() returns.
static void awaitSlot(unsigned i) {
  uint32_t* status = slotStatus(slot(i));
  unsigned spins = 0;
  for (;;) {
    uint32_t st = __atomic_load_n(status, __ATOMIC_ACQUIRE);
    if (!(st & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING | TP_STATUS_WRONG_FORMAT))) return;
    if (st & TP_STATUS_WRONG_FORMAT) {
      c.wrongFormat++;
      c.errors++;
      __atomic_store_n(status, TP_STATUS_AVAILABLE, __ATOMIC_RELEASE);
      return;
    }
    c.ringWaits++;
    if (st & TP_STATUS_SEND_REQUEST) {
      // Left behind by an EAGAIN/ENOBUFS: kick again, backing off as the port does.
      kick();
      if (++spins > 2) usleep(20);
    } else {
      // SENDING: an skb still holds the slot. POLLOUT means the kernel's head slot is free.
      struct pollfd writable = {fd, POLLOUT, 0};
      poll(&writable, 1, 1);
    }
  }
}

static void sendBurstRing(uint8_t** frames, unsigned n) {
  int version = o.rxRing ? TPACKET_V3 : o.version;
  for (unsigned i = 0; i < n; i++) {
    awaitSlot(ringHead);
    uint8_t* s = slot(ringHead);
    memcpy(s + ringDataOffset, frames[i], o.size);
    if (version == TPACKET_V3) {
      struct tpacket3_hdr* h = (struct tpacket3_hdr*)s;
      h->tp_next_offset = 0;
      h->tp_len = o.size;
      h->tp_snaplen = o.size;
    } else {
      struct tpacket2_hdr* h = (struct tpacket2_hdr*)s;
      h->tp_len = o.size;
      h->tp_snaplen = o.size;
    }
    __atomic_store_n(slotStatus(s), TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
    ringHead = (ringHead + 1) % o.ringFrames;
  }
  kick();
}

// Every slot back with the user: all frames handed over and their skbs freed.
static void drainRing(void) {
  for (unsigned i = 0; i < o.ringFrames; i++) awaitSlot((ringHead + i) % o.ringFrames);
}

// ---- probes ----

static void probe(void) {
  openSocket(0);
  int one = 1;
  int r = setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof one);
  printf("SO_ZEROCOPY on AF_PACKET: %s\n", r == 0 ? "accepted" : strerror(errno));
  uint8_t frame[60];
  buildFrame(frame, 60, 0);
  struct iovec v = {frame, 60};
  struct msghdr m = {0};
  m.msg_iov = &v;
  m.msg_iovlen = 1;
  ssize_t s = sendmsg(fd, &m, MSG_DONTWAIT | MSG_ZEROCOPY);
  printf("sendmsg(MSG_ZEROCOPY): %s\n", s >= 0 ? "sent (flag ignored: no completion is queued)" : strerror(errno));
  if (s >= 0) {
    char control[256];
    uint8_t data[64];
    struct iovec rv = {data, sizeof data};
    struct msghdr rm = {0};
    rm.msg_iov = &rv;
    rm.msg_iovlen = 1;
    rm.msg_control = control;
    rm.msg_controllen = sizeof control;
    ssize_t e = recvmsg(fd, &rm, MSG_ERRQUEUE | MSG_DONTWAIT);
    printf("  error queue after it: %s\n", e >= 0 ? "a notification" : strerror(errno));
  }
  close(fd);
  munmap(ringMap, ringMapBytes);
  ringMap = NULL;

  // An oversize frame on the TX ring, with and without PACKET_LOSS.
  for (int loss = 0; loss <= 1; loss++) {
    o.loss = loss;
    openSocket(1);
    int version = o.rxRing ? TPACKET_V3 : o.version;
    uint8_t big[RING_FRAME];
    unsigned sizes[3] = {60, 1519, 60};  // 1519 > MTU 1500 + 14 + 4 (VLAN): refused
    for (int i = 0; i < 3; i++) {
      buildFrame(big, sizes[i] > 1514 ? 1514 : sizes[i], i);
      uint8_t* sl = slot(i);
      memcpy(sl + ringDataOffset, big, sizes[i] > 1514 ? 1514 : sizes[i]);
      if (version == TPACKET_V3) ((struct tpacket3_hdr*)sl)->tp_len = sizes[i];
      else ((struct tpacket2_hdr*)sl)->tp_len = sizes[i];
      __atomic_store_n(slotStatus(sl), TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
    }
    unsigned long long before = ifaceStat("tx_packets");
    errno = 0;
    ssize_t k = send(fd, NULL, 0, MSG_DONTWAIT);
    int err = errno;
    usleep(1000);
    printf("TX ring v%d, PACKET_LOSS %s: 60, 1519, 60 bytes queued; send() = %zd%s%s; statuses after: %u %u %u; tx_packets +%llu\n",
           version == TPACKET_V3 ? 3 : 2, loss ? "on " : "off", k, k < 0 ? " " : "", k < 0 ? strerror(err) : "",
           *slotStatus(slot(0)), *slotStatus(slot(1)), *slotStatus(slot(2)), ifaceStat("tx_packets") - before);
    close(fd);
    munmap(ringMap, ringMapBytes);
    ringMap = NULL;
  }
}

static void usage(void) {
  fprintf(stderr,
          "usage: tx-methods -i IF -m mmsg|ring|one [-s size] [-n frames] [-w warmup] [-d dst-mac] [-S src-ip] [-D dst-ip]\n"
          "                  [-v 2|3] [-r ring-slots] [-b 0|1 qdisc-bypass] [-R (port's V3 RX ring)] [-p pool-buffers]\n"
          "                  [-t max-seconds] [-c cpu] [--probe]\n");
  exit(1);
}

int main(int argc, char** argv) {
  o.srcIp = inet_addr("10.77.0.1");
  o.dstIp = inet_addr("10.77.0.2");
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (!strcmp(a, "--probe")) {
      o.probe = 1;
      continue;
    }
    if (!strcmp(a, "-R")) {
      o.rxRing = 1;
      continue;
    }
    if (i + 1 >= argc) usage();
    const char* v = argv[++i];
    if (!strcmp(a, "-i")) o.ifname = v;
    else if (!strcmp(a, "-m")) o.method = v;
    else if (!strcmp(a, "-s")) o.size = atoi(v);
    else if (!strcmp(a, "-n")) o.frames = atol(v);
    else if (!strcmp(a, "-w")) o.warmup = atol(v);
    else if (!strcmp(a, "-S")) o.srcIp = inet_addr(v);
    else if (!strcmp(a, "-D")) o.dstIp = inet_addr(v);
    else if (!strcmp(a, "-v")) o.version = atoi(v) == 3 ? TPACKET_V3 : TPACKET_V2;
    else if (!strcmp(a, "-r")) o.ringFrames = atoi(v);
    else if (!strcmp(a, "-b")) o.bypass = atoi(v);
    else if (!strcmp(a, "-p")) o.pool = atoi(v);
    else if (!strcmp(a, "-t")) o.maxSeconds = atof(v);
    else if (!strcmp(a, "-c")) o.cpu = atoi(v);
    else if (!strcmp(a, "-d")) {
      if (sscanf(v, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &o.dstMac[0], &o.dstMac[1], &o.dstMac[2], &o.dstMac[3],
                 &o.dstMac[4], &o.dstMac[5]) != 6)
        usage();
    } else usage();
  }
  if (!o.ifname || o.size < 42 || o.size > 1514 || o.frames < 1 || o.pool < BURST || o.ringFrames < BURST) usage();
  int method = !strcmp(o.method, "mmsg") ? 0 : !strcmp(o.method, "ring") ? 1 : !strcmp(o.method, "one") ? 2 : -1;
  if (method < 0) usage();
  if (o.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(o.cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
  }
  ifindex = if_nametoindex(o.ifname);
  if (!ifindex) die(o.ifname);
  {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq r = {0};
    strncpy(r.ifr_name, o.ifname, IFNAMSIZ - 1);
    if (s < 0 || ioctl(s, SIOCGIFHWADDR, &r) != 0) die("SIOCGIFHWADDR");
    memcpy(srcMac, r.ifr_hwaddr.sa_data, 6);
    close(s);
  }
  if (o.probe) {
    probe();
    return 0;
  }

  pool = aligned_alloc(4096, (size_t)o.pool * BUFFER_SIZE);
  if (!pool) die("pool");
  for (unsigned i = 0; i < o.pool; i++) buildFrame(pool + (size_t)i * BUFFER_SIZE + DATA_OFFSET, o.size, i);
  openSocket(method == 1);
  void (*sendBurst)(uint8_t**, unsigned) = method == 0 ? sendBurstMmsg : method == 1 ? sendBurstRing : sendBurstOne;

  unsigned next = 0;
  uint8_t* frames[BURST];
  // Warm-up: the ring's pages, the kernel's caches, the frequency.
  for (long w = 0; w < o.warmup; w += BURST) {
    for (unsigned i = 0; i < BURST; i++, next = (next + 1) % o.pool) frames[i] = pool + (size_t)next * BUFFER_SIZE + DATA_OFFSET;
    sendBurst(frames, BURST);
  }
  if (method == 1) drainRing();
  memset(&c, 0, sizeof c);

  unsigned long long busy0, soft0, steal0, busy1, soft1, steal1;
  unsigned long long tx0 = ifaceStat("tx_packets"), drop0 = ifaceStat("tx_dropped");
  struct rusage ru0, ru1;
  getrusage(RUSAGE_THREAD, &ru0);
  machineTicks(&busy0, &soft0, &steal0);
  double t0 = monotonic(), cpu0 = threadCpu();
  long sent = 0;
  unsigned bursts = 0;
  while (sent < o.frames) {
    unsigned n = o.frames - sent < BURST ? (unsigned)(o.frames - sent) : BURST;
    for (unsigned i = 0; i < n; i++, next = (next + 1) % o.pool) frames[i] = pool + (size_t)next * BUFFER_SIZE + DATA_OFFSET;
    sendBurst(frames, n);
    sent += n;
    if (!(++bursts & 1023) && monotonic() - t0 > o.maxSeconds) break;
  }
  if (method == 1) drainRing();  // the last frames count once the kernel has let go of them
  double t1 = monotonic(), cpu1 = threadCpu();
  machineTicks(&busy1, &soft1, &steal1);
  getrusage(RUSAGE_THREAD, &ru1);
  unsigned long long tx1 = ifaceStat("tx_packets"), drop1 = ifaceStat("tx_dropped");

  double secs = t1 - t0, hz = sysconf(_SC_CLK_TCK);
  double user = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) + (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6;
  double sys = (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) + (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
  const char* name = method == 0 ? "mmsg" : method == 1 ? (o.rxRing || o.version == TPACKET_V3 ? "ring3" : "ring2") : "one";
  printf("method=%s size=%d bypass=%d rxring=%d slots=%u frames=%ld secs=%.4f fps=%.0f thread_ns=%.1f user_ns=%.1f sys_ns=%.1f "
         "machine_ns=%.1f softirq_ns=%.1f steal_ns=%.1f nivcsw=%ld tx_packets=%llu tx_dropped=%llu errors=%ld eagain=%ld enobufs=%ld ring_waits=%ld "
         "wrong_format=%ld kicks=%ld\n",
         name, o.size, o.bypass, o.rxRing, method == 1 ? o.ringFrames : 0, sent, secs, sent / secs, (cpu1 - cpu0) * 1e9 / sent,
         user * 1e9 / sent, sys * 1e9 / sent, (busy1 - busy0) / hz * 1e9 / sent, (soft1 - soft0) / hz * 1e9 / sent,
         (steal1 - steal0) / hz * 1e9 / sent, ru1.ru_nivcsw - ru0.ru_nivcsw, tx1 - tx0,
         drop1 - drop0, c.errors, c.eagain, c.enobufs, c.ringWaits, c.wrongFormat, c.kicks);
  return 0;
}
