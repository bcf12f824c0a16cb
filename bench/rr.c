/* rr: TCP request/response latency, one byte each way.
 *
 *   rr server PORT [ADDR]      echo every byte back, one connection at a time, forever
 *   rr client HOST PORT N      N 1-byte ping-pongs on one connection (after N/10 warm-up
 *                              rounds), prints "mean_us p99_us" on one line
 *
 * Built static (gcc -static -O2 -o rr rr.c) by bench/network.sh so the same binary runs on the
 * host and inside a busybox-only container. TCP_NODELAY on both ends: without it Nagle and
 * delayed ACKs would measure the kernel's timers, not the path.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
  fprintf(stderr, "rr: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void nodelay(int fd) {
  int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) die("setsockopt TCP_NODELAY");
}

static int serve(const char *port, const char *addr) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(port))};
  sa.sin_addr.s_addr = htonl(INADDR_ANY);
  if (addr && inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
    fprintf(stderr, "rr: bad listen address %s\n", addr);
    return 1;
  }
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  if (ls < 0) die("socket");
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind");
  if (listen(ls, 16) < 0) die("listen");
  /* Readiness line: the bench waits for it in the container's log before connecting. */
  printf("rr: listening on %s\n", port);
  fflush(stdout);
  for (;;) {
    int c = accept(ls, NULL, NULL);
    if (c < 0) {
      if (errno == EINTR) continue;
      die("accept");
    }
    nodelay(c);
    char b;
    for (;;) {
      ssize_t r = read(c, &b, 1);
      if (r <= 0) break;
      if (write(c, &b, 1) != 1) break;
    }
    close(c);
  }
}

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void ping(int fd) {
  char b = 'x';
  if (write(fd, &b, 1) != 1) die("write");
  ssize_t r = read(fd, &b, 1);
  if (r < 0) die("read");
  if (r == 0) {
    fprintf(stderr, "rr: server closed the connection\n");
    exit(1);
  }
}

static int client(const char *host, const char *port, long n) {
  /* Numeric addresses only: getaddrinfo in a static glibc binary would need the host's NSS
   * libraries at run time, which a busybox container does not have. */
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(port))};
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
    fprintf(stderr, "rr: %s is not an IPv4 address\n", host);
    return 1;
  }
  int fd = -1;
  /* The server may still be starting (a container just run): retry the connect for ~5 s. */
  for (int i = 0; i < 100; i++) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) break;
    close(fd);
    fd = -1;
    usleep(50000);
  }
  if (fd < 0) die("connect");
  nodelay(fd);
  for (long i = 0; i < n / 10; i++) ping(fd);
  double *rtt = malloc(sizeof(double) * (size_t)n);
  if (!rtt) die("malloc");
  double sum = 0;
  for (long i = 0; i < n; i++) {
    double t0 = now_us();
    ping(fd);
    rtt[i] = now_us() - t0;
    sum += rtt[i];
  }
  close(fd);
  qsort(rtt, (size_t)n, sizeof(double), cmp);
  long k = (long)(0.99 * (double)n);
  if (k >= n) k = n - 1;
  printf("%.1f %.1f\n", sum / (double)n, rtt[k]);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 3 && argc <= 4 && strcmp(argv[1], "server") == 0) return serve(argv[2], argc == 4 ? argv[3] : NULL);
  if (argc == 5 && strcmp(argv[1], "client") == 0) {
    long n = atol(argv[4]);
    if (n < 1) {
      fprintf(stderr, "rr: N must be a positive count\n");
      return 2;
    }
    return client(argv[2], argv[3], n);
  }
  fprintf(stderr, "usage: rr server PORT [ADDR] | rr client HOST PORT N\n");
  return 2;
}
