// The generator and the counter of the forwarding benchmark (bench/forward.ts), in C so that
// neither end is the bottleneck it measures. Built at bench time with the system's cc.
//
//   udp-flood send <src-ip> <dst-ip> <dst-port> <first-src-port> <flows> <rate-pps|0> <seconds> <max-packets> [payload] [cpu]
//     UDP datagrams of `payload` bytes (default 18: 14 Ethernet + 20 IPv4 + 8 UDP + 18 = a
//     60-byte frame as Linux sees it, 64 on a wire with the FCS), from `flows` sockets bound to
//     consecutive source ports, each connected to dst. sendmmsg in batches of 64, one socket
//     per batch, round robin over the flows. rate 0 is flat out; otherwise batches are paced
//     so that at any moment no more than rate * elapsed have been sent. Stops after `seconds`
//     or `max-packets`, whichever comes first; pinned to `cpu` if given (-1: not pinned). Prints `start` when the first batch goes, then
//     one JSON line: {"sent", "seconds", "errors", "txPackets", "txDropped"} (the last two are
//     eth0's counters over the run: a veth counts there what its peer's backlog refused).
//
//   udp-flood count <bind-ip> <port> <interface> <max-seconds>
//     Receives with recvmmsg (batches of 64) until SIGTERM/SIGINT or max-seconds. Prints
//     `ready` once bound; on SIGUSR1 and at exit one JSON line with what it has counted so far:
//     {"received", "ifaceRx", "udpIn", "rcvbufErrors", "sources", "lastSource"} (the interface's
//     rx_packets and the namespace's UDP InDatagrams and RcvbufErrors, as absolute values; the
//     caller subtracts; then how many distinct source address:port pairs it has seen, up to
//     4096, and the last one: what a NAT made of the flows).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_FLOWS 1024
#define MAX_PAYLOAD 1472

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char* what) {
  fprintf(stderr, "udp-flood: %s: %s\n", what, strerror(errno));
  exit(2);
}

static unsigned long long readCounter(const char* path) {
  FILE* f = fopen(path, "r");
  unsigned long long v = 0;
  if (f) {
    if (fscanf(f, "%llu", &v) != 1) v = 0;
    fclose(f);
  }
  return v;
}

static unsigned long long ifaceStat(const char* iface, const char* stat) {
  char path[256];
  snprintf(path, sizeof path, "/sys/class/net/%s/statistics/%s", iface, stat);
  return readCounter(path);
}

// Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors ... from /proc/net/snmp (this namespace's).
static void udpStats(unsigned long long* in, unsigned long long* rcvbuf) {
  *in = *rcvbuf = 0;
  FILE* f = fopen("/proc/net/snmp", "r");
  if (!f) return;
  char line[1024];
  int seenHeader = 0;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "Udp:", 4) != 0) continue;
    if (!seenHeader) {
      seenHeader = 1;
      continue;
    }
    unsigned long long v[5] = {0};
    sscanf(line + 4, "%llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4]);
    *in = v[0];
    *rcvbuf = v[4];
    break;
  }
  fclose(f);
}

static struct in_addr address(const char* text) {
  struct in_addr a;
  if (inet_pton(AF_INET, text, &a) != 1) {
    fprintf(stderr, "udp-flood: not an IPv4 address: %s\n", text);
    exit(2);
  }
  return a;
}

static int sendMode(int argc, char** argv) {
  if (argc < 10) return 1;
  struct in_addr src = address(argv[2]), dst = address(argv[3]);
  int dstPort = atoi(argv[4]), firstPort = atoi(argv[5]), flows = atoi(argv[6]);
  double rate = atof(argv[7]), seconds = atof(argv[8]);
  unsigned long long maxPackets = strtoull(argv[9], NULL, 10);
  int payload = argc > 10 ? atoi(argv[10]) : 18;
  int cpu = argc > 11 ? atoi(argv[11]) : -1;
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
  }
  if (flows < 1 || flows > MAX_FLOWS || payload < 0 || payload > MAX_PAYLOAD || seconds <= 0 || seconds > 600) return 1;

  static int fds[MAX_FLOWS];
  for (int i = 0; i < flows; i++) {
    fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
    if (fds[i] < 0) die("socket");
    int one = 1, sndbuf = 4 << 20;
    setsockopt(fds[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (setsockopt(fds[i], SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) != 0)
      setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr = src, .sin_port = htons(firstPort + i)};
    if (bind(fds[i], (struct sockaddr*)&a, sizeof a) != 0) die("bind");
    struct sockaddr_in d = {.sin_family = AF_INET, .sin_addr = dst, .sin_port = htons(dstPort)};
    if (connect(fds[i], (struct sockaddr*)&d, sizeof d) != 0) die("connect");
  }
  static char data[BATCH][MAX_PAYLOAD];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    memset(data[i], 0x5a, payload);
    iov[i].iov_base = data[i];
    iov[i].iov_len = payload;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  unsigned long long txBefore = ifaceStat("eth0", "tx_packets"), dropBefore = ifaceStat("eth0", "tx_dropped");
  unsigned long long sent = 0, errors = 0, seq = 0;
  printf("start\n");
  fflush(stdout);
  double start = now(), end = start + seconds, t = start;
  for (int flow = 0; sent < maxPackets; flow = (flow + 1) % flows) {
    t = now();
    if (t >= end) break;
    unsigned long long want = BATCH;
    if (rate > 0) {
      // Paced: wait until the next batch is due (the batch may go out whole once it is).
      double due = start + (double)(sent + BATCH) / rate;
      if (due > end) due = end;
      if (due > t) {
        double wait = due - t;
        struct timespec ts = {.tv_sec = (time_t)wait, .tv_nsec = (long)((wait - (double)(time_t)wait) * 1e9)};
        nanosleep(&ts, NULL);
        t = now();
        if (t >= end) break;
      }
    }
    if (maxPackets - sent < want) want = maxPackets - sent;
    size_t stamp = sizeof seq < (size_t)payload ? sizeof seq : (size_t)payload;  // a sequence number, as far as it fits
    for (unsigned i = 0; i < want; i++, seq++) memcpy(data[i], &seq, stamp);
    int n = sendmmsg(fds[flow], msgs, (unsigned)want, 0);
    if (n < 0) {
      if (errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED && errno != EINTR) die("sendmmsg");
      errors++;
      continue;
    }
    sent += (unsigned long long)n;
  }
  double elapsed = now() - start;
  printf("{\"sent\":%llu,\"seconds\":%.6f,\"errors\":%llu,\"txPackets\":%llu,\"txDropped\":%llu}\n", sent, elapsed, errors,
         ifaceStat("eth0", "tx_packets") - txBefore, ifaceStat("eth0", "tx_dropped") - dropBefore);
  return 0;
}

