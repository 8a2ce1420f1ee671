// The fuzzer's entry point. SwiftPM links an executable target with `--defsym main=<Target>_main` and expects the
// Swift module to define that symbol; the Swift code here is built with -parse-as-library (it defines only
// libFuzzer's callbacks), so this C function takes the name and hands over to libFuzzer's driver, which is what
// libFuzzer's own main would do.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int AviaryFuzz_main(int argc, char **argv) {
    return LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput);
}
