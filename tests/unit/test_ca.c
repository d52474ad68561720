/* Tests of `moat ca` (init, issue, path, revoke, crl, list, trust) and of
 * the localhost certificate for `moat serve`, in a temporary directory,
 * checked with openssl(1). */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ca/ca.h"
#include "cli/cli.h"
#include "core/file.h"
#include "crypto/crypto.h"
#include "moat/error.h"

static int failures;
static char tmp[256];  /* the test's own directory */
static char out[8192]; /* what the last run() printed */

static void check(int ok, const char *fmt, ...)
{
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    printf("%s - %s\n", ok ? "ok" : "not ok", name);
    fflush(stdout);
    if (!ok) {
        failures++;
        if (out[0]) printf("# last output:\n# %s\n", out);
    }
}

/* Runs cli_ca_main("ca", args..., NULL) with stdout and stderr captured
 * into out; returns its exit code. */
static int run(const char *first, ...)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = "ca";
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 63; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;

    char log[512];
    snprintf(log, sizeof log, "%s/run.log", tmp);
    fflush(stdout);
    fflush(stderr);
    int o1 = dup(1), o2 = dup(2);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
    int rc = cli_ca_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(o1, 1);
    dup2(o2, 2);
    close(o1);
    close(o2);
    FILE *f = fopen(log, "r");
    size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
    out[n] = 0;
    if (f) fclose(f);
    return rc;
}

static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

static int file_mode(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int)(st.st_mode & 0777) : -1;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The whole file, or "" (a static buffer per slot). */
static const char *slurp(const char *path, int slot)
{
    static char buf[4][16384];
    char *b = buf[slot];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(b, 1, sizeof buf[0] - 1, f) : 0;
    b[n] = 0;
    if (f) fclose(f);
    return b;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* No temporary file (".tmp-") left behind in dir. */
static int no_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int ok = 1;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp-")) ok = 0;
    closedir(d);
    return ok;
}

static int64_t fake_now;
static int64_t fake_clock(void)
{
    return fake_now;
}

static void test_paths(void)
{
    char home[512], xdg[512];
    snprintf(home, sizeof home, "%s/home", tmp);
    snprintf(xdg, sizeof xdg, "%s/xdg", tmp);
    char *saved_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;

    unsetenv("MOAT_CA_HOME");
    setenv("XDG_DATA_HOME", xdg, 1);
    char want[600];
    snprintf(want, sizeof want, "%s/moat/ca\n", xdg);
    check(run("path", NULL) == 0 && strcmp(out, want) == 0, "path uses $XDG_DATA_HOME/moat/ca");
    unsetenv("XDG_DATA_HOME");
    setenv("HOME", home, 1);
    snprintf(want, sizeof want, "%s/.local/share/moat/ca\n", home);
    check(run("path", NULL) == 0 && strcmp(out, want) == 0, "path falls back to ~/.local/share");
    check(!exists(home), "path creates nothing");
    setenv("MOAT_CA_HOME", "/somewhere/ca/", 1);
    check(run("path", NULL) == 0 && strcmp(out, "/somewhere/ca\n") == 0,
          "path uses $MOAT_CA_HOME (trailing slash dropped)");
    check(run("path", "--ca-dir", "/else", NULL) == 0 && strcmp(out, "/else\n") == 0,
          "--ca-dir wins over $MOAT_CA_HOME");
    check(run("path", "--ca-dir=/else2", NULL) == 0 && strcmp(out, "/else2\n") == 0,
          "--ca-dir=DIR form");
    if (saved_home) setenv("HOME", saved_home, 1);
    free(saved_home);
}

static void test_init(const char *ca)
{
    char cert[700], key[700];
    snprintf(cert, sizeof cert, "%s/rootCA.pem", ca);
    snprintf(key, sizeof key, "%s/rootCA-key.pem", ca);
    check(run("init", NULL) == 0, "init succeeds");
    check(exists(cert) && exists(key), "init writes rootCA.pem and rootCA-key.pem");
    check(file_mode(key) == 0600, "root key has mode 0600 (is %o)", file_mode(key));
    check(file_mode(ca) == 0700, "CA dir has mode 0700 (is %o)", file_mode(ca));
    check(no_temp_files(ca), "no temporary files left in the CA dir");
    check(sh("openssl x509 -in %s -noout -text | grep -A1 'Basic Constraints: critical' | "
             "grep -q 'CA:TRUE, pathlen:0'",
             cert) == 0,
          "root: basicConstraints critical CA:TRUE pathlen:0");
    check(sh("openssl x509 -in %s -noout -text | grep -A1 'Key Usage: critical' | "
             "grep -q 'Certificate Sign, CRL Sign'",
             cert) == 0,
          "root: keyUsage critical keyCertSign, cRLSign");
    check(sh("openssl x509 -in %s -noout -text | grep -q 'Subject Key Identifier'", cert) == 0,
          "root: subjectKeyIdentifier");
    check(sh("openssl x509 -in %s -noout -subject | grep -q 'O = moat local CA, OU = .*@.*, "
             "CN = moat root 20'",
             cert) == 0,
          "root subject O=moat local CA, OU=user@host, CN=moat root DATE");
    check(sh("openssl x509 -in %s -noout -text | grep -q 'ASN1 OID: prime256v1'", cert) == 0,
          "root key is ECDSA P-256");
    check(sh("openssl x509 -in %s -noout -checkend %d >/dev/null && "
             "! openssl x509 -in %s -noout -checkend %d >/dev/null",
             cert, 3650 * 86400, cert, 3654 * 86400) == 0,
          "root valid for 10 years");
    check(sh("openssl verify -CAfile %s %s >/dev/null 2>&1", cert, cert) == 0,
          "root verifies against itself");

    char before[16384];
    snprintf(before, sizeof before, "%s", slurp(cert, 0));
    check(run("init", NULL) == 2 && strstr(out, "already exists"),
          "init refuses to overwrite an existing CA (exit 2)");
    check(strcmp(before, slurp(cert, 1)) == 0, "the existing CA is untouched");
    check(run("init", "--rsa", NULL) == 2 && strstr(out, "--rsa"),
          "init rejects an issue-only flag, naming it");
    check(run("init", "extra", NULL) == 2, "init rejects names");
}

