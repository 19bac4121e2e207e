/* Measuring only: what group-commit.c and raw.c share. The floor's signature comparison, and group commit: each
   thread appends its line under a mutex, then either starts a sync (covering every line written before it) or
   waits for one that does. One log file per process, so no flock. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>

static int fd, dosync;
static const char *secret;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static unsigned long written, synced; /* line counters */
static int syncing;

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}
static int hex_matches(const char *hex, size_t hexlen, const unsigned char *mac) {
  unsigned char want[32];
  if (hexlen != 64) return 0;
  for (int i = 0; i < 32; i++) {
    int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return 0;
    want[i] = (unsigned char)(hi << 4 | lo);
  }
  return CRYPTO_memcmp(want, mac, 32) == 0;
}
/* Stripe's v1: HMAC over "t.body", t and v1 taken from the header value (NUL-terminated). */
static int stripe_verified(const char *header, const unsigned char *body, size_t n) {
  unsigned char mac[32]; unsigned int maclen;
  const char *t = strstr(header, "t="), *v1 = strstr(header, "v1=");
  if (!t || !v1) return 0;
  t += 2; v1 += 3;
  size_t tlen = strcspn(t, ","), v1len = strcspn(v1, ",");
  HMAC_CTX *ctx = HMAC_CTX_new();
  HMAC_Init_ex(ctx, secret, (int)strlen(secret), EVP_sha256(), NULL);
  HMAC_Update(ctx, (const unsigned char *)t, tlen);
  HMAC_Update(ctx, (const unsigned char *)".", 1);
  HMAC_Update(ctx, body, n);
  HMAC_Final(ctx, mac, &maclen);
  HMAC_CTX_free(ctx);
  return hex_matches(v1, v1len, mac);
}
static int veriff_verified(const char *hex, size_t hexlen, const unsigned char *body, size_t n) {
  unsigned char mac[32]; unsigned int maclen;
  HMAC(EVP_sha256(), secret, (int)strlen(secret), body, n, mac, &maclen);
  return hex_matches(hex, hexlen, mac);
}
/* Appends the floor's line for a body of n bytes and, with FSYNC, returns once a sync covered it. */
static void append_line(size_t n) {
  char line[128];
  int len = snprintf(line, sizeof line, "{\"accepted\":true,\"bytes\":%zu}\n", n);
  pthread_mutex_lock(&mu);
  if (write(fd, line, len) != len) abort();
  unsigned long mine = ++written;
  if (dosync) {
    while (synced < mine) {
      if (!syncing) {
        syncing = 1;
        unsigned long upto = written;
        pthread_mutex_unlock(&mu);
        fdatasync(fd);
        pthread_mutex_lock(&mu);
        syncing = 0;
        synced = upto;
        pthread_cond_broadcast(&cv);
      } else {
        pthread_cond_wait(&cv, &mu);
      }
    }
  }
  pthread_mutex_unlock(&mu);
}
/* Reads SECRET, LOGDIR and FSYNC, opens this process's log file; returns THREADS (default 4). */
static int setup(const char *name) {
  secret = getenv("SECRET") ? getenv("SECRET") : "whsec_test";
  const char *dir = getenv("LOGDIR") ? getenv("LOGDIR") : ".";
  dosync = getenv("FSYNC") && *getenv("FSYNC");
  char path[4096];
  snprintf(path, sizeof path, "%s/%s-%d.jsonl", dir, name, (int)getpid());
  fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) { perror(path); exit(1); }
  return getenv("THREADS") ? atoi(getenv("THREADS")) : 4;
}
