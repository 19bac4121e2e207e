/* Measuring only: a FastCGI responder that reads the body and answers 200, doing nothing else. */
#include <fcgiapp.h>
int main(void) {
  static char body[1 << 20];
  FCGX_Request r;
  FCGX_Init();
  FCGX_InitRequest(&r, 0, 0);
  while (FCGX_Accept_r(&r) >= 0) {
    FCGX_GetStr(body, sizeof body, r.in);
    FCGX_FPrintF(r.out, "Status: 200 OK\r\nContent-Type: application/json\r\n\r\n{\"ok\":true}\n");
    FCGX_Finish_r(&r);
  }
  return 0;
}