static void test_issue(const char *ca)
{
    char root[700];
    snprintf(root, sizeof root, "%s/rootCA.pem", ca);

    check(run("issue", "Example.test", "www.example.test", "127.0.0.1", "::1", NULL) == 0,
          "issue several names and IPs");
    check(exists("example.test.pem") && exists("example.test-key.pem"),
          "issue writes NAME.pem and NAME-key.pem in the cwd");
    check(strstr(out, "example.test.pem") && strstr(out, "example.test-key.pem"),
          "issue prints what it wrote");
    check(file_mode("example.test-key.pem") == 0600, "leaf key has mode 0600");
    check(count(slurp("example.test.pem", 0), "BEGIN CERTIFICATE") == 1,
          "NAME.pem holds the leaf only (no root)");
    check(no_temp_files("."), "no temporary files left in the cwd");
    check(sh("openssl verify -CAfile %s -purpose sslserver example.test.pem >/dev/null", root) == 0,
          "openssl verify -purpose sslserver");
    check(sh("openssl verify -CAfile %s -verify_hostname www.example.test example.test.pem "
             ">/dev/null",
             root) == 0,
          "verifies for www.example.test");
    check(sh("openssl verify -CAfile %s -verify_hostname example.test example.test.pem "
             ">/dev/null",
             root) == 0,
          "verifies for example.test (name lower-cased)");
    check(sh("openssl verify -CAfile %s -verify_ip ::1 example.test.pem >/dev/null", root) == 0,
          "verifies for IP ::1");
    check(sh("openssl verify -CAfile %s -verify_ip 127.0.0.1 example.test.pem >/dev/null", root) ==
              0,
          "verifies for IP 127.0.0.1");
    check(sh("openssl verify -CAfile %s -verify_hostname other.test example.test.pem "
             ">/dev/null 2>&1",
             root) != 0,
          "does not verify for other.test");
    check(sh("openssl x509 -in example.test.pem -noout -text | grep -A1 'Basic Constraints: "
             "critical' | grep -q 'CA:FALSE'") == 0,
          "leaf: basicConstraints CA:FALSE");
    check(sh("openssl x509 -in example.test.pem -noout -text | grep -A1 'Key Usage: critical' "
             "| grep -qx ' *Digital Signature'") == 0,
          "ECDSA leaf: keyUsage digitalSignature only");
    check(sh("openssl x509 -in example.test.pem -noout -text | grep -A1 'Extended Key Usage' "
             "| grep -qx ' *TLS Web Server Authentication'") == 0,
          "leaf: extendedKeyUsage serverAuth only");
    check(sh("openssl x509 -in example.test.pem -noout -text | grep -q 'Authority Key "
             "Identifier'") == 0,
          "leaf: authorityKeyIdentifier");
    check(sh("openssl verify -CAfile %s -purpose sslclient example.test.pem >/dev/null 2>&1",
             root) != 0,
          "without --client, not valid for client auth");
    check(sh("openssl x509 -in example.test.pem -noout -checkend %d >/dev/null && "
             "! openssl x509 -in example.test.pem -noout -checkend %d >/dev/null",
             89 * 86400, 91 * 86400) == 0,
          "default validity 90 days");
    check(strstr(out, "Apple") == NULL, "no Apple note for the default validity");
    check(run("issue", "long.test", "--days", "826", NULL) == 0 && strstr(out, "Apple") &&
              sh("openssl x509 -in long.test.pem -noout -checkend %d >/dev/null", 825 * 86400) == 0,
          "--days 826 is honoured, with the note that Apple platforms refuse it");

    /* Serial: 128 random bits, positive, different each time; a copy is
     * kept in the CA dir by serial. */
    char s1[128] = "", s2[128] = "";
    FILE *p = popen("openssl x509 -in example.test.pem -noout -serial", "r");
    if (p) {
        if (!fgets(s1, sizeof s1, p)) s1[0] = 0;
        pclose(p);
    }
    check(run("issue", "example.test", "--cert-file", "again.pem", "--key-file", "again-key.pem",
              NULL) == 0 &&
              exists("again.pem") && exists("again-key.pem"),
          "--cert-file and --key-file");
    p = popen("openssl x509 -in again.pem -noout -serial", "r");
    if (p) {
        if (!fgets(s2, sizeof s2, p)) s2[0] = 0;
        pclose(p);
    }
    s1[strcspn(s1, "\n")] = 0;
    s2[strcspn(s2, "\n")] = 0;
    check(strncmp(s1, "serial=", 7) == 0 && strlen(s1) >= 7 + 24 && strlen(s1) <= 7 + 34 &&
              strcmp(s1, s2) != 0,
          "serials are random, about 128 bits (%s)", s1);
    char rec[700], lower[64];
    size_t i;
    for (i = 0; s2[7 + i] && i < sizeof lower - 1; i++)
        lower[i] = (char)(s2[7 + i] >= 'A' && s2[7 + i] <= 'F' ? s2[7 + i] + 32 : s2[7 + i]);
    lower[i] = 0;
    /* BN_bn2hex drops no leading zero nibble pairs openssl prints; compare loosely. */
    const char *lz = lower;
    while (lz[0] == '0' && lz[1] == '0')
        lz += 2;
    snprintf(rec, sizeof rec, "%s/issued/%s.pem", ca, lz);
    check(exists(rec), "issued certificate recorded as issued/SERIAL.pem");

    check(run("issue", "*.example.test", NULL) == 0 && exists("_wildcard.example.test.pem") &&
              exists("_wildcard.example.test-key.pem"),
          "wildcard: _wildcard.example.test.pem");
    check(sh("openssl verify -CAfile %s -purpose sslserver -verify_hostname foo.example.test "
             "_wildcard.example.test.pem >/dev/null",
             root) == 0,
          "wildcard verifies for foo.example.test");

    check(run("issue", "rsa.test", "--rsa", NULL) == 0, "issue --rsa");
    check(sh("openssl pkey -in rsa.test-key.pem -noout -text | grep -q 'Private-Key: (2048 "
             "bit'") == 0,
          "--rsa key is RSA-2048");
    check(sh("openssl x509 -in rsa.test.pem -noout -text | grep -A1 'Key Usage: critical' | "
             "grep -q 'Digital Signature, Key Encipherment'") == 0,
          "RSA leaf: keyUsage digitalSignature, keyEncipherment");
    check(sh("openssl verify -CAfile %s -purpose sslserver rsa.test.pem >/dev/null", root) == 0,
          "RSA leaf verifies");
    check(file_mode("rsa.test-key.pem") == 0600, "RSA key mode 0600");

    check(run("issue", "--client", "client.test", NULL) == 0, "issue --client");
    check(sh("openssl verify -CAfile %s -purpose sslclient client.test.pem >/dev/null", root) ==
                  0 &&
              sh("openssl verify -CAfile %s -purpose sslserver client.test.pem >/dev/null", root) ==
                  0,
          "--client leaf is valid for client and server auth");

    check(run("issue", "old.test", "--not-before", "2020-01-01", "--not-after", "2020-06-01",
              NULL) == 0 &&
              strstr(out, "expired"),
          "issue with --not-after in the past works, with a note");
    check(sh("openssl verify -CAfile %s -purpose sslserver old.test.pem 2>&1 | grep -q "
             "'expired'",
             root) == 0,
          "openssl verify refuses the expired certificate");
    check(sh("openssl x509 -in old.test.pem -noout -enddate | grep -q 'Jun  1 23:59:59 2020'") == 0,
          "--not-after is the end of that day, UTC");
    check(run("issue", "days.test", "--days", "10", NULL) == 0 &&
              sh("openssl x509 -in days.test.pem -noout -checkend %d >/dev/null && ! openssl "
                 "x509 -in days.test.pem -noout -checkend %d >/dev/null",
                 9 * 86400, 11 * 86400) == 0,
          "--days 10");
    check(run("issue", "long.test", "--days", "20000", NULL) == 2 && strstr(out, "outlive"),
          "a leaf may not outlive the CA");
    check(run("issue", "ip6.test", "2001:db8::1", NULL) == 0 && exists("ip6.test.pem"),
          "IPv6 address as a SAN");
    check(run("issue", "fe80::1", NULL) == 0 && exists("fe80__1.pem"),
          "IPv6 first name: ':' becomes '_' in the file name");

    /* Invalid names: exit 2, nothing written. */
    const char *bad[] = {"exa mple.test",    "-bad.test",   "bad-.test", "*.*.test",
                         "foo*.test",        "a..b",        ".lead",     "trail.",
                         "999.1.1.1",        "under_score", "*",         "*.",
                         "caf\xc3\xa9.test", "a/b",         ""};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char label[64];
        snprintf(label, sizeof label, "%s", bad[k]);
        check(run("issue", bad[k], NULL) == 2 && strstr(out, "moat ca issue:"),
              "invalid name \"%s\" rejected with 2", label);
    }
    char long_label[80];
    memset(long_label, 'a', 64);
    strcpy(long_label + 64, ".test");
    check(run("issue", long_label, NULL) == 2, "a 64-byte label is rejected");
    check(run("issue", "ok.test", "bad name", NULL) == 2 && !exists("ok.test.pem"),
          "one invalid name rejects the whole request");

    /* Bad flags: exit 2 and the message names the flag. */
    check(run("issue", "x.test", "--bogus", NULL) == 2 && strstr(out, "--bogus"),
          "unknown flag named in the message");
    check(run("issue", "x.test", "--days", "abc", NULL) == 2 && strstr(out, "--days"),
          "--days abc rejected");
    check(run("issue", "x.test", "--days", "0", NULL) == 2, "--days 0 rejected");
    check(run("issue", "x.test", "--days", NULL) == 2 && strstr(out, "--days"),
          "--days without a value");
    check(run("issue", "x.test", "--not-after", "2026-02-31", NULL) == 2 &&
              strstr(out, "--not-after"),
          "--not-after 2026-02-31 rejected");
    check(run("issue", "x.test", "--not-before", "tomorrow", NULL) == 2 &&
              strstr(out, "--not-before"),
          "--not-before tomorrow rejected");
    check(run("issue", "x.test", "--days", "3", "--not-after", "2030-01-01", NULL) == 2,
          "--days with --not-after rejected");
    check(run("issue", "x.test", "--not-before", "2030-01-02", "--not-after", "2030-01-01", NULL) ==
              2,
          "--not-after before --not-before rejected");
    check(run("issue", "x.test", "--rsa=yes", NULL) == 2 && strstr(out, "--rsa"),
          "--rsa=yes rejected");
    check(run("issue", "x.test", "--rsa", "--rsa", NULL) == 2, "a flag given twice");
    check(run("issue", NULL) == 2, "issue without names");
    check(run("frobnicate", NULL) == 2 && strstr(out, "frobnicate"), "unknown subcommand");
    check(run("issue", "x.test", "--cert-file", "same.pem", "--key-file", "same.pem", NULL) == 2,
          "same file for certificate and key rejected");
    check(!exists("x.test.pem") && !exists("x.test-key.pem"), "rejected requests write nothing");
    check(run("help", NULL) == 0 && strstr(out, "usage: moat ca"), "help");
}

