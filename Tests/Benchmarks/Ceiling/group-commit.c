/* Measuring only: the floor's work (HMAC check, one appended line) with group commit instead of one
   fdatasync per request: THREADS threads per process accept requests; each appends its line under a
   mutex, then either starts a sync (covering every line written before it) or waits for one that does.
   The same HMAC calls as ../shared/bench/peers/fastcgi_floor.c; one log file per process, so no flock. */
#include <fcgiapp.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>

static int fd, dosync;
static const char *secret;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static unsigned long written, synced;   /* line counters */
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
static int verified(FCGX_ParamArray env, const char *body, int n) {
  unsigned char mac[32]; unsigned int maclen;
  const char *stripe = FCGX_GetParam("HTTP_STRIPE_SIGNATURE", env);
  if (stripe) {
    const char *t = strstr(stripe, "t="), *v1 = strstr(stripe, "v1=");
    if (!t || !v1) return 0;
    t += 2; v1 += 3;
    size_t tlen = strcspn(t, ","), v1len = strcspn(v1, ",");
    HMAC_CTX *ctx = HMAC_CTX_new();
    HMAC_Init_ex(ctx, secret, (int)strlen(secret), EVP_sha256(), NULL);
    HMAC_Update(ctx, (const unsigned char *)t, tlen);
    HMAC_Update(ctx, (const unsigned char *)".", 1);
    HMAC_Update(ctx, (const unsigned char *)body, (size_t)n);
    HMAC_Final(ctx, mac, &maclen);
    HMAC_CTX_free(ctx);
    return hex_matches(v1, v1len, mac);
  }
  const char *veriff = FCGX_GetParam("HTTP_X_HMAC_SIGNATURE", env);
  if (!veriff) return 0;
  HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, (size_t)n, mac, &maclen);
  return hex_matches(veriff, strlen(veriff), mac);
}
static void *serve(void *arg) {
  (void)arg;
  char *body = malloc(1 << 20);
  FCGX_Request r;
  FCGX_InitRequest(&r, 0, 0);
  for (;;) {
    static pthread_mutex_t acc = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&acc);
    int rc = FCGX_Accept_r(&r);
    pthread_mutex_unlock(&acc);
    if (rc < 0) break;
    int n = FCGX_GetStr(body, 1 << 20, r.in);
    if (!verified(r.envp, body, n)) {
      FCGX_FPrintF(r.out, "Status: 401 Unauthorized\r\nContent-Type: application/json\r\n\r\n{\"error\":\"signature\"}\n");
      FCGX_Finish_r(&r);
      continue;
    }
    char line[128];
    int len = snprintf(line, sizeof line, "{\"accepted\":true,\"bytes\":%d}\n", n);
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
    FCGX_FPrintF(r.out, "Status: 200 OK\r\nContent-Type: application/json\r\n\r\n{\"ok\":true}\n");
    FCGX_Finish_r(&r);
  }
  return NULL;
}
int main(void) {
  secret = getenv("SECRET") ? getenv("SECRET") : "whsec_test";
  const char *dir = getenv("LOGDIR") ? getenv("LOGDIR") : ".";
  dosync = getenv("FSYNC") && *getenv("FSYNC");
  int threads = getenv("THREADS") ? atoi(getenv("THREADS")) : 4;
  char path[4096];
  snprintf(path, sizeof path, "%s/group-commit-%d.jsonl", dir, (int)getpid());
  fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) { perror(path); return 1; }
  FCGX_Init();
  pthread_t t[64];
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, serve, NULL);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  return 0;
}