static volatile sig_atomic_t stopping = 0, report = 0;
static void onStop(int s) { (void)s, stopping = 1; }
static void onReport(int s) { (void)s, report = 1; }

// Distinct sources seen, in a small open-addressed set (0 marks an empty entry).
#define SOURCES 8192
static uint64_t sources[SOURCES];
static unsigned sourceCount = 0;
static struct sockaddr_in lastSource;

static void noteSource(const struct sockaddr_in* a) {
  uint64_t key = ((uint64_t)a->sin_addr.s_addr << 16 | a->sin_port) + 1;
  lastSource = *a;
  if (sourceCount >= SOURCES / 2) return;
  for (uint32_t h = (uint32_t)(key * 0x9e3779b97f4a7c15ull >> 40) % SOURCES;; h = (h + 1) % SOURCES) {
    if (sources[h] == key) return;
    if (!sources[h]) {
      sources[h] = key;
      sourceCount++;
      return;
    }
  }
}

static void printCount(unsigned long long received, const char* iface) {
  unsigned long long in, rcvbuf;
  udpStats(&in, &rcvbuf);
  char last[INET_ADDRSTRLEN] = "";
  inet_ntop(AF_INET, &lastSource.sin_addr, last, sizeof last);
  printf("{\"received\":%llu,\"ifaceRx\":%llu,\"udpIn\":%llu,\"rcvbufErrors\":%llu,\"sources\":%u,\"lastSource\":\"%s:%u\"}\n", received,
         ifaceStat(iface, "rx_packets"), in, rcvbuf, sourceCount, last, ntohs(lastSource.sin_port));
  fflush(stdout);
}

static int countMode(int argc, char** argv) {
  if (argc < 6) return 1;
  struct in_addr bindTo = address(argv[2]);
  int port = atoi(argv[3]);
  const char* iface = argv[4];
  double maxSeconds = atof(argv[5]);
  struct sigaction sa = {0};
  sa.sa_handler = onStop;  // no SA_RESTART: recvmmsg returns EINTR
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sa.sa_handler = onReport;
  sigaction(SIGUSR1, &sa, NULL);

  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) die("socket");
  int rcvbuf = 16 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};  // wake up to look at the clock and the flags
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr = bindTo, .sin_port = htons(port)};
  if (bind(fd, (struct sockaddr*)&a, sizeof a) != 0) die("bind");

  static char data[BATCH][2048];
  static struct sockaddr_in from[BATCH];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = data[i];
    iov[i].iov_len = sizeof data[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &from[i];
  }
  printf("ready\n");
  fflush(stdout);
  unsigned long long received = 0;
  double end = now() + maxSeconds;
  while (!stopping) {
    if (report) {
      report = 0;
      printCount(received, iface);
    }
    for (int i = 0; i < BATCH; i++) msgs[i].msg_hdr.msg_namelen = sizeof from[i];
    int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
    for (int i = 0; i < n; i++) noteSource(&from[i]);
    if (n > 0) received += (unsigned long long)n;
    else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) die("recvmmsg");
    if ((n <= 0 || (received & 0xffff) < BATCH) && now() > end) break;
  }
  printCount(received, iface);
  return 0;
}

int main(int argc, char** argv) {
  int bad = 1;
  if (argc > 1 && strcmp(argv[1], "send") == 0) bad = sendMode(argc, argv);
  else if (argc > 1 && strcmp(argv[1], "count") == 0) bad = countMode(argc, argv);
  if (bad) {
    fprintf(stderr,
            "usage: udp-flood send <src-ip> <dst-ip> <dst-port> <first-src-port> <flows> <rate-pps|0> <seconds> <max-packets> [payload] [cpu]\n"
            "       udp-flood count <bind-ip> <port> <interface> <max-seconds>\n");
    return 2;
  }
  return 0;
}