static void test_broken_ca(void)
{
    char dir[600], key[700];
    snprintf(dir, sizeof dir, "%s/broken", tmp);
    check(run("init", "--ca-dir", dir, NULL) == 0, "init --ca-dir");
    snprintf(key, sizeof key, "%s/rootCA-key.pem", dir);
    unlink(key);
    check(run("issue", "y.test", "--ca-dir", dir, NULL) == 2 && strstr(out, "incomplete"),
          "a CA without its key is an error (exit 2), not replaced");
    check(run("init", "--ca-dir", dir, NULL) == 2, "init refuses a half CA too");
    check(!exists("y.test.pem"), "nothing issued from a broken CA");

    /* A crash between the two renames of init: the key, no certificate. */
    char cert[700], keep[700];
    snprintf(dir, sizeof dir, "%s/halfkey", tmp);
    snprintf(cert, sizeof cert, "%s/rootCA.pem", dir);
    snprintf(key, sizeof key, "%s/rootCA-key.pem", dir);
    snprintf(keep, sizeof keep, "%s/keep.pem", tmp);
    check(run("init", "--ca-dir", dir, NULL) == 0, "init --ca-dir halfkey");
    unlink(cert);
    sh("cp %s %s", key, keep);
    check(run("issue", "z.test", "--ca-dir", dir, NULL) == 2 && strstr(out, "incomplete") &&
              strstr(out, "rootCA.pem is missing") && strstr(out, "moat ca init") &&
              !exists("z.test.pem"),
          "a key without its root: exit 2, explained, with a hint");
    check(run("init", "--ca-dir", dir, NULL) == 2 && strstr(out, "incomplete") &&
              strcmp(slurp(key, 0), slurp(keep, 1)) == 0,
          "init refuses it too and keeps the key");

    /* A crash before the renames: only temporary files, which do not
     * count as a CA and are replaced by the next init. */
    snprintf(dir, sizeof dir, "%s/crashinit", tmp);
    snprintf(cert, sizeof cert, "%s/rootCA.pem", dir);
    snprintf(key, sizeof key, "%s/rootCA-key.pem", dir);
    ca_test_fault(1);
    int r = run("init", "--ca-dir", dir, NULL);
    ca_test_fault(0);
    char tcert[800], tkey[800];
    snprintf(tcert, sizeof tcert, "%s/%s", dir, MOAT_CA_NEW_CERT_FILE);
    snprintf(tkey, sizeof tkey, "%s/%s", dir, MOAT_CA_NEW_KEY_FILE);
    check(r == 1 && !exists(cert) && !exists(key) && exists(tcert) && exists(tkey),
          "init stopped before its renames leaves no rootCA.pem nor rootCA-key.pem");
    check(file_mode(tkey) == 0600, "and its temporary key has mode 0600");
    check(run("issue", "w.test", "--ca-dir", dir, "--cert-file", "w.pem", "--key-file", "w-key.pem",
              NULL) == 0 &&
              sh("openssl verify -CAfile %s w.pem >/dev/null", cert) == 0 && !exists(tcert) &&
              !exists(tkey),
          "the next issue makes a whole CA over the leftovers");
    snprintf(dir, sizeof dir, "%s/crashinit2", tmp);
    ca_test_fault(1);
    run("init", "--ca-dir", dir, NULL);
    ca_test_fault(0);
    check(run("list", "--ca-dir", dir, NULL) == 2 && strstr(out, "no CA in"),
          "leftovers alone are no CA to list");
    check(run("init", "--ca-dir", dir, NULL) == 0 && strstr(out, "rootCA.pem"),
          "and init after them succeeds");
}

static void test_localhost(void)
{
    char ca[600], root[700], cert[4200], key[4200], err[512];
    snprintf(ca, sizeof ca, "%s/serve-ca", tmp);
    snprintf(root, sizeof root, "%s/rootCA.pem", ca);
    setenv("MOAT_CA_HOME", ca, 1);

    /* First use: the CA appears, with a line on stderr. */
    char log[600];
    snprintf(log, sizeof log, "%s/stderr.log", tmp);
    fflush(stderr);
    int saved = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    close(fd);
    int r = ca_localhost_cert(cert, sizeof cert, key, sizeof key, err, sizeof err);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    const char *said = slurp(log, 0);
    check(count(said, "\n") == 1 && strstr(said, root), "first use says so in one line, naming %s",
          "rootCA.pem");
    check(r == 0, "localhost_cert on first use (%s)", r ? err : "");
    check(exists(root), "localhost_cert made the CA");
    char want[4200];
    snprintf(want, sizeof want, "%s/serve/localhost.pem", ca);
    check(strcmp(cert, want) == 0, "localhost.pem under serve/ in the CA dir");
    snprintf(want, sizeof want, "%s/serve/localhost-key.pem", ca);
    check(strcmp(key, want) == 0, "localhost-key.pem under serve/");
    check(file_mode(key) == 0600, "localhost key mode 0600");
    check(sh("openssl verify -CAfile %s -purpose sslserver -verify_hostname localhost %s "
             ">/dev/null",
             root, cert) == 0 &&
              sh("openssl verify -CAfile %s -verify_ip ::1 %s >/dev/null", root, cert) == 0 &&
              sh("openssl verify -CAfile %s -verify_ip 127.0.0.1 %s >/dev/null", root, cert) == 0,
          "localhost cert verifies for localhost, 127.0.0.1, ::1");

    char first[16384], root_pem[16384];
    snprintf(first, sizeof first, "%s", slurp(cert, 0));
    snprintf(root_pem, sizeof root_pem, "%s", slurp(root, 1));
    r = ca_localhost_cert(cert, sizeof cert, key, sizeof key, err, sizeof err);
    check(r == 0 && strcmp(first, slurp(cert, 2)) == 0, "localhost_cert is idempotent");
    check(strcmp(root_pem, slurp(root, 3)) == 0, "the CA is kept");

    check(sh("openssl x509 -in %s -noout -checkend %d >/dev/null && "
             "! openssl x509 -in %s -noout -checkend %d >/dev/null",
             cert, 89 * 86400, cert, 91 * 86400) == 0,
          "localhost cert valid for 90 days");

    /* 59 days on, 31 remain: kept; 61 days on, 29 remain: renewed. */
    ca_set_clock(fake_clock);
    fake_now = (int64_t)time(NULL) + 59 * 86400;
    r = ca_localhost_cert(cert, sizeof cert, key, sizeof key, err, sizeof err);
    check(r == 0 && strcmp(first, slurp(cert, 2)) == 0, "kept while 31 days remain");
    fake_now = (int64_t)time(NULL) + 61 * 86400;
    r = ca_localhost_cert(cert, sizeof cert, key, sizeof key, err, sizeof err);
    check(r == 0 && strcmp(first, slurp(cert, 2)) != 0, "renewed when < 30 days remain");
    snprintf(first, sizeof first, "%s", slurp(cert, 0));
    r = ca_localhost_cert(cert, sizeof cert, key, sizeof key, err, sizeof err);
    check(r == 0 && strcmp(first, slurp(cert, 2)) == 0, "and then reused");
    ca_set_clock(NULL);

    /* A key that does not match: reissued. */
    sh("cp %s/out/rsa.test-key.pem %s", tmp, key);
    r = ca_localhost_cert(cert, sizeof cert, key, sizeof key, err, sizeof err);
    check(r == 0 && sh("openssl x509 -in %s -noout -pubkey > %s/a.pub && openssl pkey -in %s "
                       "-pubout > %s/b.pub && cmp -s %s/a.pub %s/b.pub",
                       cert, tmp, key, tmp, tmp, tmp) == 0,
          "reissued when the key does not match");

    /* A new CA: the old localhost certificate is not reused. */
    sh("mv %s/rootCA.pem %s/rootCA.old && mv %s/rootCA-key.pem %s/rootCA-key.old", ca, ca, ca, ca);
    snprintf(first, sizeof first, "%s", slurp(cert, 0));
    r = ca_localhost_cert(cert, sizeof cert, key, sizeof key, err, sizeof err);
    check(r == 0 && strcmp(first, slurp(cert, 2)) != 0 &&
              sh("openssl verify -CAfile %s %s >/dev/null", root, cert) == 0,
          "reissued by a new CA");

    /* With an existing CA from `init`, no new CA. */
    char ca2[600], root2[700];
    snprintf(ca2, sizeof ca2, "%s/ca", tmp);
    snprintf(root2, sizeof root2, "%s/rootCA.pem", ca2);
    setenv("MOAT_CA_HOME", ca2, 1);
    snprintf(root_pem, sizeof root_pem, "%s", slurp(root2, 1));
    r = ca_localhost_cert(cert, sizeof cert, key, sizeof key, err, sizeof err);
    check(r == 0 && strcmp(root_pem, slurp(root2, 3)) == 0 &&
              sh("openssl verify -CAfile %s %s >/dev/null", root2, cert) == 0,
          "uses the existing CA");
    char small[8];
    check(ca_localhost_cert(small, sizeof small, key, sizeof key, err, sizeof err) < 0,
          "too small a buffer is an error");
}

/* Several processes asking at once on a fresh CA dir all get the same CA
 * and a certificate it signed (the flock serialises them). */
