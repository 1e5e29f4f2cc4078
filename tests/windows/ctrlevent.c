/* Test-only helper for tests/it/windows.rs: presses Ctrl-C in a run's console.
 *
 *   ctrlevent.exe <ready-file> <output-file> <program> [args...]
 *
 * Starts <program> on this console with stdin from NUL and stdout and stderr into
 * <output-file>, waits until <ready-file> exists (the test creates it once the run has
 * reached the moment it wants), sends CTRL_C_EVENT to the console's processes (this
 * helper ignores it itself), waits for the program and exits with its exit code, or
 * with 255 when something here failed (the reason on stderr).
 *
 * Wine 8 delivers Ctrl-C this way only on a console it made for a terminal, so the
 * test runs Wine in a pseudo-terminal (`script`). It refuses Ctrl-Break aimed at a
 * process group (invalid handle), so only Ctrl-C is tested under Wine.
 */
#include <windows.h>
#include <stdio.h>
#include <wchar.h>

static int fail(const char *what) {
    fprintf(stderr, "ctrlevent: %s failed (error %lu)\n", what, GetLastError());
    return 255;
}

/* Appends one argument to a command line, quoted as CommandLineToArgvW reads it;
 * 0 when it does not fit. */
static int append_arg(wchar_t *line, size_t cap, const wchar_t *arg) {
    size_t n = wcslen(line);
    if (n + wcslen(arg) * 2 + 4 >= cap) return 0;
    if (n) line[n++] = L' ';
    line[n++] = L'"';
    for (const wchar_t *p = arg;; p++) {
        size_t slashes = 0;
        while (*p == L'\\') { slashes++; p++; }
        if (*p == 0) {
            for (size_t i = 0; i < slashes * 2; i++) line[n++] = L'\\';
            break;
        }
        size_t keep = *p == L'"' ? slashes * 2 + 1 : slashes;
        for (size_t i = 0; i < keep; i++) line[n++] = L'\\';
        line[n++] = *p;
    }
    line[n++] = L'"';
    line[n] = 0;
    return 1;
}

int wmain(int argc, wchar_t **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: ctrlevent <ready-file> <output-file> <program> [args...]\n");
        return 255;
    }
    static wchar_t line[32768];
    for (int i = 3; i < argc; i++)
        if (!append_arg(line, sizeof line / sizeof line[0], argv[i])) {
            fprintf(stderr, "ctrlevent: the command line is too long\n");
            return 255;
        }

    SECURITY_ATTRIBUTES inherit = { .nLength = sizeof inherit, .bInheritHandle = TRUE };
    HANDLE out = CreateFileW(argv[2], GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE,
                             &inherit, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (out == INVALID_HANDLE_VALUE) return fail("creating the output file");
    HANDLE nul = CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE,
                             &inherit, OPEN_EXISTING, 0, NULL);
    if (nul == INVALID_HANDLE_VALUE) return fail("opening NUL");

    STARTUPINFOW si = { .cb = sizeof si, .dwFlags = STARTF_USESTDHANDLES,
                        .hStdInput = nul, .hStdOutput = out, .hStdError = out };
    PROCESS_INFORMATION pi;
    if (!CreateProcessW(NULL, line, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi))
        return fail("CreateProcess");
    /* Only now: a child inherits the flag that ignores Ctrl-C. */
    if (!SetConsoleCtrlHandler(NULL, TRUE)) return fail("ignoring Ctrl-C here");

    for (int i = 0; GetFileAttributesW(argv[1]) == INVALID_FILE_ATTRIBUTES; i++) {
        if (WaitForSingleObject(pi.hProcess, 100) == WAIT_OBJECT_0) {
            fprintf(stderr, "ctrlevent: the program ended before the ready file appeared\n");
            DWORD code = 255;
            GetExitCodeProcess(pi.hProcess, &code);
            return (int)code;
        }
        if (i > 1800) {
            TerminateProcess(pi.hProcess, 255);
            return fail("waiting 3 minutes for the ready file");
        }
    }
    if (!GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0)) {
        TerminateProcess(pi.hProcess, 255);
        return fail("GenerateConsoleCtrlEvent");
    }
    if (WaitForSingleObject(pi.hProcess, 120000) != WAIT_OBJECT_0) {
        TerminateProcess(pi.hProcess, 255);
        return fail("waiting 2 minutes for the program after Ctrl-C");
    }
    DWORD code = 255;
    GetExitCodeProcess(pi.hProcess, &code);
    return (int)code;
}
