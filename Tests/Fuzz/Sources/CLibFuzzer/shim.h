// libFuzzer's entry point for programs that own `main` (compiler-rt FuzzerInterface.h, LLVM 12 and later).
// SwiftPM links executables with `--defsym main=<Module>_main`, so each target defines that symbol and hands over
// to libFuzzer here; libFuzzer's own `main` is then never linked.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));