static void test_localhost_race(void)
{
    char ca[600], root[700];
    snprintf(ca, sizeof ca, "%s/race-ca", tmp);
    snprintf(root, sizeof root, "%s/rootCA.pem", ca);
    setenv("MOAT_CA_HOME", ca, 1);
    pid_t pids[6];
    for (int i = 0; i < 6; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            char c[4200], k[4200], e[512];
            int fd = open("/dev/null", O_WRONLY);
            dup2(fd, 2);
            int r = ca_localhost_cert(c, sizeof c, k, sizeof k, e, sizeof e);
            _exit(r == 0 ? 0 : 1);
        }
    }
    int all_ok = 1;
    for (int i = 0; i < 6; i++) {
        int st = 0;
        if (pids[i] < 0 || waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) ||
            WEXITSTATUS(st) != 0)
            all_ok = 0;
    }
    check(all_ok, "six processes at once on a fresh CA dir all succeed");
    check(sh("openssl verify -CAfile %s -purpose sslserver %s/serve/localhost.pem >/dev/null", root,
             ca) == 0 &&
              sh("openssl x509 -in %s/serve/localhost.pem -noout -pubkey > %s/a.pub && "
                 "openssl pkey -in %s/serve/localhost-key.pem -pubout > %s/b.pub && "
                 "cmp -s %s/a.pub %s/b.pub",
                 ca, tmp, ca, tmp, tmp, tmp) == 0,
          "and leave one consistent CA, certificate and key");
    char serve[700];
    snprintf(serve, sizeof serve, "%s/serve", ca);
    check(no_temp_files(ca) && no_temp_files(serve), "no temporary files left");
}

/* The names in dir, sorted and joined, to compare a directory before and
 * after. */
static const char *listing(const char *dir, int slot)
{
    static char buf[2][16384];
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "ls -A %s 2>&1", dir);
    buf[slot][0] = 0;
    FILE *p = popen(cmd, "r");
    if (p) {
        size_t n = fread(buf[slot], 1, sizeof buf[0] - 1, p);
        buf[slot][n] = 0;
        pclose(p);
    }
    return buf[slot];
}

static void test_write_failures(const char *ca)
{
    char issued[700], moved[700];
    snprintf(issued, sizeof issued, "%s/issued", ca);
    snprintf(moved, sizeof moved, "%s/issued.moved", ca);
    char before[16384];
    snprintf(before, sizeof before, "%s", listing(issued, 0));
    check(run("issue", "fail.test", "--cert-file", "/nonexistent-dir/fail.pem", NULL) == 1 &&
              strstr(out, "/nonexistent-dir/fail.pem"),
          "an unwritable --cert-file: exit 1, naming the file");
    check(!exists("fail.test-key.pem"), "and no key is left without its certificate");
    check(strcmp(before, listing(issued, 0)) == 0,
          "and issued/ is unchanged: no record of a certificate nobody got");
    check(run("issue", "fail.test", "--key-file", "/nonexistent-dir/fail-key.pem", NULL) == 1 &&
              strstr(out, "/nonexistent-dir/fail-key.pem") && !exists("fail.test.pem"),
          "an unwritable --key-file: exit 1, no certificate written");
    check(strcmp(before, listing(issued, 0)) == 0, "and issued/ is unchanged");

    /* The record itself fails (a file where issued/ should be): the
     * certificate and key written just before are taken back. */
    int moved_ok = rename(issued, moved) == 0;
    FILE *f = fopen(issued, "w");
    if (f) fclose(f);
    check(moved_ok && run("issue", "rec-fail.test", NULL) == 1 && strstr(out, "issued") &&
              strstr(out, "nothing was issued") && !exists("rec-fail.test.pem") &&
              !exists("rec-fail.test-key.pem") && no_temp_files("."),
          "an unwritable record: exit 1, no certificate or key left");
    unlink(issued);
    if (moved_ok) rename(moved, issued);
    check(strcmp(before, listing(issued, 0)) == 0 && no_temp_files(issued),
          "and issued/ is unchanged");
    check(run("issue", "rec-ok.test", NULL) == 0 && exists("rec-ok.test.pem") &&
              strcmp(before, listing(issued, 0)) != 0,
          "the next issue works and is recorded");
}

/* A crash while the record is written leaves at most a temporary file
 * (records are written whole and renamed); a record damaged some other
 * way is named by list, which still lists the rest. Neither stops issue. */
static void test_record_crash(const char *ca)
{
    char p[800];
    snprintf(p, sizeof p, "%s/issued/0123abcd.pem.tmp-999-0-deadbeef", ca);
    sh("head -c 100 %s/issued/$(ls %s/issued | head -1) > %s", ca, ca, p);
    check(run("list", NULL) == 0, "list ignores a temporary record left by a crash");
    char before[8192];
    snprintf(before, sizeof before, "%s", out);
    check(run("issue", "after-crash.test", NULL) == 0 && run("list", NULL) == 0 &&
              strstr(out, "after-crash.test") && count(out, "\n") == count(before, "\n") + 1,
          "issue after a crashed record write works, and list shows one more");
    unlink(p);
    snprintf(p, sizeof p, "%s/issued/0123abcd.pem", ca);
    sh("head -c 100 %s/issued/$(ls %s/issued | head -1) > %s", ca, ca, p);
    check(run("list", NULL) == 1 && strstr(out, "0123abcd.pem") && strstr(out, "after-crash.test"),
          "a truncated record: list names it (exit 1) and still lists the others");
    check(run("issue", "after-trunc.test", NULL) == 0 && exists("after-trunc.test.pem"),
          "and issue still works");
    unlink(p);
}

/* Name constraints: --permit-dns on the root, refused names, and a leaf
 * signed past moat's check that verifiers then refuse. */
static void test_constraints(void)
{
    char dir[600], root[700], err[512];
    snprintf(dir, sizeof dir, "%s/nc", tmp);
    snprintf(root, sizeof root, "%s/rootCA.pem", dir);
    check(run("init", "--ca-dir", dir, "--permit-dns", "Dev.Test", "--permit-dns", "localhost",
              NULL) == 0 &&
              strstr(out, "DNS:dev.test"),
          "init --permit-dns (twice), lower-cased, said");
    check(sh("openssl x509 -in %s -noout -text | grep -q 'Name Constraints: critical'", root) == 0,
          "root: critical nameConstraints");
    check(sh("openssl x509 -in %s -noout -text | grep -A6 'Name Constraints' | grep -q "
             "'IP:0:0:0:0:0:0:0:1/FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF'",
             root) == 0,
          "root: IP limited to loopback (::1/128 shown)");
    check(run("issue", "--ca-dir", dir, "a.dev.test", "127.0.0.1", "--cert-file", "nc-ok.pem",
              "--key-file", "nc-ok-key.pem", NULL) == 0 &&
              sh("openssl verify -CAfile %s -purpose sslserver nc-ok.pem >/dev/null", root) == 0,
          "a name inside the constraints is issued and verifies");
    check(run("issue", "--ca-dir", dir, "evil.test", NULL) == 2 && strstr(out, "evil.test") &&
              !exists("evil.test.pem") && !exists("evil.test-key.pem"),
          "a name outside: exit 2, named, nothing written");
    check(run("issue", "--ca-dir", dir, "xdev.test", NULL) == 2, "xdev.test is not under dev.test");
    check(run("issue", "--ca-dir", dir, "*.dev.test", NULL) == 0, "*.dev.test is under dev.test");
    check(run("issue", "--ca-dir", dir, "192.168.1.1", NULL) == 2, "a LAN IP is refused");
    check(run("init", "--ca-dir", dir, NULL) == 2, "init does not replace a constrained CA");
    char dir2[600];
    snprintf(dir2, sizeof dir2, "%s/nc2", tmp);
    check(run("init", "--ca-dir", dir2, "--permit-dns", "lan.test", "--permit-ip", "10.0.0.0/8",
              NULL) == 0 &&
              run("issue", "--ca-dir", dir2, "10.1.2.3", NULL) == 0 &&
              run("issue", "--ca-dir", dir2, "127.0.0.1", NULL) == 2,
          "--permit-ip 10.0.0.0/8 replaces the loopback default");
    snprintf(dir2, sizeof dir2, "%s/nc3", tmp);
    check(run("init", "--ca-dir", dir2, "--permit-dns", "x.test", "--permit-ip", "10.0.0.1/8",
              NULL) == 2 &&
              !exists(dir2),
          "--permit-ip with host bits set: exit 2, no CA directory left");
    check(run("init", "--ca-dir", dir2, "--permit-ip", "10.0.0.0/8", NULL) == 2,
          "--permit-ip alone is a usage error");
    check(run("init", "--ca-dir", dir2, "--permit-dns", "*.x.test", NULL) == 2,
          "--permit-dns with a wildcard is refused");

    /* Past moat's check: crypto_x509_issue directly. */
    struct moat_ca ca;
    moat_pkey *k = NULL;
    moat_cert *leaf = NULL;
    static const char *const names[] = {"outside.example"};
    struct moat_issue_params p = {.names = names,
                                  .n_names = 1,
                                  .not_before = (int64_t)time(NULL),
                                  .not_after = (int64_t)time(NULL) + 86400};
    int r = ca_store_open(dir, 0, NULL, &ca, err, sizeof err);
    check(r == 0 && !crypto_cert_name_permitted(ca.cert, "outside.example") &&
              crypto_cert_name_permitted(ca.cert, "localhost") &&
              crypto_cert_name_permitted(ca.cert, "A.DEV.TEST") &&
              crypto_cert_name_permitted(ca.cert, "::1") &&
              !crypto_cert_name_permitted(ca.cert, "::2") &&
              crypto_cert_name_permitted(ca.cert, "127.255.0.1"),
          "crypto_cert_name_permitted follows RFC 5280 subtrees");
    if (r == 0 && crypto_pkey_generate(MOAT_KEY_EC_P256, &k, err, sizeof err) == 0 &&
        crypto_x509_issue(ca.cert, ca.key, k, &p, &leaf, err, sizeof err) == 0) {
        const moat_cert *chain[1] = {leaf};
        ca_write_certs(chain, 1, "rogue.pem", 0644, err, sizeof err);
    }
    check(exists("rogue.pem") &&
              sh("openssl verify -CAfile %s rogue.pem 2>&1 | grep -q 'permitted subtree "
                 "violation'",
                 root) == 0,
          "a leaf outside the constraints fails openssl verify");
    crypto_cert_free(leaf);
    crypto_pkey_free(k);
    if (r == 0) ca_store_close(&ca);
}

