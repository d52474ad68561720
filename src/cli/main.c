/* The `moat` command: dispatches `moat serve|get|ca|version|help` to the
 * module that implements each. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "client/client.h"
#include "core/exit.h"

#define MOAT_VERSION "0.1"

static const char help[] =
    "moat " MOAT_VERSION ": HTTPS from the handshake up\n"
    "\n"
    "usage: moat COMMAND [ARGS...]\n"
    "\n"
    "commands:\n"
    "  serve [DIR] [--listen [ADDR:]PORT] [--cert FILE --key FILE]... [options]\n"
    "        serve the files of DIR (default: the current directory) over HTTPS at\n"
    "        https://localhost:8443; without --cert, a localhost certificate from\n"
    "        the local CA; --proxy URL puts HTTPS in front of an application\n"
    "        (moat serve --help lists every option)\n"
    "  get URL [-o FILE] [-i|-I] [-L] [-v] [--explain] [--cacert FILE] [options]\n"
    "        fetch an https:// URL as curl does, judging its certificate as a\n"
    "        browser does; --explain narrates the handshake (moat get --help)\n"
    "  ca init|issue|revoke|crl|list|trust|untrust|path ...\n"
    "        the local certificate authority (moat ca help)\n"
    "  cert obtain|renew|revoke ...\n"
    "        certificates from an ACME CA such as Let's Encrypt (moat cert help)\n"
    "  version\n"
    "        print the version, the libcrypto in use and whose ML-KEM-768 it uses\n"
    "  help\n"
    "        this text\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(help, stderr);
        return MOAT_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0) return cli_serve_main(argc - 1, argv + 1);
    if (strcmp(cmd, "get") == 0) return cli_get_main(argc - 1, argv + 1);
    if (strcmp(cmd, "ca") == 0) return cli_ca_main(argc - 1, argv + 1);
    if (strcmp(cmd, "cert") == 0) return cli_cert_main(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        const char *libcrypto, *mlkem;
        get_crypto_versions(&libcrypto, &mlkem);
        printf("moat %s\nlibcrypto: %s\nML-KEM-768: %s\n", MOAT_VERSION, libcrypto, mlkem);
        return MOAT_EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        fputs(help, stdout);
        return MOAT_EXIT_OK;
    }
    fprintf(stderr, "moat: unknown command '%s' (try: moat help)\n", cmd);
    return MOAT_EXIT_USAGE;
}
