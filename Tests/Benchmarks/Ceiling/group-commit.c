/* Measuring only: the floor's work (HMAC check, one appended line) with group commit instead of one
   fdatasync per request (common.h): THREADS threads per process accept requests through libfcgi.
   The same HMAC calls as ../shared/bench/peers/fastcgi_floor.c. */
#include <fcgiapp.h>
#include "common.h"

static int verified(FCGX_ParamArray env, const char *body, int n) {
  const char *stripe = FCGX_GetParam("HTTP_STRIPE_SIGNATURE", env);
  if (stripe) return stripe_verified(stripe, (const unsigned char *)body, (size_t)n);
  const char *veriff = FCGX_GetParam("HTTP_X_HMAC_SIGNATURE", env);
  return veriff && veriff_verified(veriff, strlen(veriff), (const unsigned char *)body, (size_t)n);
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
    append_line((size_t)n);
    FCGX_FPrintF(r.out, "Status: 200 OK\r\nContent-Type: application/json\r\n\r\n{\"ok\":true}\n");
    FCGX_Finish_r(&r);
  }
  return NULL;
}
int main(void) {
  int threads = setup("group-commit");
  FCGX_Init();
  pthread_t t[64];
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, serve, NULL);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  return 0;
}
