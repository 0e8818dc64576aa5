/* Wine 8 (Debian 12) has no bcryptprimitives.dll, whose ProcessPrng the Rust standard library
 * imports on Windows since Rust 1.78 for its random numbers (HashMap keys). This stand-in,
 * placed in the test Wine prefix only, answers it from RtlGenRandom, which Wine has. Newer
 * Wine (9.x) ships the real one; Windows 10 and 11 always do. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
