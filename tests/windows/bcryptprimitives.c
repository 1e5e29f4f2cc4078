/* A test-only stand-in for Windows 10's bcryptprimitives.dll, which Wine 8.0 lacks.
 *
 * Rust's standard library (1.78 and later) takes its random numbers from ProcessPrng in
 * bcryptprimitives.dll; under Wine 8.0 a Rust .exe then exits with status 53 before its
 * first line. This DLL exports ProcessPrng on top of RtlGenRandom (advapi32's
 * SystemFunction036) so the suite can run the Windows build under Wine.
 *
 * It belongs to the test environment only: real Windows (10 and later) has the DLL, and
 * no artifact ships this file. tests/windows/run.sh builds it beside the .exe under test.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