/* An IP-only leaf under a root with DNS name constraints: no CN (OpenSSL
 * holds a CN that reads as a DNS name, "127.0.0.1" among them, to the DNS
 * constraints when the leaf has no DNS SAN), and it verifies; the same for
 * moat serve's localhost certificate when the root does not permit
 * localhost. crypto_cert_check_leaf refuses the old shape. */
static void test_ip_only_cn(void)
{
    char dir[600], root[700], err[512];
    snprintf(dir, sizeof dir, "%s/ipcn", tmp);
    snprintf(root, sizeof root, "%s/rootCA.pem", dir);
    check(run("init", "--ca-dir", dir, "--permit-dns", "dev.test", NULL) == 0, "ipcn: init");
    static const char *const leaves[][3] = {{"127.0.0.1", NULL, "ipcn-v4"},
                                            {"::1", NULL, "ipcn-v6"},
                                            {"127.0.0.1", "::1", "ipcn-both"},
                                            {"127.0.0.1", "a.dev.test", "ipcn-mixed"}};
    for (size_t i = 0; i < 4; i++) {
        char cf[64], kf[64];
        snprintf(cf, sizeof cf, "%s.pem", leaves[i][2]);
        snprintf(kf, sizeof kf, "%s-key.pem", leaves[i][2]);
        int rc = leaves[i][1] ? run("issue", "--ca-dir", dir, leaves[i][0], leaves[i][1],
                                    "--cert-file", cf, "--key-file", kf, NULL)
                              : run("issue", "--ca-dir", dir, leaves[i][0], "--cert-file", cf,
                                    "--key-file", kf, NULL);
        check(rc == 0 && sh("openssl verify -CAfile %s -purpose sslserver %s >/dev/null 2>&1", root,
                            cf) == 0,
              "ip-only CN: issue %s%s%s under --permit-dns passes openssl verify -purpose "
              "sslserver",
              leaves[i][0], leaves[i][1] ? " " : "", leaves[i][1] ? leaves[i][1] : "");
    }
    check(sh("openssl x509 -in ipcn-v4.pem -noout -subject | grep -q 'CN'") != 0,
          "ip-only CN: an IP-only leaf has no CN");
    check(sh("openssl x509 -in ipcn-mixed.pem -noout -subject | grep -q 'CN = a.dev.test'") == 0,
          "ip-only CN: a mixed leaf's CN is its DNS name, though an IP comes first");

    /* The old shape, made past moat's checks: CN=127.0.0.1, IP SAN only. */
    struct moat_ca ca;
    moat_pkey *k = NULL;
    moat_cert *leaf = NULL;
    static const char *const ip[] = {"127.0.0.1"};
    struct moat_issue_params p = {.names = ip,
                                  .n_names = 1,
                                  .not_before = (int64_t)time(NULL),
                                  .not_after = (int64_t)time(NULL) + 86400,
                                  .common_name = "127.0.0.1"};
    int r = ca_store_open(dir, 0, NULL, &ca, err, sizeof err);
    if (r == 0 && crypto_pkey_generate(MOAT_KEY_EC_P256, &k, err, sizeof err) == 0 &&
        crypto_x509_issue(ca.cert, ca.key, k, &p, &leaf, err, sizeof err) == 0) {
        check(crypto_cert_check_leaf(ca.cert, leaf, 1, 0, err, sizeof err) == MOAT_ERR_ARG &&
                  strstr(err, "permitted subtree violation"),
              "ip-only CN: crypto_cert_check_leaf refuses CN=127.0.0.1 under DNS constraints (%s)",
              err);
    } else {
        check(0, "ip-only CN: made the old shape (%s)", err);
    }
    crypto_cert_free(leaf);
    crypto_pkey_free(k);
    if (r == 0) ca_store_close(&ca);

    /* moat serve without --cert: localhost is not permitted, so 127.0.0.1
     * and ::1 alone. */
    char cert[4200], key[4200];
    setenv("MOAT_CA_HOME", dir, 1);
    r = ca_localhost_cert(cert, sizeof cert, key, sizeof key, err, sizeof err);
    check(r == 0 &&
              sh("openssl verify -CAfile %s -purpose sslserver %s >/dev/null 2>&1", root, cert) ==
                  0 &&
              sh("openssl x509 -in %s -noout -subject | grep -q CN", cert) != 0,
          "ip-only CN: serve's localhost certificate under --permit-dns dev.test has no CN and "
          "verifies (%s)",
          r ? err : "");

    /* One an earlier moat made there (CN=127.0.0.1) is replaced. */
    k = NULL;
    leaf = NULL;
    static const char *const both[] = {"127.0.0.1", "::1"};
    p.names = both;
    p.n_names = 2;
    p.not_after = (int64_t)time(NULL) + 90 * 86400;
    r = ca_store_open(dir, 0, NULL, &ca, err, sizeof err);
    if (r == 0 && crypto_pkey_generate(MOAT_KEY_EC_P256, &k, err, sizeof err) == 0 &&
        crypto_x509_issue(ca.cert, ca.key, k, &p, &leaf, err, sizeof err) == 0) {
        const moat_cert *chain[1] = {leaf};
        ca_write_key(k, key, err, sizeof err);
        ca_write_certs(chain, 1, cert, 0644, err, sizeof err);
    }
    crypto_cert_free(leaf);
    crypto_pkey_free(k);
    if (r == 0) ca_store_close(&ca);
    check(sh("openssl x509 -in %s -noout -subject | grep -q 'CN = 127.0.0.1'", cert) == 0,
          "ip-only CN: an old serve certificate with CN=127.0.0.1 put in place");
    r = ca_localhost_cert(cert, sizeof cert, key, sizeof key, err, sizeof err);
    check(r == 0 && sh("openssl verify -CAfile %s -purpose sslserver %s >/dev/null 2>&1", root,
                       cert) == 0,
          "ip-only CN: serve replaces the old one with one that verifies (%s)", r ? err : "");
}

static void first_line(const char *cmd, char *buf, size_t len)
{
    buf[0] = 0;
    FILE *p = popen(cmd, "r");
    if (!p) return;
    if (!fgets(buf, (int)len, p)) buf[0] = 0;
    pclose(p);
    buf[strcspn(buf, "\n")] = 0;
}

static void test_revoke(void)
{
    char dir[600], root[700], crl[700], rec[700];
    snprintf(dir, sizeof dir, "%s/rv", tmp);
    snprintf(root, sizeof root, "%s/rootCA.pem", dir);
    snprintf(crl, sizeof crl, "%s/rv.crl", tmp);
    snprintf(rec, sizeof rec, "%s/revoked.txt", dir);
    check(run("init", "--ca-dir", dir, NULL) == 0, "revocation CA");
    check(run("list", "--ca-dir", dir, NULL) == 0 && strstr(out, "0 certificates, 0 revoked"),
          "list of a new CA: none");
    run("issue", "--ca-dir", dir, "r1.test", NULL);
    run("issue", "--ca-dir", dir, "r2.test", NULL);
    run("issue", "--ca-dir", dir, "r3.test", NULL);
    char s1[128], s3[128], cmd[1024];
    first_line("openssl x509 -in r1.test.pem -noout -serial | cut -d= -f2", s1, sizeof s1);
    first_line("openssl x509 -in r3.test.pem -noout -serial | cut -d= -f2", s3, sizeof s3);
    check(run("revoke", "--ca-dir", dir, "r1.test.pem", "--reason", "KEYCOMPROMISE", NULL) == 0 &&
              strstr(out, "keyCompromise"),
          "revoke FILE --reason (any case)");
    check(run("revoke", "--ca-dir", dir, s3, "--reason=superseded", NULL) == 0,
          "revoke SERIAL (openssl's upper case)");
    check(run("revoke", "--ca-dir", dir, "r1.test.pem", NULL) == 0 && strstr(out, "already"),
          "revoking twice: says so, exit 0");
    check(count(slurp(rec, 0), "\n") == 3, "the record has its header and two lines");
    check(file_mode(rec) == 0644, "record mode 0644");
    check(run("revoke", "--ca-dir", dir, "zz", NULL) == 2, "revoke of a non-serial: exit 2");
    check(run("revoke", "--ca-dir", dir, "r2.test.pem", "--reason", "certificateHold", NULL) == 2 &&
              strstr(out, "certificateHold"),
          "an unknown reason: exit 2, named");
    check(run("revoke", "--ca-dir", dir, NULL) == 2, "revoke needs one certificate");
    check(run("crl", "--ca-dir", dir, "--out", crl, "--days", "3", NULL) == 0 &&
              strstr(out, "2 revoked"),
          "crl --out --days 3");
    check(sh("openssl crl -in %s -noout -CAfile %s 2>&1 | grep -q 'verify OK'", crl, root) == 0,
          "the CRL verifies against the root");
    snprintf(cmd, sizeof cmd, "openssl crl -in %s -noout -text", crl);
    check(sh("%s | grep -qi 'Serial Number: %s' && %s | grep -qi 'Serial Number: %s'", cmd, s1, cmd,
             s3) == 0,
          "both serials in the CRL");
    check(sh("%s | grep -q 'Key Compromise' && %s | grep -q Superseded", cmd, cmd) == 0,
          "with their reasons");
    check(sh("%s | grep -A1 'CRL Number' | grep -qx ' *1'", cmd) == 0, "CRL number 1");
    check(sh("openssl crl -in %s -noout -nextupdate | grep -q \"$(date -u -d '+3 days' '+%%b "
             "%%e')\"",
             crl) == 0,
          "nextUpdate in 3 days");
    check(sh("openssl verify -crl_check -CRLfile %s -CAfile %s r1.test.pem 2>&1 | grep -q "
             "'certificate revoked'",
             crl, root) == 0 &&
              sh("openssl verify -crl_check -CRLfile %s -CAfile %s r2.test.pem >/dev/null 2>&1",
                 crl, root) == 0,
          "openssl verify -crl_check: r1 revoked, r2 fine");
    char copy[700];
    snprintf(copy, sizeof copy, "%s/crl.pem", dir);
    check(strcmp(slurp(copy, 0), slurp(crl, 1)) == 0, "a copy of the CRL in the CA dir");
    check(run("crl", "--ca-dir", dir, "--out", crl, NULL) == 0 &&
              sh("openssl crl -in %s -noout -crlnumber | grep -q 'crlNumber=0x02'", crl) == 0,
          "the next CRL is number 2");
    check(run("list", "--ca-dir", dir, NULL) == 0 && strstr(out, "3 certificates, 2 revoked") &&
              strstr(out, "REVOKED") && strstr(out, "r2.test") && strstr(out, "(superseded)"),
          "list: three, two revoked");
    check(run("crl", "--ca-dir", dir, "--rsa", NULL) == 2, "crl rejects --rsa");

    /* Damaged records: exit 2, named, nothing changed. */
    char saved[16384];
    snprintf(saved, sizeof saved, "%s", slurp(rec, 0));
    FILE *f = fopen(rec, "a");
    if (f) {
        fputs("garbage line\n", f);
        fclose(f);
    }
    check(run("crl", "--ca-dir", dir, "--out", "damaged.crl", NULL) == 2 &&
              strstr(out, "revoked.txt") && !exists("damaged.crl"),
          "a damaged revocation record: exit 2, named, no CRL");
    check(run("revoke", "--ca-dir", dir, "r2.test.pem", NULL) == 2, "and no revocation either");
    sh("printf '%%s' '%s' > %s", saved, rec);
    char num[700];
    snprintf(num, sizeof num, "%s/crlnumber", dir);
    sh("echo oops > %s", num);
    check(run("crl", "--ca-dir", dir, NULL) == 2 && strstr(out, "crlnumber"),
          "a damaged crlnumber: exit 2");
    sh("echo 41 > %s", num);
    check(run("crl", "--ca-dir", dir, "--out", crl, NULL) == 0 &&
              sh("openssl crl -in %s -noout -crlnumber | grep -q 'crlNumber=0x2A'", crl) == 0,
          "the CRL number continues from the file (42)");
    check(no_temp_files(dir), "no temporary files in the CA dir");

    /* Normalising serials. */
    char n[64];
    check(ca_normalize_serial("00:0A:bc", n, sizeof n) == 0 && strcmp(n, "0abc") == 0,
          "serial 00:0A:bc -> 0abc");
    check(ca_normalize_serial("serial=ABC", n, sizeof n) == 0 && strcmp(n, "0abc") == 0,
          "serial=ABC -> 0abc");
    check(ca_normalize_serial("0x1", n, sizeof n) == 0 && strcmp(n, "01") == 0, "0x1 -> 01");
    check(ca_normalize_serial("xyz", n, sizeof n) < 0 && ca_normalize_serial("", n, sizeof n) < 0 &&
              ca_normalize_serial("000", n, sizeof n) < 0,
          "non-hex, empty and zero serials refused");
    check(ca_reason_code("cessationofoperation") == 5 && ca_reason_code("nope") < 0 &&
              strcmp(ca_reason_name(2), "cACompromise") == 0,
          "reason names");

    /* A revoked serve certificate is not reused. */
    char cert[4200], key[4200], err[512], first[16384];
    setenv("MOAT_CA_HOME", dir, 1);
    int r = ca_localhost_cert(cert, sizeof cert, key, sizeof key, err, sizeof err);
    snprintf(first, sizeof first, "%s", slurp(cert, 0));
    check(r == 0 && run("revoke", cert, NULL) == 0, "revoke the serve certificate by its file");
    r = ca_localhost_cert(cert, sizeof cert, key, sizeof key, err, sizeof err);
    check(r == 0 && strcmp(first, slurp(cert, 1)) != 0, "serve issues a new one after revocation");
}

/* Errors on the CA itself: exit 2, a message naming it, nothing written. */
static void test_ca_errors(void)
{
    char dir[600], p[700];
    snprintf(dir, sizeof dir, "%s/missing", tmp);
    check(run("list", "--ca-dir", dir, NULL) == 2 && strstr(out, "no CA directory") && !exists(dir),
          "list with a missing CA dir: exit 2, nothing created");
    check(run("revoke", "--ca-dir", dir, "ab", NULL) == 2 && !exists(dir), "revoke likewise");
    check(run("trust", "--ca-dir", dir, "--nss-db", "x", NULL) == 2 && !exists("x"),
          "trust likewise");
    snprintf(dir, sizeof dir, "%s/wrongkey", tmp);
    run("init", "--ca-dir", dir, NULL);
    snprintf(p, sizeof p, "%s/rootCA-key.pem", dir);
    sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out %s 2>/dev/null", p);
    check(run("issue", "--ca-dir", dir, "wk.test", NULL) == 2 && strstr(out, "wrong key") &&
              !exists("wk.test.pem") && !exists("wk.test-key.pem"),
          "a key that is not the root's: exit 2, 'wrong key', nothing written");
    snprintf(dir, sizeof dir, "%s/notca", tmp);
    run("init", "--ca-dir", dir, NULL);
    sh("cp %s/out/example.test.pem %s/rootCA.pem", tmp, dir);
    check(run("list", "--ca-dir", dir, NULL) == 2 && strstr(out, "not a CA"),
          "a leaf in place of the root: exit 2, 'not a CA'");
}

static void test_trust(void)
{
    char db[600], sys[600], bin[600], calls[700], path[2048];
    snprintf(db, sizeof db, "%s/nssdb", tmp);
    snprintf(sys, sizeof sys, "%s/sys", tmp);
    snprintf(bin, sizeof bin, "%s/bin", tmp);
    snprintf(calls, sizeof calls, "%s/calls", tmp);
    mkdir(sys, 0755);
    mkdir(bin, 0755);
    /* Stand-ins for the tools, found first in PATH. */
    sh("printf '#!/bin/sh\\necho \"$0 $*\" >> %s\\n' > %s/update-ca-certificates && chmod +x "
       "%s/update-ca-certificates",
       calls, bin, bin);
    char *old_path = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    snprintf(path, sizeof path, "%s:%s", bin, old_path);
    setenv("PATH", path, 1);
    setenv("MOAT_SYSTEM_CA_DIR", sys, 1);
    check(run("trust", "--system-only", NULL) == 0 && strstr(out, "moat-rootCA-") &&
              count(slurp(calls, 0), "update-ca-certificates \n") == 1,
          "trust --system-only: copies the root and runs update-ca-certificates");
    check(run("untrust", "--system-only", NULL) == 0 &&
              count(slurp(calls, 0), "update-ca-certificates --fresh\n") == 1,
          "untrust --system-only: removes it, update-ca-certificates --fresh");
    check(sh("ls %s | grep -q .", sys) != 0, "nothing left in the system dir");
    unsetenv("MOAT_SYSTEM_CA_DIR");
    if (sh("command -v certutil >/dev/null") == 0) {
        check(run("trust", "--nss-db", db, NULL) == 0 &&
                  sh("certutil -L -d sql:%s | grep -q 'moat local CA'", db) == 0,
              "trust --nss-db: certutil lists the root");
        check(run("untrust", "--nss-db", db, NULL) == 0 &&
                  sh("certutil -L -d sql:%s | grep -q 'moat local CA'", db) != 0,
              "untrust --nss-db removes it");
    }
    /* certutil missing: a clear message, exit 1. */
    setenv("PATH", bin, 1);
    check(run("trust", "--nss-db", db, NULL) == 1 && strstr(out, "libnss3-tools"),
          "without certutil: exit 1, says which package to install");
    setenv("PATH", old_path, 1);
    free(old_path);
    check(run("trust", "--system-only", "--nss-db", db, NULL) == 2,
          "--system-only with --nss-db: usage error");
}

static void test_x509gen(void)
{
    char err[256], path[600];
    snprintf(path, sizeof path, "%s/atomic", tmp);
    check(core_write_file_atomic(path, "abc", 3, 0640, err, sizeof err) == 0 &&
              strcmp(slurp(path, 0), "abc") == 0 && file_mode(path) == 0640,
          "atomic write with the given mode");
    check(core_write_file_atomic(path, "defg", 4, 0600, err, sizeof err) == 0 &&
              strcmp(slurp(path, 0), "defg") == 0 && file_mode(path) == 0600,
          "atomic write replaces");
    snprintf(path, sizeof path, "%s/no/such/dir/file", tmp);
    check(core_write_file_atomic(path, "x", 1, 0600, err, sizeof err) == MOAT_ERR_IO &&
              strstr(err, "no/such"),
          "atomic write into a missing dir fails with a message");
    moat_cert *c = NULL;
    moat_pkey *k = NULL;
    check(ca_read_cert("/nonexistent.pem", &c, err, sizeof err) == MOAT_ERR_FILE && !c,
          "reading a missing certificate fails");
    snprintf(path, sizeof path, "%s/atomic", tmp);
    check(ca_read_key(path, &k, err, sizeof err) == MOAT_ERR_FILE && !k, "reading a non-key fails");
    sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes-128-cbc -pass "
       "pass:secret -out %s/enc.pem 2>/dev/null",
       tmp);
    snprintf(path, sizeof path, "%s/enc.pem", tmp);
    check(ca_read_key(path, &k, err, sizeof err) == MOAT_ERR_FILE && !k,
          "an encrypted key is refused without prompting");
    check(crypto_pkey_generate(MOAT_KEY_EC_P256, &k, err, sizeof err) == 0 &&
              crypto_pkey_type(k) == MOAT_KEY_EC_P256,
          "P-256 key generation");
    crypto_pkey_free(k);
    k = NULL;
    check(crypto_pkey_generate((enum moat_key_type)7, &k, err, sizeof err) == MOAT_ERR_ARG,
          "unknown key type");
}

/* The whole file into a malloc'd buffer (*n bytes), or NULL. */
static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    *n = 0;
    if (!f) return NULL;
    unsigned char *b = malloc(1 << 16);
    if (b) *n = fread(b, 1, 1 << 16, f);
    fclose(f);
    return b;
}

/* moat get's judgement of a stapled OCSP answer without nextUpdate
 * (crypto/verify.c): believed for MOAT_OCSP_MAX_AGE after thisUpdate,
 * then ignored as stale (not a refusal), except a "revoked". Answers made
 * with openssl ocsp, which leaves nextUpdate out unless -ndays is given. */
static void test_ocsp_staple_age(void)
{
    char d[600];
    snprintf(d, sizeof d, "%s/ocsp", tmp);
    int made = sh("set -e; mkdir -p %s; cd %s; exec 2>gen.log >&2\n"
                  "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                  "-keyout root.key -subj /CN=ocsp-root -days 30 "
                  "-addext basicConstraints=critical,CA:TRUE -addext "
                  "keyUsage=critical,keyCertSign,cRLSign -out root.pem\n"
                  "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                  "-keyout leaf.key -subj /CN=localhost -out leaf.csr\n"
                  "printf 'subjectAltName=DNS:localhost\\nextendedKeyUsage=serverAuth\\n' >ext\n"
                  "openssl x509 -req -in leaf.csr -CA root.pem -CAkey root.key -CAcreateserial "
                  "-days 30 -extfile ext -out leaf.pem\n"
                  "openssl x509 -in leaf.pem -outform DER -out leaf.der\n"
                  "s=$(openssl x509 -in leaf.pem -noout -serial | cut -d= -f2)\n"
                  "printf 'V\\t301231000000Z\\t\\t%%s\\tunknown\\t/CN=localhost\\n' $s >good.txt\n"
                  "printf 'R\\t301231000000Z\\t200101000000Z,keyCompromise\\t%%s\\tunknown\\t"
                  "/CN=localhost\\n' $s >revoked.txt\n"
                  "o='-rsigner root.pem -rkey root.key -CA root.pem -issuer root.pem -cert "
                  "leaf.pem'\n"
                  "openssl ocsp -index good.txt $o -respout good-nonext.der\n"
                  "openssl ocsp -index revoked.txt $o -respout revoked-nonext.der\n"
                  "openssl ocsp -index good.txt $o -ndays 1 -respout good-1day.der\n",
                  d, d) == 0;
    check(made, "OCSP answers made with openssl ocsp");
    if (!made) return;
    char path[700];
    size_t root_n = 0, leaf_n = 0, good_n = 0, rev_n = 0, day_n = 0;
    snprintf(path, sizeof path, "%s/root.pem", d);
    unsigned char *root = read_all(path, &root_n);
    snprintf(path, sizeof path, "%s/leaf.der", d);
    unsigned char *leaf = read_all(path, &leaf_n);
    snprintf(path, sizeof path, "%s/good-nonext.der", d);
    unsigned char *good = read_all(path, &good_n);
    snprintf(path, sizeof path, "%s/revoked-nonext.der", d);
    unsigned char *rev = read_all(path, &rev_n);
    snprintf(path, sizeof path, "%s/good-1day.der", d);
    unsigned char *day = read_all(path, &day_n);
    char err[256], said[512];
    moat_verdict v;
    moat_trust *t = root ? crypto_trust_new((const char *)root, root_n, err, sizeof err) : NULL;
    check(t && leaf && good && rev && day, "trust and answers loaded");
    if (t && leaf && good && rev && day) {
        const uint8_t *ders[1] = {leaf};
        size_t lens[1] = {leaf_n};
        int64_t now = (int64_t)time(NULL), later = now + MOAT_OCSP_MAX_AGE + 86400;
        check(crypto_verify_chain(t, ders, lens, 1, "localhost", now, 0, good, good_n, &v) == 0 &&
                  !v.staple[0],
              "a fresh good answer without nextUpdate is accepted");
        crypto_ocsp_describe(good, good_n, now, said, sizeof said);
        check(strstr(said, "good") && strstr(said, "no next update"), "-v: %s", said);
        check(crypto_verify_chain(t, ders, lens, 1, "localhost", later, 0, good, good_n, &v) == 0 &&
                  strstr(v.staple, "stale"),
              "8 days on, the same answer is ignored as stale, not a refusal (%s)", v.staple);
        crypto_ocsp_describe(good, good_n, later, said, sizeof said);
        check(strstr(said, "stale, ignored") != NULL, "-v 8 days on: %s", said);
        check(crypto_verify_chain(t, ders, lens, 1, "localhost", now, 0, rev, rev_n, &v) ==
                      MOAT_ERR_ALERT(MOAT_ALERT_CERTIFICATE_REVOKED) &&
                  strstr(v.reason, "revoked"),
              "a fresh revoked answer without nextUpdate refuses (%s)", v.reason);
        /* Chromium ignores a stale staple whatever it says: only a valid
         * answer that says revoked refuses (tests/interop/33). */
        check(crypto_verify_chain(t, ders, lens, 1, "localhost", later, 0, rev, rev_n, &v) == 0 &&
                  strstr(v.staple, "stale"),
              "8 days on, a revoked answer without nextUpdate is ignored as stale (%s)", v.staple);
        check(crypto_verify_chain(t, ders, lens, 1, "localhost", now, 0, rev, rev_n, &v) != 0 &&
                  strcmp(v.code, "NET::ERR_CERT_REVOKED") == 0,
              "and a fresh one refuses (%s)", v.code);
        check(crypto_verify_chain(t, ders, lens, 1, "localhost", later, 0, day, day_n, &v) == 0 &&
                  strstr(v.staple, "out of date"),
              "an answer past its nextUpdate is ignored as out of date, not a refusal (%s)",
              v.staple);
        crypto_ocsp_describe(day, day_n, now, said, sizeof said);
        check(strstr(said, "next update 2") != NULL, "-v with nextUpdate: %s", said);
    }
    crypto_trust_free(t);
    free(root);
    free(leaf);
    free(good);
    free(rev);
    free(day);
}

/* openssl x509 -noout OPTS -in FILE contains what. */
static int x509_has(const char *file, const char *opts, const char *what)
{
    return sh("openssl x509 -in '%s' -noout %s 2>/dev/null | grep -qF -- '%s'", file, opts, what) ==
           0;
}

/* Who moat serve logs for the client certificate in pem (crypto_x509_identity). */
static const char *identity_of(const char *pem, char *buf, size_t len)
{
    char der[700];
    size_t n = 0;
    snprintf(der, sizeof der, "%s/identity.der", tmp);
    buf[0] = 0;
    if (sh("openssl x509 -in '%s' -outform DER -out %s", pem, der) != 0) return buf;
    unsigned char *b = read_all(der, &n);
    if (!b || crypto_x509_identity(b, n, buf, len) != 0) buf[0] = 0;
    free(b);
    return buf;
}

/* --client with email addresses and URIs (rfc822Name and URI SANs, as
 * mkcert makes them), what refuses them, and the identity moat serve
 * logs. */
static void test_client_names(void)
{
    char dir[600], root[700], id[256];
    snprintf(dir, sizeof dir, "%s/clients", tmp);
    snprintf(root, sizeof root, "%s/rootCA.pem", dir);
    check(run("init", "--ca-dir", dir, NULL) == 0, "clients: init");
    check(run("issue", "--ca-dir", dir, "--client", "alice@example.test", NULL) == 0 &&
              strstr(out, "(email address)") && strstr(out, "for clients"),
          "client email: issue --client alice@example.test");
    const char *a = "alice@example.test.pem";
    check(x509_has(a, "-ext subjectAltName", "email:alice@example.test"),
          "client email: rfc822Name SAN");
    check(x509_has(a, "-subject", "CN = alice@example.test"), "client email: the CN is the email");
    check(x509_has(a, "-ext extendedKeyUsage", "TLS Web Client Authentication") &&
              !x509_has(a, "-ext extendedKeyUsage", "Server"),
          "client email: extendedKeyUsage clientAuth alone");
    check(sh("openssl verify -CAfile %s -purpose sslclient %s >/dev/null 2>&1", root, a) == 0,
          "client email: openssl verify -purpose sslclient");
    check(file_mode("alice@example.test-key.pem") == 0600, "client email: key mode 0600");
    check(strcmp(identity_of(a, id, sizeof id), "alice@example.test") == 0,
          "client email: identity is the email (%s)", id);

    check(run("issue", "--ca-dir", dir, "--client", "spiffe://example.test/workload", NULL) == 0 &&
              strstr(out, "(URI)"),
          "client URI: issue --client spiffe://example.test/workload");
    const char *u = "spiffe___example.test_workload.pem";
    check(exists(u) && x509_has(u, "-ext subjectAltName", "URI:spiffe://example.test/workload") &&
              x509_has(u, "-subject", "CN = spiffe://example.test/workload"),
          "client URI: URI SAN and CN, file name without '/' or ':'");
    check(sh("openssl verify -CAfile %s -purpose sslclient %s >/dev/null 2>&1", root, u) == 0,
          "client URI: openssl verify -purpose sslclient");
    check(strcmp(identity_of(u, id, sizeof id), "spiffe://example.test/workload") == 0,
          "client URI: identity is the URI (%s)", id);
    check(run("issue", "--ca-dir", dir, "--client", "HTTPS://example.test/alice", "--cert-file",
              "https-alice.pem", "--key-file", "https-alice-key.pem", NULL) == 0 &&
              x509_has("https-alice.pem", "-ext subjectAltName", "URI:https://example.test/alice"),
          "client URI: https://, scheme lower-cased");

    check(run("issue", "--ca-dir", dir, "--client", "Bob@Example.TEST", "bob.example.test",
              "--cert-file", "bob.pem", "--key-file", "bob-key.pem", NULL) == 0 &&
              x509_has("bob.pem", "-subject", "CN = Bob@example.test") &&
              x509_has("bob.pem", "-ext extendedKeyUsage", "Server") &&
              sh("openssl verify -CAfile %s -purpose sslserver bob.pem >/dev/null 2>&1 && "
                 "openssl verify -CAfile %s -purpose sslclient bob.pem >/dev/null 2>&1",
                 root, root) == 0,
          "client mixed: email and host, CN the email (host part lower-cased), both purposes");
    check(strncmp(identity_of("ipcn-mixed.pem", id, sizeof id), "CN=a.dev.test,", 14) == 0,
          "no email or URI: identity is the subject (%s)", id);

    static const char *const refused[] = {"alice@example.test", "spiffe://example.test/w"};
    for (int k = 0; k < 2; k++)
        check(run("issue", "--ca-dir", dir, refused[k], "--cert-file", "srv-x.pem", "--key-file",
                  "srv-x-key.pem", NULL) == 2 &&
                  strstr(out, "--client") && !exists("srv-x.pem") && !exists("srv-x-key.pem"),
              "server certificate: %s refused without --client (exit 2, nothing written)",
              refused[k]);
    static const char *const bad[] = {"alice @example.test",
                                      "al\tice@example.test",
                                      "al=ice@example.test",
                                      "@example.test",
                                      ".alice@example.test",
                                      "a..b@example.test",
                                      "alice@",
                                      "alice@x@example.test",
                                      "alice@*.example.test",
                                      "alice@-x.test",
                                      "spiffe:/x",
                                      "spiffe://",
                                      "://example.test",
                                      "1x://example.test",
                                      "sp ffe://example.test",
                                      "https://ex ample.test",
                                      "https://example.test/\x01",
                                      "https://:443/",
                                      "https://u@/x"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char label[64];
        snprintf(label, sizeof label, "%s", bad[k]);
        for (char *c = label; *c; c++)
            if ((unsigned char)*c < 0x20) *c = '?'; /* one result line each */
        check(run("issue", "--ca-dir", dir, "--client", bad[k], NULL) == 2 &&
                  strstr(out, "moat ca issue:"),
              "client name refused with 2: \"%s\"", label);
    }
}

/* A root made elsewhere with email and URI name constraints (moat ca init
 * makes DNS and IP ones only): moat refuses what the root may not
 * certify, with the names, rather than issue what verifiers refuse. */
static void test_client_constraints(void)
{
    char dir[600], root[700];
    snprintf(dir, sizeof dir, "%s/ncmail", tmp);
    snprintf(root, sizeof root, "%s/rootCA.pem", dir);
    int made =
        sh("mkdir -p %s && chmod 700 %s && cd %s && "
           "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out rootCA-key.pem "
           "2>/dev/null && chmod 600 rootCA-key.pem && "
           "openssl req -x509 -new -key rootCA-key.pem -days 3650 -subj '/O=hand-made/CN=nc mail' "
           "-addext 'basicConstraints=critical,CA:TRUE' "
           "-addext 'keyUsage=critical,keyCertSign,cRLSign' "
           "-addext 'nameConstraints=critical,permitted;DNS:example.test,"
           "permitted;email:example.test,permitted;URI:example.test' -out rootCA.pem 2>/dev/null",
           dir, dir, dir) == 0;
    check(made, "nc email/URI: hand-made root");
    check(run("issue", "--ca-dir", dir, "--client", "alice@example.test", "--cert-file",
              "ncm-alice.pem", "--key-file", "ncm-alice-key.pem", NULL) == 0 &&
              sh("openssl verify -CAfile %s -purpose sslclient ncm-alice.pem >/dev/null 2>&1",
                 root) == 0,
          "nc email/URI: alice@example.test issued and verifies");
    check(run("issue", "--ca-dir", dir, "--client", "spiffe://example.test/w", "--cert-file",
              "ncm-w.pem", "--key-file", "ncm-w-key.pem", NULL) == 0 &&
              sh("openssl verify -CAfile %s -purpose sslclient ncm-w.pem >/dev/null 2>&1", root) ==
                  0,
          "nc email/URI: spiffe://example.test/w issued and verifies");
    static const char *const outside[] = {"bob@other.test", "bob@sub.example.test",
                                          "spiffe://other.test/w", "https://a.example.test/"};
    for (int k = 0; k < 4; k++)
        check(run("issue", "--ca-dir", dir, "--client", outside[k], "--cert-file", "ncm-x.pem",
                  "--key-file", "ncm-x-key.pem", NULL) == 2 &&
                  strstr(out, outside[k]) && strstr(out, "email:example.test") &&
                  !exists("ncm-x.pem"),
              "nc email/URI: %s refused (exit 2, constraints named, nothing written)", outside[k]);
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/moat-test-ca-XXXXXX");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    char ca[600], outdir[600];
    snprintf(ca, sizeof ca, "%s/ca", tmp);
    snprintf(outdir, sizeof outdir, "%s/out", tmp);
    mkdir(outdir, 0755);

    test_paths();
    setenv("MOAT_CA_HOME", ca, 1);
    if (chdir(outdir) != 0) {
        perror("chdir");
        return 1;
    }
    test_init(ca);
    test_issue(ca);
    test_write_failures(ca);
    test_record_crash(ca);
    test_broken_ca();
    test_constraints();
    test_ip_only_cn();
    test_client_names();
    test_client_constraints();
    setenv("MOAT_CA_HOME", ca, 1);
    test_revoke();
    test_ca_errors();
    setenv("MOAT_CA_HOME", ca, 1);
    test_trust();
    test_localhost();
    test_localhost_race();
    test_x509gen();
    test_ocsp_staple_age();

    if (chdir("/") == 0 && !failures)
        sh("rm -rf %s", tmp);
    else
        printf("# files kept in %s\n", tmp);
    printf("%s: %d failure%s\n", failures ? "FAILED" : "PASSED", failures,
           failures == 1 ? "" : "s");
    return failures ? 1 : 0;
}
